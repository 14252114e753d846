"""The web app's pages in process: sign-in, every page renders inside the user's
organisation, admin pages are refused to members, forms check CSRF and show the API's
field and reason, and event-supplied text is escaped."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.support import builders
from tests.web.builders import stream_item
from tests.web.conftest import PASSWORD, form_token_of
from variance.workspace import streams

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_ATTR = '"><img src=x onerror=alert(1)>'


def test_invite_link_to_password_to_signed_in_stream(web):
    user_id = web.new_user("Mia")
    client = web.client()
    form = client.get(web.invite_link(user_id))
    assert form.status_code == 200 and "Welcome, Mia" in form.text
    path = web.invite_link(user_id)  # a newer link: the first one stops working
    assert client.get(form.request.url.path).status_code == 401
    form = client.get(path)
    mismatch = client.post(
        path, data={"password": PASSWORD, "confirm": "other", "form_token": form_token_of(form.text)}
    )
    assert mismatch.status_code == 400 and "the two passwords differ" in mismatch.text
    done = client.post(path, data={"password": PASSWORD, "confirm": PASSWORD, "form_token": form_token_of(form.text)})
    assert done.status_code == 303 and done.headers["location"] == "/"
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie  # served over http
    home = client.get("/")
    assert home.status_code == 303 and home.headers["location"].startswith("/streams/str_")
    page = client.get(home.headers["location"])
    assert page.status_code == 200 and "<h1>Mia&#39;s Stream</h1>" in page.text
    assert "No events yet" in page.text


def test_sign_in_form_refuses_a_wrong_password_and_a_missing_form_token(web):
    user_id = web.new_user("Mia")
    client = web.client()
    invite = client.get(web.invite_link(user_id))
    client.post(
        invite.request.url.path,
        data={"password": PASSWORD, "confirm": PASSWORD, "form_token": form_token_of(invite.text)},
    )
    client.cookies.clear()
    form = client.get("/sign-in")
    email = f"mia.{web._n}@example.com"
    token = form_token_of(form.text)
    assert client.post("/sign-in", data={"email": email, "password": PASSWORD}).status_code == 403
    wrong = client.post("/sign-in", data={"email": email, "password": "nope nope nope", "form_token": token})
    assert wrong.status_code == 401 and "wrong email or password" in wrong.text
    ok = client.post("/sign-in", data={"email": email, "password": PASSWORD, "form_token": token, "next": "//evil"})
    assert ok.status_code == 303 and ok.headers["location"] == "/"


def test_pages_need_a_session_and_forms_need_the_csrf_token(web):
    anonymous = web.client()
    for path in ("/", "/streams", "/accounts", "/users"):
        answer = anonymous.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/sign-in?next=")
    htmx = anonymous.get("/streams", headers={"HX-Request": "true"})
    assert htmx.status_code == 204 and htmx.headers["HX-Redirect"].startswith("/sign-in")
    client, csrf = web.signed_in()
    assert client.post("/streams", data={"name": "No token"}).status_code == 403
    made = client.post("/streams", data={"name": "Trials", "csrf_token": csrf})
    assert made.status_code == 303
    assert client.post("/streams", data={"name": "Via header"}, headers={"X-CSRF-Token": csrf}).status_code == 303


ADMIN_PAGES = ["/integrations", "/users"]


def test_members_cannot_reach_admin_pages_or_actions(web):
    client, csrf = web.signed_in(web.new_user("Mia"))
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == 403
    assert client.post("/integrations", data={"name": "x", "mapping": "group", "csrf_token": csrf}).status_code == 403
    assert client.post("/users", data={"name": "x", "email": "x@y.z", "csrf_token": csrf}).status_code == 403
    milestone = client.post(
        "/milestones", data={"name": "PQL", "event_type": "Page", "threshold": "1", "csrf_token": csrf}
    )
    assert milestone.status_code == 403
    nav = client.get("/streams").text
    assert 'href="/integrations"' not in nav and 'href="/users"' not in nav


def test_another_organisations_ids_answer_404(web):
    other_org, other_admin = web.new_org()
    web.insert(builders.account(other_org, "secret-co", name="Secret Co"))
    with web.sessions() as session:
        their_stream = streams.default_stream_id(session, other_admin)
    client, _ = web.signed_in()
    assert client.get(f"/streams/{their_stream}").status_code == 404
    assert client.get(f"/streams/{their_stream}/live").status_code == 404
    assert client.get("/accounts/secret-co").status_code == 404
    assert "Secret Co" not in client.get("/accounts").text


def test_forms_show_the_field_and_reason_of_the_rule(web):
    client, csrf = web.signed_in()
    bad = client.post("/integrations", data={"name": "web", "mapping": "identify_traits", "csrf_token": csrf})
    assert bad.status_code == 400
    assert re.search(r'class="error" role="alert"><strong>account_id_trait</strong>', bad.text), bad.text
    bad = client.post("/milestones", data={"name": "PQL", "event_type": "Page", "threshold": "0", "csrf_token": csrf})
    assert bad.status_code == 400 and "<strong>threshold</strong>" in bad.text


def test_integrations_show_the_secret_once(web):
    client, csrf = web.signed_in()
    added = client.post("/integrations", data={"name": "web", "mapping": "group", "csrf_token": csrf})
    assert added.status_code == 200
    secret = re.search(r'id="secret">(vsec_[^<]+)<', added.text).group(1)
    assert "Copy secret" in added.text and "/v1/webhooks/con_" in added.text
    assert secret not in client.get("/integrations").text


def test_follow_unfollow_and_add_to_new_stream(web):
    web.insert(builders.account(web.org_id, "acme", name="Acme Inc", domain="acme.com"))
    client, csrf = web.signed_in()
    page = client.get("/accounts/acme")
    assert page.status_code == 200 and ">Follow</button>" in page.text
    followed = client.post(
        "/follow",
        data={"entity_type": "account", "entity_id": "acme", "csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    assert (
        followed.status_code == 200
        and "Admin&#39;s Stream" in followed.text
        and ">Follow</button>" not in followed.text
    )
    empty = client.post(
        "/follow",
        data={
            "entity_type": "account",
            "entity_id": "acme",
            "action": "new",
            "new_stream_name": "",
            "csrf_token": csrf,
        },
        headers={"HX-Request": "true"},
    )
    assert empty.status_code == 400 and "<strong>new_stream.name</strong>" in empty.text
    new = client.post(
        "/follow",
        data={
            "entity_type": "account",
            "entity_id": "acme",
            "action": "new",
            "new_stream_name": "Trials",
            "csrf_token": csrf,
        },
    )
    assert new.status_code == 303
    page = client.get("/accounts/acme").text
    assert page.count('aria-label="Unfollow from') == 2
    stream_id = re.search(r'name="stream_id" value="(str_[^"]+)"', page).group(1)
    client.post(
        "/unfollow", data={"entity_type": "account", "entity_id": "acme", "stream_id": stream_id, "csrf_token": csrf}
    )
    assert client.get("/accounts/acme").text.count('aria-label="Unfollow from') == 1


def test_live_feed_returns_only_new_items_and_a_new_poller(web):
    client, _ = web.signed_in()
    with web.sessions() as session:
        stream_id = streams.default_stream_id(session, web.admin_id)
    web.insert(stream_item(web.org_id, stream_id, "first", at=timedelta(0)))
    page = client.get(f"/streams/{stream_id}").text
    since = re.search(r"/live\?since=([^&]+)&", page).group(1)
    web.insert(stream_item(web.org_id, stream_id, "second", at=timedelta(minutes=1), name="Signed Up"))
    live = client.get(f"/streams/{stream_id}/live?since={since}")
    assert live.status_code == 200
    assert "Action: Signed Up" in live.text and "Action: Invited User" not in live.text
    assert 'hx-trigger="every 2s"' in live.text and 'hx-swap-oob="delete"' in live.text


@pytest.mark.parametrize("path", ["/accounts/evil", "/contacts/u-evil", "/streams/{stream}", "/accounts", "/contacts"])
def test_event_supplied_text_is_escaped(web, path):
    with web.sessions() as session:
        stream_id = streams.default_stream_id(session, web.admin_id)
    web.insert(
        builders.account(web.org_id, "evil", name=XSS_SCRIPT, domain="evil.com", traits={"plan": XSS_ATTR}),
        builders.contact(web.org_id, "u-evil", name=XSS_ATTR, email="e@evil.com", account_id="evil", traits={"x": XSS_SCRIPT}),
        stream_item(
            web.org_id, stream_id, "m-evil", name=XSS_SCRIPT, contact_id="u-evil", account_id="evil",
            properties={"title": XSS_ATTR, "body": XSS_SCRIPT}, connection_name=XSS_ATTR,
        ),
    )  # fmt: skip
    client, _ = web.signed_in()
    html = client.get(path.format(stream=stream_id)).text
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html or "&#34;&gt;&lt;img" in html


def test_views_builder_creates_a_view_with_a_tag_and_lists_its_members(web):
    web.insert(
        builders.account(web.org_id, "a1", name="Alpha", traits={"plan": "pro", "seats": 50}),
        builders.account(web.org_id, "a2", name="Beta", traits={"plan": "pro", "seats": 2}),
    )
    client, csrf = web.signed_in()
    tag = client.post(
        "/tags",
        data={"name": "Big", "entity": "account", "csrf_token": csrf, "node": ["r", "r.0", "r.1"], "r.match": "all",
              "r.0.type": "trait", "r.0.path": "seats", "r.0.op": "gte", "r.0.value": "10", "r.0.ref": "",
              "r.1.type": "", "r.1.path": "", "r.1.op": "equals", "r.1.value": "", "r.1.ref": ""},
    )  # fmt: skip
    assert tag.status_code == 303, tag.text
    tag_id = re.search(r'<option value="(tag_[^"]+)">Tag: Big', client.get("/views").text).group(1)
    view = client.post(
        "/views",
        data={"name": "Big pro accounts", "entity": "account", "csrf_token": csrf, "node": ["r", "r.0", "r.1"],
              "r.match": "all", "r.0.type": "trait", "r.0.path": "plan", "r.0.op": "equals", "r.0.value": "pro",
              "r.1.type": "tag", "r.1.op": "has", "r.1.ref": tag_id},
    )  # fmt: skip
    assert view.status_code == 303, view.text
    page = client.get(view.headers["location"]).text
    assert "1 account match now" in page and ">Alpha</a>" in page and "Beta" not in page
    assert 'data-testid="sidebar-views"' in page and ">Big pro accounts</a></li>" in page
    empty = client.post("/views", data={"name": "Nothing", "entity": "account", "r.match": "all", "csrf_token": csrf})
    assert empty.status_code == 400 and "<strong>definition.conditions</strong>" in empty.text


@pytest.mark.parametrize(
    "path",
    ["/streams", "/accounts", "/contacts", "/event-types", "/milestones", "/tags", "/views", "/integrations", "/users"],
)
def test_every_page_renders_with_its_empty_state(web, path):
    client, _ = web.signed_in()
    answer = client.get(path)
    assert answer.status_code == 200, answer.text
    assert '<html lang="en">' in answer.text


def test_search_as_you_type_answers_with_the_results_block_alone(web):
    web.insert(
        builders.account(web.org_id, "acme", name="Acme Inc"),
        builders.account(web.org_id, "globex", name="Globex"),
    )
    client, _ = web.signed_in()
    partial = client.get("/accounts", params={"q": "acm"}, headers={"HX-Request": "true", "HX-Target": "results"})
    assert partial.status_code == 200
    assert ">Acme Inc</a>" in partial.text and "Globex" not in partial.text and "<html" not in partial.text


def test_event_types_follow_into_a_new_or_an_existing_event_type_stream(web):
    web.insert(
        builders.event_type(web.org_id, "Action", "Invited User", count=4), builders.event_type(web.org_id, "Page")
    )
    client, csrf = web.signed_in()
    page = client.get("/event-types").text
    assert "Action: Invited User" in page and "Follow into it" not in page  # no Event Type stream yet
    made = client.post(
        "/streams",
        data={"name": "Invites", "type": "event_type", "event_type": "Action:Invited User", "csrf_token": csrf},
    )
    assert made.status_code == 303
    stream_id = made.headers["location"].rsplit("/", 1)[1]
    assert "Follow into it" in client.get("/event-types").text
    added = client.post("/event-types/follow", data={"stream_id": stream_id, "event_type": "Page", "csrf_token": csrf})
    assert added.status_code == 303
    shown = client.get(f"/streams/{stream_id}").text
    assert '<span class="pill">Action: Invited User</span>' in shown and '<span class="pill">Page</span>' in shown


def test_sign_out_ends_the_session_on_the_server(web):
    client, csrf = web.signed_in()
    cookie = client.cookies["variance_session"]
    assert client.post("/sign-out").status_code == 403  # no CSRF token: another site cannot sign you out
    out = client.post("/sign-out", data={"csrf_token": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/sign-in"
    assert 'variance_session=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
    client.cookies.clear()
    client.cookies.set("variance_session", cookie)  # the old cookie, replayed, signs nobody in
    assert client.get("/streams").status_code == 303


def test_favorites_sit_at_the_top_of_the_left_column_and_can_be_reordered(web):
    client, csrf = web.signed_in()
    first = client.post("/streams", data={"name": "Trials", "csrf_token": csrf}).headers["location"].rsplit("/", 1)[1]
    second = client.post("/streams", data={"name": "Won", "csrf_token": csrf}).headers["location"].rsplit("/", 1)[1]
    for stream_id in (first, second):
        assert (
            client.post(
                "/favorites", data={"target_type": "stream", "target_id": stream_id, "csrf_token": csrf}
            ).status_code
            == 303
        )

    def left_column():
        html = client.get("/streams").text
        block = html.split('data-testid="favorite-list"', 1)[1].split("</ul>", 1)[0]
        return re.findall(r'<a href="/streams/str_[^"]+">([^<]+)</a>', block)

    assert left_column() == ["Trials", "Won"]
    moved = client.post(
        "/favorites/move",
        data={"target_type": "stream", "target_id": second, "position": "0", "csrf_token": csrf, "back": "/streams"},
    )
    assert moved.status_code == 303
    assert left_column() == ["Won", "Trials"]
    # and the Streams page lists favorites first, in that order
    names = re.findall(r'<td><a href="/streams/str_[^"]+">([^<]+)</a>', client.get("/streams").text)
    assert names[:2] == ["Won", "Trials"]
