"""``variance dead-letters``: the listing filters a real lake exactly and prints a table and
a count; bad flags are one-line errors naming the flag and its rule; a replay publishes the
message as received onto the events topic (the emulator), records it, and says what it
skipped and why; the same selection reads BigQuery (the suite's fake of its REST API)."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from tests.warehouse.test_bigquery import client_for
from tests.warehouse.test_bigquery import fake as fake_bigquery  # noqa: F401 (a fixture: the fake BigQuery REST API)
from variance.cli.main import main
from variance.clients.pubsub import ensure_subscription, ensure_topic, publisher_client, subscriber_client
from variance.core import bus
from variance.core.rows import dead_letter
from variance.core.segment import normalize_call
from variance.core.settings import Settings, WarehouseTarget
from variance.core.timeutil import format_timestamp, now_micros
from variance.core.vocabulary import Stage, WarehouseTable
from variance.pipelines import dead_letters as rules
from variance.pipelines.dead_letters import REPLAY_LOG
from variance.warehouse.bigquery import BigQueryReader, json_schema
from variance.warehouse.local import LakeWriter

MINUTE = 60_000_000
NOW = now_micros()


def bus_message(org_id: str, message_id: str) -> bus.BusMessage:
    """A message exactly as the API publishes it."""
    call = {"type": "track", "userId": "u1", "event": "Exported Report", "messageId": message_id}
    normalized = normalize_call(call, received_at=datetime(2026, 12, 1, 10, tzinfo=timezone.utc))
    return bus.event_message(normalized, bus.Source(org_id, "con_web", "web"))


def letter(
    org_id: str | None, stage: Stage, message_id: str | None, minutes_ago: int, *, reason: str = "", now: int = NOW
) -> dict:
    """A dead letter as the stage that could not use the message records it."""
    recorded_at = now - minutes_ago * MINUTE
    if stage in (Stage.parse, Stage.ingest) and org_id and message_id:
        message = bus_message(org_id, message_id)
        payload, attributes = message.data, dict(message.attributes)
    else:
        payload, attributes = {"text": "not a bus message"}, None
    return dead_letter(
        org_id, stage, reason or f"{stage.value} failed", message_id, payload, recorded_at, attributes
    ).as_dict()


# (name, org, stage, message id, minutes ago): newest first below
SEEDED = [
    ("backfill_line", "org_a", Stage.parse, None, 5),
    ("b_parse", "org_b", Stage.parse, "m-b1", 30),
    ("a_slack", "org_a", Stage.slack, "m-a2", 60),
    ("a_parse", "org_a", Stage.parse, "m-a1", 180),
    ("b_late", "org_b", Stage.milestones, "m-b0", 2 * 24 * 60),
]


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return {"VARIANCE_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def run_cli(monkeypatch, capsys):
    """``variance ARGS`` in this process (the command's own entry point, its error handling
    included), with ``env`` as the environment: a subprocess per call would spend seconds
    starting Python on a busy machine. Returns what ``subprocess.run`` would."""

    def run(args: list[str], env: dict[str, str], check: bool = True) -> SimpleNamespace:
        for name in ("PUBSUB_EMULATOR_HOST", "VARIANCE_EVENTS_TOPIC", "VARIANCE_EVENTS_SUBSCRIPTION"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(sys, "argv", ["variance", *args])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out = capsys.readouterr()
        if check:
            assert code == 0, out.err
        return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)

    return run


@pytest.fixture
def seeded(env) -> dict[str, dict]:
    rows = {name: letter(org, stage, message_id, ago) for name, org, stage, message_id, ago in SEEDED}
    table = WarehouseTable.dead_letters.value
    with LakeWriter(Settings(**env).lake_dir, compact_every_s=None) as writer:
        writer.append([(table, row) for row in rows.values()])
    return rows


def listed(run_cli, env, *args: str) -> list[str]:
    """The ids ``dead-letters list --json`` prints, in its order."""
    result = run_cli(["dead-letters", "list", "--json", *args], env)
    return [row["dead_letter_id"] for row in json.loads(result.stdout)]


def ids(seeded, *names: str) -> list[str]:
    return [seeded[name]["dead_letter_id"] for name in names]


def test_list_filters_by_stage_since_and_organisation_exactly(run_cli, env, seeded):
    assert listed(run_cli, env) == ids(seeded, "backfill_line", "b_parse", "a_slack", "a_parse", "b_late")
    assert listed(run_cli, env, "--stage", "parse") == ids(seeded, "backfill_line", "b_parse", "a_parse")
    assert listed(run_cli, env, "--since", "2h") == ids(seeded, "backfill_line", "b_parse", "a_slack")
    assert listed(run_cli, env, "--org", "org_b") == ids(seeded, "b_parse", "b_late")
    assert listed(run_cli, env, "--stage", "parse", "--since", "4h", "--org", "org_a") == ids(
        seeded, "backfill_line", "a_parse"
    )
    since = format_timestamp(NOW - 61 * MINUTE)  # an ISO time: a_slack (60 minutes ago) is after it
    assert listed(run_cli, env, "--since", since, "--stage", "slack") == ids(seeded, "a_slack")
    assert listed(run_cli, env, "--stage", "warehouse") == []


def test_the_json_listing_carries_the_message_as_received(run_cli, env, seeded):
    [row] = json.loads(run_cli(["dead-letters", "list", "--json", "--org", "org_b", "--stage", "parse"], env).stdout)
    message = bus_message("org_b", "m-b1")
    assert row["payload"].encode() == message.data
    assert row["attributes"] == dict(message.attributes)
    assert (row["stage"], row["message_id"], row["reason"], row["replayed_at"]) == (
        "parse",
        "m-b1",
        "parse failed",
        None,
    )


def test_the_table_shows_stage_time_org_message_and_reason_and_a_count(run_cli, env, seeded):
    result = run_cli(["dead-letters", "list", "--org", "org_b"], env)
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id", "stage", "recorded_at", "org", "message_id", "reason", "replayed"]
    assert [line.split()[:2] + line.split()[4:7] for line in lines[1:3]] == [
        [seeded["b_parse"]["dead_letter_id"], Stage.parse.value, "org_b", "m-b1", Stage.parse.value],
        [seeded["b_late"]["dead_letter_id"], Stage.milestones.value, "org_b", "m-b0", Stage.milestones.value],
    ]
    assert lines[1].split()[2] == time.strftime("%Y-%m-%d", time.gmtime((NOW - 30 * MINUTE) / 1e6))
    assert lines[3:] == ["2 dead letters"]

    limited = run_cli(["dead-letters", "list", "--limit", "2"], env).stdout.splitlines()
    assert [line.split()[0] for line in limited[1:3]] == ids(seeded, "backfill_line", "b_parse")
    assert limited[3:] == ["2 dead letters (the newest 2; more match: raise --limit or narrow the filters)"]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["list", "--stage", "render"], "--stage: must be ingest, parse, milestones, warehouse or slack, not 'render'"),
        (
            ["list", "--since", "yesterday"],
            "--since: must be a duration back from now such as 2h or 7d, or an ISO-8601 time such as "
            "2026-12-01T00:00:00Z, not 'yesterday'",
        ),
        (["list", "--limit", "0"], "--limit: must be a whole number from 1 to 10000, not '0'"),
        (["list", "--limit", "many"], "--limit: must be a whole number from 1 to 10000, not 'many'"),
        (["list", "--org", " "], "--org: must be an organisation id, not empty"),
        (
            ["replay", "--id", "m-b1"],
            "--id: must be a dead letter id as the listing prints it (32 hex digits), not 'm-b1'",
        ),
    ],
)
def test_bad_flags_are_one_line_errors_naming_the_flag_and_rule(run_cli, env, args, error):
    result = run_cli(["dead-letters", *args], env, check=False)
    assert (result.returncode, result.stderr, result.stdout) == (1, f"error: {error}\n", "")


def test_replaying_slack_dead_letters_points_to_the_sender(run_cli, env):
    result = run_cli(["dead-letters", "replay", "--stage", "slack"], env, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: --stage slack: not replayed here: Slack dead letters stay in the Slack outbox"
    )
    assert "`variance slack sender`" in result.stderr


# -- replay, against the emulator ----------------------------------------------------------------


@pytest.fixture
def topic_env(env, emulator, settings_for) -> dict[str, str]:
    """``env`` on the emulator, with the events topic and a subscription that stands in for the
    pipeline's."""
    settings = settings_for(PUBSUB_EMULATOR_HOST=emulator.emulator_host, VARIANCE_DATA_DIR=env["VARIANCE_DATA_DIR"])
    ensure_topic(publisher_client(settings), settings.topic_path)
    ensure_subscription(subscriber_client(settings), settings.subscription_path, settings.topic_path)
    return {
        **env,
        "PUBSUB_EMULATOR_HOST": emulator.emulator_host,
        "VARIANCE_EVENTS_TOPIC": settings.events_topic,
        "VARIANCE_EVENTS_SUBSCRIPTION": settings.events_subscription,
    }


def pull(env, expected: int, timeout_s: float = 5.0) -> list:
    """What reached the subscription: ``expected`` messages, or fewer after ``timeout_s``."""
    settings = Settings(**env)
    subscriber = subscriber_client(settings)
    got: list = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(got) <= expected:
        response = subscriber.pull(subscription=settings.subscription_path, max_messages=100, timeout=2)
        if response.received_messages:
            subscriber.acknowledge(
                subscription=settings.subscription_path, ack_ids=[m.ack_id for m in response.received_messages]
            )
            got.extend(m.message for m in response.received_messages)
        elif len(got) == expected:
            break
    return got


def replayed(run_cli, env, *args: str) -> dict:
    result = run_cli(["dead-letters", "replay", *args], env)
    return json.loads(result.stdout) | {"stderr": result.stderr}


def test_a_replay_publishes_the_message_as_received_records_it_and_skips_the_rest_saying_why(
    run_cli, topic_env, seeded
):
    env = topic_env
    dry = replayed(run_cli, env, "--dry-run", "--org", "org_b")
    assert [d["message_id"] for d in dry["replayed"]] == ["m-b1"]
    assert [d["message_id"] for d in dry["skipped"]] == ["m-b0"]
    assert pull(env, 0) == []
    assert not (Settings(**env).data_dir / REPLAY_LOG).exists()

    summary = replayed(run_cli, env)
    assert [d["dead_letter_id"] for d in summary["replayed"]] == ids(seeded, "a_parse", "b_parse")  # oldest first
    why = {d["dead_letter_id"]: d["why"] for d in summary["skipped"]}
    assert list(why) == ids(seeded, "b_late", "a_slack", "backfill_line")
    assert why[seeded["b_late"]["dead_letter_id"]].startswith("stage milestones: the event itself went through")
    assert why[seeded["a_slack"]["dead_letter_id"]].startswith(
        "stage slack: Slack dead letters stay in the Slack outbox"
    )
    assert why[seeded["backfill_line"]["dead_letter_id"]].startswith("no bus message recorded")
    assert "replayed 2, skipped 3" in summary["stderr"]

    messages = sorted(pull(env, 2), key=lambda m: m.attributes[bus.MESSAGE_ID])
    expected = [bus_message("org_a", "m-a1"), bus_message("org_b", "m-b1")]
    assert [(m.data, dict(m.attributes)) for m in messages] == [(e.data, dict(e.attributes)) for e in expected]

    shown = json.loads(run_cli(["dead-letters", "list", "--json", "--stage", "parse"], env).stdout)
    assert [(r["message_id"], r["replayed_at"] is not None) for r in shown] == [
        (None, False),
        ("m-b1", True),
        ("m-a1", True),
    ]
    table = run_cli(["dead-letters", "list", "--org", "org_b", "--stage", "parse"], env).stdout.splitlines()
    assert table[1].split()[-2] == time.strftime("%Y-%m-%d", time.gmtime())  # the replayed column

    again = replayed(run_cli, env, "--stage", "parse")
    assert again["replayed"] == []
    assert all(d["why"].startswith("already replayed at ") for d in again["skipped"] if d["message_id"])
    assert pull(env, 0) == []

    forced = replayed(run_cli, env, "--force", "--id", seeded["b_parse"]["dead_letter_id"])
    assert [d["message_id"] for d in forced["replayed"]] == ["m-b1"]
    assert [m.attributes[bus.MESSAGE_ID] for m in pull(env, 1)] == ["m-b1"]


def test_a_replay_onto_a_missing_topic_fails_and_records_nothing(run_cli, env, emulator, seeded):
    env = {**env, "PUBSUB_EMULATOR_HOST": emulator.emulator_host, "VARIANCE_EVENTS_TOPIC": "nobody-made-this"}
    result = run_cli(["dead-letters", "replay", "--org", "org_b"], env, check=False)
    assert result.returncode == 1
    assert "(start the pipeline: it creates the topic and its subscription); 0 replayed before it are recorded" in (
        result.stderr
    )
    assert not (Settings(**env).data_dir / REPLAY_LOG).exists()


def test_a_dead_letter_recorded_again_after_its_replay_shows_so_and_is_replayed_again(run_cli, topic_env, seeded):
    env = topic_env
    b_parse = seeded["b_parse"]["dead_letter_id"]
    assert [d["dead_letter_id"] for d in replayed(run_cli, env, "--id", b_parse)["replayed"]] == [b_parse]
    assert len(pull(env, 1)) == 1
    # The cause was not fixed: the pipeline dead-letters the replayed message again (same id, newer time).
    with LakeWriter(Settings(**env).lake_dir, compact_every_s=None) as writer:
        writer.append([(WarehouseTable.dead_letters.value, letter("org_b", Stage.parse, "m-b1", 0, now=now_micros()))])

    [row] = json.loads(run_cli(["dead-letters", "list", "--json", "--org", "org_b", "--stage", "parse"], env).stdout)
    assert (row["dead_letter_id"], row["failed_since_replay"]) == (b_parse, True)
    table = run_cli(["dead-letters", "list", "--org", "org_b", "--stage", "parse"], env).stdout.splitlines()
    assert table[1].endswith("(failed again)")
    assert [d["dead_letter_id"] for d in replayed(run_cli, env, "--id", b_parse)["replayed"]] == [b_parse]
    assert [m.attributes[bus.MESSAGE_ID] for m in pull(env, 1)] == ["m-b1"]


# -- the same rules on BigQuery ---------------------------------------------------------------


def test_the_selection_reads_bigquery_through_the_same_reader_with_its_parameters(request):
    """The reader both warehouses share, here BigQuery's over the suite's fake REST API: the
    filters become GoogleSQL ``@parameters`` (the lake's are ``$``), the rows the same letters."""
    fake = request.getfixturevalue("fake_bigquery")
    row = letter("org_b", Stage.parse, "m-b1", 30)
    fields = [c["name"] for c in json_schema(WarehouseTable.dead_letters.value)]
    values = {**row, "recorded_at": str(row["recorded_at"])}
    fake.query_response = {
        "kind": "bigquery#queryResponse",
        "jobComplete": True,
        "totalRows": "1",
        "schema": {"fields": json_schema(WarehouseTable.dead_letters.value)},
        "rows": [{"f": [{"v": values[name]} for name in fields]}],
    }
    reader = BigQueryReader(client_for(fake), "variance")
    selection = rules.Selection(stage=Stage.parse, org_id="org_b", since_us=NOW - 60 * MINUTE)
    [found] = rules.select(reader, selection, WarehouseTarget.bigquery, {row["dead_letter_id"]: NOW})
    [(_, _, body)] = [r for r in fake.requests if r[1].endswith("/queries")]

    assert (found.record.dead_letter_id, found.attributes, found.replayed_at) == (
        row["dead_letter_id"],
        dict(bus_message("org_b", "m-b1").attributes),
        NOW,
    )
    assert "where stage = @stage and org_id = @org and recorded_at >= @since)" in body["query"]
    assert body["query"].endswith("order by recorded_at desc, dead_letter_id")
    assert [(p["name"], p["parameterType"]["type"]) for p in body["queryParameters"]] == [
        ("stage", "STRING"),
        ("org", "STRING"),
        ("since", "TIMESTAMP"),
    ]
