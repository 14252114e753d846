"""Property-based fuzzing (hypothesis) of what the outside world can send: the web app's
forms (every POST route of the web app, found from the application itself, with
generated fields, missing ones, wrong CSRF tokens and unknown ids) and the ingestion API
with bodies beyond its schema (any JSON, any bytes, any content type). Nothing answers a
5xx: Pub/Sub is up here, so not even the documented 503. The management and ingestion
operations within their OpenAPI schemas are fuzzed by ``tests/api/test_openapi_properties.py``
(schemathesis, the same no-5xx check and the documented responses)."""

from __future__ import annotations

import base64
import json
from collections import Counter

from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import api  # noqa: F401 - the in-process API harness, as a fixture here
from tests.web.conftest import web  # noqa: F401 - the signed-in web app harness
from variance.web.sessions import CSRF_FIELD

EXAMPLES = settings(
    max_examples=12, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
# Values the forms know (so generated posts get past the first check now and then), odd
# text, and text longer than any field allows.
KNOWN = st.sampled_from(
    [
        *("", "group", "identify_traits", "email_domain", "account", "contact", "admin", "member", "all", "any"),
        *("team", "personal", "3", "-1", "1e309", "30d", "0d", "track:Invited User", "page:", "identify", "eq"),
    ]
)
TEXT = st.one_of(KNOWN, st.text(max_size=40), st.text(min_size=2100, max_size=2200))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def _dumps(value: object) -> bytes:
    """JSON as a sender might write it: big integers, NaN and Infinity included."""
    return json.dumps(value).encode()


# Signing out or demoting the only admin would end the run's session: not what is fuzzed.
SKIPPED = {"/sign-out"}


def _form_routes() -> list[APIRoute]:
    """Every POST route of the web app's routers (mounted at ``/`` without a prefix)."""
    from variance.web import admin_pages, auth_pages, catalog_pages, entity_pages, stream_pages

    modules = (auth_pages, stream_pages, entity_pages, catalog_pages, admin_pages)
    return [
        r
        for module in modules
        for r in module.router.routes
        if isinstance(r, APIRoute) and "POST" in r.methods and r.path not in SKIPPED
    ]


def test_no_web_form_answers_5xx_to_generated_fields(web, figures):  # noqa: F811
    client, csrf = web.signed_in()
    other = web.new_user("Mia")
    stream = client.post("/streams", data={CSRF_FIELD: csrf, "name": "Fuzzed", "visibility": "team"})
    assert stream.status_code < 400, stream.text
    stream_id = stream.headers["location"].rstrip("/").split("/")[-1]
    ids = st.sampled_from([other, stream_id, "usr_nope", "stm_nope", "x" * 300, "%00", " "])
    routes = _form_routes()
    assert len(routes) >= 15, [r.path for r in routes]
    statuses: Counter[int] = Counter()

    def fuzz(route: APIRoute) -> None:
        fields = {p.alias: p for p in route.dependant.body_params}
        path_params = [p.name for p in route.dependant.path_params]
        field_values = {
            name: st.lists(TEXT, max_size=3) if "list" in str(p.field_info.annotation) else TEXT
            for name, p in fields.items()
        }

        @EXAMPLES
        @given(
            form=st.fixed_dictionaries({}, optional=field_values),
            path=st.fixed_dictionaries(dict.fromkeys(path_params, ids)),
            token=st.sampled_from([csrf, csrf, csrf, "", "forged"]),
        )
        def post(form, path, token):
            url = route.path.format(**path)
            response = client.post(url, data={**form, CSRF_FIELD: token})
            statuses[response.status_code] += 1
            assert response.status_code < 500, f"POST {url} {form!r}: {response.status_code} {response.text[:300]}"

        post()

    for route in routes:
        fuzz(route)
        client.cookies.set("variance_form", "fuzz")  # the sign-in forms' own token, for later routes

    figures(routes=len(routes), requests=sum(statuses.values()), statuses=dict(sorted(statuses.items())))
    # most got past the session and CSRF checks (a 400 is the form shown again with its errors)
    assert sum(n for s, n in statuses.items() if s not in (401, 403)) > sum(statuses.values()) / 2


def test_no_ingestion_call_beyond_the_schema_answers_5xx(api, figures):  # noqa: F811
    secret = api.create_connection(name="fuzz")["secret"]
    auth = {"Authorization": "Basic " + base64.b64encode(f"{secret}:".encode()).decode()}
    statuses: Counter[int] = Counter()
    paths = st.sampled_from(
        ["/v1/batch", "/v1/track", "/v1/track", "/v1/identify", "/v1/group", "/v1/page", "/v1/alias"]
    )
    call = st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["track", "identify", "group", "page", "screen", "alias", "nope"]) | JSON,
            "userId": JSON,
            "anonymousId": JSON,
            "event": JSON,
            "messageId": JSON,
            "timestamp": st.sampled_from(["2026-01-05T10:00:00Z", "yesterday", "9999-99-99"]) | JSON,
            "properties": JSON,
            "traits": JSON,
            "context": JSON,
        },
    )
    # A track call that is valid but for what hypothesis adds to it: some get through.
    track = st.fixed_dictionaries(
        {
            "type": st.just("track"),
            "userId": st.text(min_size=1, max_size=20),
            "event": st.text(min_size=1, max_size=20),
        },
        optional={"properties": JSON, "context": JSON, "timestamp": st.sampled_from(["2026-01-05T10:00:00Z", "x"])},
    )
    body = st.one_of(
        track.map(_dumps),
        st.fixed_dictionaries({"batch": st.lists(track | call, min_size=1, max_size=4)}).map(_dumps),
        call.map(_dumps),
        st.fixed_dictionaries({"batch": st.lists(call | JSON, max_size=4)}).map(_dumps),
        JSON.map(_dumps),
        st.binary(max_size=200),
    )
    content_type = st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""])

    @settings(max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(path=paths, body=body, content_type=content_type, gzip_header=st.sampled_from([False, False, False, True]))
    def post(path, body, content_type, gzip_header):
        headers = {**auth, "Content-Type": content_type}
        if gzip_header:
            headers["Content-Encoding"] = "gzip"  # and not gzip at all
        response = api.client.post(path, content=body, headers=headers)
        statuses[response.status_code] += 1
        assert response.status_code < 500, f"POST {path} {body[:200]!r}: {response.status_code} {response.text[:300]}"

    post()
    figures(requests=sum(statuses.values()), statuses=dict(sorted(statuses.items())))
    assert statuses[200] > 0 and sum(n for s, n in statuses.items() if 400 <= s < 500) > 0
