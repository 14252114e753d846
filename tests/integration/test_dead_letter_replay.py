"""A dead letter replayed once its cause is fixed lands in the warehouse once, and a second
replay changes nothing: the real emulator, the real pipeline (two releases of it) and the
``variance dead-letters`` command.

The cause is the commonest one a replay is for: a pipeline release whose parser rejects
a valid message. The first pipeline runs with that defect (a ``sitecustomize`` on its
``PYTHONPATH`` makes its parse stage refuse "Exported Report" events); the fix is the next
release, started without it. The messages are published onto the topic exactly as the API
publishes them."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import duckdb
import pytest

from tests.support.waiting import wait_for
from variance.clients.pubsub import publisher_client
from variance.core import bus
from variance.core.segment import normalize_call
from variance.core.settings import Settings
from variance.core.vocabulary import WarehouseTable
from variance.samples.workspace import Workspace
from variance.stack.local import LocalStack
from variance.stack.processes import run_cli
from variance.warehouse.local import LakeReader

pytestmark = pytest.mark.slow
EVENTS = WarehouseTable.events.value
DEAD_LETTERS = WarehouseTable.dead_letters.value

DEFECT = '''
"""The defective release: its parse stage refuses every "Exported Report" event."""
import variance.core.events as events

_parse = events.parse_bus_message


def parse_bus_message(data, attributes):
    if b'"Exported Report"' in data:
        raise events.ParseError("properties.format: is required (the defect of this release)")
    return _parse(data, attributes)


events.parse_bus_message = parse_bus_message
'''


def published(stack: LocalStack, source: bus.Source, message_id: str, event: str) -> None:
    call = {"type": "track", "userId": "u1", "event": event, "messageId": message_id}
    normalized = normalize_call(call, received_at=datetime.now(timezone.utc))
    message = bus.event_message(normalized, source)
    settings = Settings(**stack.env)
    publisher_client(settings).publish(settings.topic_path, message.data, **message.attributes).result(timeout=30)


def stored(lake: LakeReader, message_id: str) -> list[dict]:
    return lake.current(EVENTS, "message_id = $id", {"id": message_id})


def rows_written(stack: LocalStack, message_id: str) -> int:
    """Every events row ever written for the message, before the newest-per-key view."""
    files = sorted(str(p) for p in (stack.lake_dir / EVENTS).glob("*.parquet"))
    with duckdb.connect() as con:
        query = "select count(*) from read_parquet($files) where message_id = $id"
        return con.execute(query, {"files": files, "id": message_id}).fetchone()[0]


def dead_letters(stack: LocalStack, *args: str) -> list[dict]:
    return json.loads(run_cli(["dead-letters", "list", "--json", *args], stack.env).stdout)


def replay(stack: LocalStack, *args: str) -> dict:
    return json.loads(run_cli(["dead-letters", "replay", *args], stack.env).stdout)


def test_a_dead_letter_replayed_after_the_fix_lands_once_and_a_second_replay_changes_nothing(emulator, tmp_path):
    defect = tmp_path / "defective-release"
    defect.mkdir()
    (defect / "sitecustomize.py").write_text(DEFECT)
    with LocalStack(tmp_path, emulator=emulator) as stack:
        workspace = Workspace.create(stack.env, "Acme")
        connection = workspace.add_connection("web", mapping="group")
        source = bus.Source(workspace.org_id, connection["id"], "web")
        lake = LakeReader(stack.lake_dir)

        stack.env["PYTHONPATH"] = str(defect)
        defective = stack.start_pipeline()
        del stack.env["PYTHONPATH"]
        published(stack, source, "m-invite", "Invited User")
        published(stack, source, "m-report", "Exported Report")
        defective.wait_until_acked(2)
        [letter] = wait_for(lambda: lake.current(DEAD_LETTERS), what="the dead letter")
        assert (letter["stage"], letter["message_id"]) == ("parse", "m-report")
        assert letter["reason"] == "properties.format: is required (the defect of this release)"
        assert [e["message_id"] for e in lake.current(EVENTS)] == ["m-invite"]
        defective.stop()

        fixed = stack.start_pipeline()  # the next release: the cause is fixed
        [listed] = dead_letters(stack, "--stage", "parse", "--since", "1h", "--org", workspace.org_id)
        assert (listed["dead_letter_id"], listed["replayed_at"]) == (letter["dead_letter_id"], None)

        first = replay(stack, "--stage", "parse", "--since", "1h")
        assert [d["message_id"] for d in first["replayed"]] == ["m-report"]
        fixed.wait_until_acked(1)
        [event] = wait_for(lambda: stored(lake, "m-report"), what="the replayed event in the warehouse")
        assert (event["org_id"], event["name"], event["connection_id"]) == (
            workspace.org_id,
            "Exported Report",
            connection["id"],
        )

        # Again (--force: a second replay is otherwise skipped as done): published, and the
        # pipeline de-duplicates it like any redelivery.
        second = replay(stack, "--force", "--id", letter["dead_letter_id"])
        assert [d["message_id"] for d in second["replayed"]] == ["m-report"]
        state = fixed.wait_until_acked(2)
        assert state.counts.get(EVENTS) == 1  # the fixed pipeline wrote one events row in all
        assert len(stored(lake, "m-report")) == 1
        assert rows_written(stack, "m-report") == 1
        assert sorted(e["message_id"] for e in lake.current(EVENTS)) == ["m-invite", "m-report"]

        [after] = dead_letters(stack, "--stage", "parse")
        assert after["replayed_at"] is not None and after["failed_since_replay"] is False
        assert after["recorded_at"] == listed["recorded_at"]  # it did not fail again
