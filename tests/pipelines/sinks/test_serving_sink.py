"""The serving sink: the rows the serving tables are built from, into the app database,
batched across bundles."""

from __future__ import annotations

import apache_beam as beam
from sqlalchemy import select

from tests.support.beam import batch_pipeline
from variance.appdb.models import ContactRow, DailyActivityRow
from variance.appdb.session import make_engine, session_factory
from variance.core.rows import ContactRecord, DailyActivityRecord, IdentityLinkRecord, dead_letter
from variance.core.vocabulary import Stage
from variance.pipelines.sinks import ServingBuffer, WriteServingTables, close_writers

T0 = 1_714_521_600_000_000


def rows():
    return [
        ContactRecord(
            org_id="org_a", contact_id="u1", message_id="i1", event_time=T0, name="Ann", recorded_at=T0
        ).as_row(),
        DailyActivityRecord(
            org_id="org_a", entity_type="contact", entity_id="u1", day="2024-05-01", kind="Action", name="Ran", count=2
        ).as_row(),
        # not served: skipped
        IdentityLinkRecord(
            org_id="org_a", anonymous_id="a1", user_id="u1", linked_at=T0, message_id="i1", recorded_at=T0
        ).as_row(),
        dead_letter("org_a", Stage.parse, "bad", "m9", b"{", T0).as_row(),
    ]


def test_served_rows_reach_the_serving_tables(settings):
    url = settings.resolved_database_url
    with batch_pipeline() as p:
        p | beam.Create(rows()) | beam.ParDo(WriteServingTables(url, synchronous=True))
    close_writers()
    with session_factory(make_engine(url))() as session:
        contacts = [(c.org_id, c.contact_id, c.name) for c in session.scalars(select(ContactRow))]
        daily = [(d.entity_id, d.kind, d.name, d.count) for d in session.scalars(select(DailyActivityRow))]
    assert contacts == [("org_a", "u1", "Ann")]
    assert daily == [("u1", "Action", "Ran", 2)]


def test_a_failed_batch_is_kept_and_applied_with_the_next(settings, monkeypatch):
    buffer = ServingBuffer(settings.resolved_database_url, every_s=3600)
    calls = []

    def fails_once(session, batch):
        calls.append(len(batch))
        if len(calls) == 1:
            raise RuntimeError("database went away")
        from variance.serving import apply_rows

        return apply_rows(session, batch)

    monkeypatch.setattr("variance.pipelines.sinks.serving.apply_rows", fails_once)
    served = [r for r in rows() if r[0] == ContactRecord.table_name]
    buffer.append(served)
    buffer.flush()  # fails: kept
    buffer.append(served)
    buffer.close()  # applies both
    assert calls == [1, 2]
    with session_factory(make_engine(settings.resolved_database_url))() as session:
        assert [c.contact_id for c in session.scalars(select(ContactRow))] == ["u1"]
