"""Rewriting the lake without deleted contacts (warehouse/local.py): exactly their rows
go, every version of each of their keys, file names and order kept; and a reader asked to
leave them out reads the lake as the rewrite will leave it."""

from __future__ import annotations

import pyarrow.parquet as pq

from tests.support import deleted_contact as dc
from variance.core.contact_deletion import DeletedContact
from variance.core.engine.batch import current_milestone_changes
from variance.core.vocabulary import WarehouseTable
from variance.core.warehouse import TABLES
from variance.warehouse.local import LakeReader, LakeWriter, erase_deleted_contacts, lake_files

W = WarehouseTable


def keys(reader: LakeReader) -> dict[str, list]:
    """Each table's current rows by what names them (message id, or the contact's ids)."""
    out: dict[str, list] = {}
    for name in TABLES:
        rows = reader.current(name)
        if name == W.milestone_changes:
            out[name] = sorted((r["milestone_name"], r["entity_id"], r["kind"]) for r in rows)
        elif name == W.stream_matches:
            out[name] = sorted(
                (r["message_id"] if r["kind"] != "Milestone" else "change", r["contact_id"]) for r in rows
            )
        elif name == W.identity_links:
            out[name] = sorted((r["anonymous_id"], r["user_id"]) for r in rows)
        else:
            out[name] = sorted(r["message_id"] for r in rows if r.get("message_id"))
    return out


REMAINING = {
    W.events: sorted(dc.U2_MESSAGES),
    W.contacts: ["i2"],
    W.accounts: ["g2"],
    W.contact_account_links: ["g2"],
    W.identity_links: [("laptop", "u2")],
    # the account's PQL change stays as written (the next rebuild retracts it); u1's Engaged goes
    W.milestone_changes: [("Engaged", "u2", "achieved"), ("PQL", "acme", "achieved")],
    W.stream_matches: sorted([(m, "u2") for m in dc.U2_MESSAGES] + [("change", None)]),
    W.dead_letters: [],
}


def test_the_rewrite_leaves_exactly_the_other_contacts_rows(tmp_path):
    scenario = dc.build(tmp_path)
    dc.write_lake(scenario)
    lake = scenario.settings.lake_dir
    # a second version of two of u1's keys, in a later file: a correction must not resurface
    newer = [
        (t, {**row, "recorded_at": row["recorded_at"] + 1})
        for t, row in scenario.rows
        if row.get("message_id") in ("t1", "i1")
    ]
    writer = LakeWriter(lake, compact_every_s=None)
    writer.append(newer)
    writer.close()
    before = {name: [p.name for p in lake_files(lake / name)] for name in TABLES}

    erased = erase_deleted_contacts(lake, [DeletedContact(scenario.org_id, "u1")])

    assert keys(LakeReader(lake)) == {name.value: rows for name, rows in REMAINING.items()}
    assert erased.rows_removed == {
        W.events: 7 + 2,  # its seven calls, and the newer versions of t1 and i1
        W.contacts: 1 + 1,
        W.accounts: 1,
        W.contact_account_links: 1,
        W.identity_links: 1 + 1,
        W.milestone_changes: 1,
        W.stream_matches: 7 + 2,  # its six matched calls and its Engaged change; t1 and i1 again
        W.dead_letters: 0,
    }
    assert erased.linked_ids == {(scenario.org_id, "u1"): ("visitor",)}
    after = {name: [p.name for p in lake_files(lake / name)] for name in TABLES}
    # names (the write order) kept; a file left with nothing of anyone else's is gone
    for name in TABLES:
        assert set(after[name]) <= set(before[name])
    assert len(after[W.events]) == 1 and after[W.events][0] == before[W.events][0]
    untouched = pq.read_table(lake_files(lake / W.events.value)[0])
    assert untouched.column("message_id").to_pylist() == [
        e.message_id
        for e in sorted(scenario.events, key=lambda e: (e.event_time, e.message_id))
        if e.message_id in dc.U2_MESSAGES
    ]

    again = erase_deleted_contacts(lake, [DeletedContact(scenario.org_id, "u1", ("visitor",))])
    assert sum(again.rows_removed.values()) == 0 and again.files_rewritten == 0


def test_another_organisation_with_the_same_ids_keeps_its_rows(tmp_path):
    scenario = dc.build(tmp_path)
    dc.write_lake(scenario)
    lake = scenario.settings.lake_dir
    erased = erase_deleted_contacts(lake, [DeletedContact("org_other", "u1", ("visitor",))])
    assert sum(erased.rows_removed.values()) == 0
    assert len(LakeReader(lake).current(W.events.value)) == 12


def test_a_reader_leaving_out_deleted_contacts_reads_what_the_rewrite_leaves(tmp_path):
    scenario = dc.build(tmp_path)
    dc.write_lake(scenario)
    lake = scenario.settings.lake_dir
    deleted = (DeletedContact(scenario.org_id, "u1"),)
    filtered = LakeReader(lake, deleted_contacts=deleted)
    seen = keys(filtered)
    assert seen == {name.value: rows for name, rows in REMAINING.items()}
    assert filtered.counts()[W.events] == 5
    _, rows = filtered.query("select count(*) from events where user_id = 'u1' or anonymous_id = 'visitor'")
    assert rows == [(0,)]
    assert len(LakeReader(lake).current(W.events.value)) == 12  # nothing was rewritten
    erase_deleted_contacts(lake, list(deleted))
    assert keys(LakeReader(lake)) == seen
    assert current_milestone_changes(
        [(W.milestone_changes.value, r) for r in LakeReader(lake).current(W.milestone_changes.value)]
    ) == current_milestone_changes(
        [(W.milestone_changes.value, r) for r in filtered.current(W.milestone_changes.value)]
    )
