"""Builders for the rows the web app's reads need that tests/support does not make."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import orjson

from tests.support.builders import T0
from variance.appdb.models import DailyActivityRow, StreamItemRow


def stream_item(
    org_id: str,
    stream_id: str,
    message_id: str,
    *,
    at: datetime | timedelta = timedelta(0),
    kind: str = "Action",
    name: str | None = "Invited User",
    contact_id: str | None = "u1",
    account_id: str | None = "acme",
    properties: dict | None = None,
    connection_name: str | None = "web",
) -> StreamItemRow:
    """An item as the pipeline writes it; ``at`` is an instant or an offset from T0."""
    return StreamItemRow(
        org_id=org_id,
        stream_id=stream_id,
        message_id=message_id,
        event_time=T0 + at if isinstance(at, timedelta) else at,
        kind=kind,
        name=name,
        contact_id=contact_id,
        account_id=account_id,
        connection_name=connection_name,
        properties=orjson.dumps(properties or {}).decode(),
    )


def daily(org_id: str, entity_type: str, entity_id: str, day: date, kind="Action", name="Invited User", count=1):
    return DailyActivityRow(
        org_id=org_id, entity_type=entity_type, entity_id=entity_id, day=day, kind=kind, name=name, count=count
    )
