"""Property-based run over the OpenAPI document (schemathesis): authenticated
requests generated from every operation's schema find no 5xx, and every response
matches the documented status codes, content types and schemas."""

from __future__ import annotations

import base64

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from schemathesis.specs.openapi import checks as openapi_checks

from variance.api.schemas.ingest import CALL_MODELS

_INGEST_PREFIXES = (*(f"/v1/{t}" for t in CALL_MODELS), "/v1/batch", "/v1/webhooks/")
_CHECKS = [
    checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]


def test_every_operation_honours_its_contract(api):
    secret = api.create_connection(name="schemathesis")["secret"]
    write_key = "Basic " + base64.b64encode(f"{secret}:".encode()).decode()
    api.client.post("/v1/streams", json={"name": "Team", "visibility": "team"}, headers=api.admin)
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    calls: list[str] = []

    def check(operation) -> None:
        ingest = operation.path.startswith(_INGEST_PREFIXES)
        headers = {"Authorization": write_key if ingest else f"Bearer {api.admin_token}"}

        @given(case=operation.as_strategy())
        @settings(
            max_examples=20, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None
        )
        def honours_contract(case):
            calls.append(operation.path)
            case.call_and_validate(headers=headers, checks=_CHECKS)

        honours_contract()

    for operation in operations:
        try:
            check(operation)
        except Exception as exc:
            raise AssertionError(f"{operation.method.upper()} {operation.path}: {exc}") from exc
    # every operation was exercised, most of them many times
    assert {op.path for op in operations} == set(calls)
    assert len(calls) > 10 * len(operations)
