import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from schemathesis.specs.openapi import checks as openapi_checks

_CHECKS = [checks.not_a_server_error, openapi_checks.status_code_conformance,
           openapi_checks.content_type_conformance, openapi_checks.response_schema_conformance]


def test_fuzz_mine(api):
    api.client.post("/v1/streams", json={"name": "Team", "visibility": "team"}, headers=api.admin)
    tag = api.client.post("/v1/tags", json={"name": "T", "entity": "account", "definition": {"type": "group", "match": "all", "conditions": [{"type": "trait", "filter": {"path": "a", "op": "exists"}}]}}, headers=api.admin).json()
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    count = 0
    failures = []
    for result in schema.get_all_operations():
        op = result.ok()
        if not op.path.startswith(("/v1/tags", "/v1/views", "/v1/favorites")):
            continue

        @given(case=op.as_strategy())
        @settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
        def run(case):
            nonlocal count
            count += 1
            case.call_and_validate(headers={"Authorization": f"Bearer {api.admin_token}"}, checks=_CHECKS)

        try:
            run()
        except Exception as exc:
            failures.append((op.method, op.path, str(exc)[:1500]))
    print("cases", count)
    for f in failures:
        print(f)
    assert not failures
