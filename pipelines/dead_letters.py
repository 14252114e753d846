"""Dead letters for operators: list what the pipeline could not use, and replay it onto
the events topic once the cause is fixed.

A replay publishes the message exactly as it was received (its data and its bus
attributes, so the same ``message_id``). The pipeline de-duplicates by (organisation,
messageId) like any redelivery, so replaying twice, or replaying a message that did go
through after all, changes nothing. Only dead letters that hold a bus message can be
replayed; the others say why not (``not_replayable``).

Reads go through ``WarehouseReader``, so the same rules run on the local lake and on
BigQuery; the publisher is handed in (``Publish``), so tests and the CLI choose it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from variance.core import bus
from variance.core.bus import BusMessage
from variance.core.durations import DurationError, parse_duration
from variance.core.rows import DeadLetterRecord
from variance.core.settings import Settings, WarehouseTarget
from variance.core.timeutil import (
    TimestampError,
    format_timestamp,
    from_micros,
    now_micros,
    parse_timestamp,
    to_micros,
)
from variance.core.vocabulary import Stage, WarehouseTable
from variance.warehouse import WarehouseReader

TABLE = WarehouseTable.dead_letters.value

# Replays are kept in a small JSON-lines file beside the lake and the Slack outbox
# (``VARIANCE_DATA_DIR``), not in the app database: they are an operator's log of what was
# republished, not product data the API or the pipeline reads, and nothing depends on it
# for correctness (the pipeline's de-duplication makes a replay that the log missed, or one
# repeated, harmless). On Google Cloud the file lives where the operator runs the command.
REPLAY_LOG = "dead-letter-replays.jsonl"

# Why each stage's dead letters cannot be replayed from here; parse dead letters hold the
# message as received and can.
_NOT_REPLAYABLE = {
    Stage.slack.value: (
        "Slack dead letters stay in the Slack outbox and the Slack sender (`variance slack sender`) posts "
        "them again by itself once the stream reaches Slack (a post succeeds, or its probe does, one "
        "dead letter a minute): fix the cause (reconnect Slack, invite the bot) and keep the sender running"
    ),
    Stage.milestones.value: (
        "the event itself went through (it is in the warehouse); only milestone counting skipped it as "
        "late, and dbt's recomputation counts it: a replay would be de-duplicated"
    ),
    Stage.warehouse.value: "its payload is the row the warehouse refused, not a message: there is nothing to republish",
    Stage.ingest.value: (
        "the API rejected the call as sent (it broke the Segment spec), so a replay would be rejected "
        "again: the sender must send a corrected call"
    ),
}
_MICROSECOND = timedelta(microseconds=1)
_LOSSY = "\ufffd"  # what the parse stage put in place of bytes that were not UTF-8


class SelectionError(ValueError):
    """A filter that breaks its rule; ``field`` names it (``since``, ``id``, ...)."""

    def __init__(self, field: str, rule: str):
        super().__init__(rule)
        self.field = field
        self.rule = rule


class ReplayError(RuntimeError):
    """Publishing failed; what was confirmed before is recorded in the replay log."""


@dataclass(frozen=True)
class Selection:
    """Which dead letters: every filter given must hold (none given: all of them)."""

    stage: Stage | None = None
    since_us: int | None = None
    org_id: str | None = None
    ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeadLetter:
    """A current dead letter, its bus attributes parsed, and when it was last replayed."""

    record: DeadLetterRecord
    attributes: dict[str, str] | None
    replayed_at: int | None = None

    @property
    def failed_since_replay(self) -> bool:
        """Recorded again after its last replay: the cause was not fixed yet."""
        return self.replayed_at is not None and self.record.recorded_at > self.replayed_at


def parse_since(text: str, now_us: int | None = None) -> int:
    """``--since``: a duration back from now (``2h``, ``7d``) or an ISO-8601 time; micros."""
    try:
        return (now_us if now_us is not None else now_micros()) - int(parse_duration(text) / _MICROSECOND)
    except DurationError:
        pass
    try:
        return to_micros(parse_timestamp(text))
    except TimestampError:
        raise SelectionError(
            "since",
            f"must be a duration back from now such as 2h or 7d, or an ISO-8601 time such as "
            f"2026-12-01T00:00:00Z, not {text!r}",
        ) from None


def check_ids(ids: Iterable[str]) -> tuple[str, ...]:
    """Dead letter ids as the listing prints them (32 hex digits)."""
    checked = tuple(dict.fromkeys(i.strip().lower() for i in ids))
    for text in checked:
        if len(text) != 32 or any(c not in "0123456789abcdef" for c in text):
            raise SelectionError(
                "id", f"must be a dead letter id as the listing prints it (32 hex digits), not {text!r}"
            )
    return checked


def _where(selection: Selection, target: WarehouseTarget) -> tuple[str | None, dict[str, Any]]:
    # A reader's ``where`` is in its back end's dialect; the two differ only in how a named
    # parameter is written (DuckDB ``$name``, BigQuery ``@name``) for these filters.
    mark = "@" if target == WarehouseTarget.bigquery else "$"
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if selection.stage is not None:
        clauses.append(f"stage = {mark}stage")
        params["stage"] = selection.stage.value
    if selection.org_id is not None:
        clauses.append(f"org_id = {mark}org")
        params["org"] = selection.org_id
    if selection.since_us is not None:
        clauses.append(f"recorded_at >= {mark}since")
        params["since"] = from_micros(selection.since_us)
    if selection.ids:
        names = [f"id{i}" for i in range(len(selection.ids))]
        clauses.append("dead_letter_id in (" + ", ".join(mark + n for n in names) + ")")
        params.update(zip(names, selection.ids, strict=True))
    return (" and ".join(clauses) or None), params


def select(
    reader: WarehouseReader,
    selection: Selection,
    target: WarehouseTarget,
    replays: dict[str, int] | None = None,
    *,
    newest_first: bool = True,
) -> Iterator[DeadLetter]:
    """The current dead letters that match, newest first (or oldest first, the order a
    replay keeps), each with when it was last replayed (``replays``: id -> micros)."""
    where, params = _where(selection, target)
    direction = "desc" if newest_first else "asc"
    order = f"recorded_at {direction}, dead_letter_id"
    for row in reader.iter_current(TABLE, where, params, batch_rows=1_000, order_by=order):
        record = DeadLetterRecord.from_row(row)
        yield DeadLetter(record, _attributes(record.attributes), (replays or {}).get(record.dead_letter_id))


def _attributes(text: str | None) -> dict[str, str] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


def not_replayable_stage(stage: Stage) -> str | None:
    """Why no dead letter of ``stage`` is replayed from here (None: its dead letters may be)."""
    return _NOT_REPLAYABLE.get(stage.value)


def not_replayable(letter: DeadLetter, *, force: bool = False) -> str | None:
    """Why ``letter`` is not replayed (None: it is). ``force`` replays one already
    replayed that has not failed again since."""
    record = letter.record
    if record.stage in _NOT_REPLAYABLE:
        return f"stage {record.stage}: {_NOT_REPLAYABLE[record.stage]}"
    if not letter.attributes or record.payload is None:
        return (
            "no bus message recorded (a backfill's line has no attributes): run `variance backfill` "
            "again over the corrected file"
        )
    missing = [a for a in (bus.ORG_ID, bus.MESSAGE_ID) if not letter.attributes.get(a)]
    if missing:
        return (
            f"attributes {', '.join(missing)} are missing, so the pipeline could not de-duplicate a replay: "
            "the publisher must send it again"
        )
    if _LOSSY in record.payload:
        return "its data was not UTF-8 when received, so the stored payload is not the message as sent"
    if letter.replayed_at is not None and not letter.failed_since_replay and not force:
        return (
            f"already replayed at {format_timestamp(letter.replayed_at)} and not recorded again since "
            "(--force publishes it again; the pipeline de-duplicates it)"
        )
    return None


def bus_message(letter: DeadLetter) -> BusMessage:
    """The message as it was received: same data, same attributes (so the same messageId)."""
    assert letter.record.payload is not None and letter.attributes is not None
    return BusMessage(letter.record.payload.encode("utf-8"), dict(letter.attributes))


# -- the replay log --------------------------------------------------------------------------


class ReplayLog:
    """When each dead letter was last replayed: one JSON line per confirmed publish."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    @classmethod
    def for_settings(cls, settings: Settings) -> ReplayLog:
        return cls(Path(settings.data_dir) / REPLAY_LOG)

    def load(self) -> dict[str, int]:
        found: dict[str, int] = {}
        if not self.path.exists():
            return found
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                at = to_micros(parse_timestamp(entry["replayed_at"]))
                found[entry["dead_letter_id"]] = max(at, found.get(entry["dead_letter_id"], at))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash: that replay is simply not shown
        return found

    def record(self, letters: list[DeadLetter], at_us: int) -> None:
        if not letters:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = "".join(
            json.dumps(
                {
                    "dead_letter_id": d.record.dead_letter_id,
                    "org_id": d.record.org_id,
                    "stage": d.record.stage,
                    "message_id": d.record.message_id,
                    "replayed_at": format_timestamp(at_us),
                },
                sort_keys=True,
            )
            + "\n"
            for d in letters
        )
        with self.path.open("a", encoding="utf-8") as out:
            out.write(lines)
            out.flush()
            os.fsync(out.fileno())


# -- replaying -------------------------------------------------------------------------------


class Publish(Protocol):
    """Publishes one message onto the events topic; the future resolves once Pub/Sub
    confirmed it (and raises if it did not)."""

    def __call__(self, message: BusMessage) -> Future: ...


@dataclass
class ReplayReport:
    replayed: list[DeadLetter] = field(default_factory=list)
    skipped: list[tuple[DeadLetter, str]] = field(default_factory=list)

    def skipped_by_reason(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, reason in self.skipped:
            counts[reason] = counts.get(reason, 0) + 1
        return counts


def replay(
    letters: Iterable[DeadLetter],
    publish: Publish | None,
    log: ReplayLog,
    *,
    force: bool = False,
    batch: int = 100,
    timeout_s: float = 30.0,
    progress: Callable[[ReplayReport], None] | None = None,
) -> ReplayReport:
    """Republish each replayable letter (``publish`` None: a dry run, nothing published or
    recorded). A batch is recorded in ``log`` once Pub/Sub confirmed all of it; a crash
    before that leaves it unrecorded, and replaying it again is harmless."""
    report = ReplayReport()
    pending: list[tuple[DeadLetter, Future]] = []
    # A batch is recorded as replayed at the time its first publish began: if the pipeline
    # dead-letters a message again, it does so after that, so the listing can tell.
    started = 0

    def confirm() -> None:
        done: list[DeadLetter] = []
        try:
            for letter, future in pending:
                future.result(timeout=timeout_s)
                done.append(letter)
        except Exception as exc:
            log.record(done, started)
            report.replayed += done
            hint = " (start the pipeline: it creates the topic and its subscription)" if _not_found(exc) else ""
            raise ReplayError(
                f"Pub/Sub did not confirm the replay of dead letter {pending[len(done)][0].record.dead_letter_id} "
                f"({type(exc).__name__}: {_first_line(exc)}){hint}; "
                f"{len(report.replayed)} replayed before it are recorded"
            ) from None
        log.record(done, started)
        report.replayed += done
        pending.clear()
        if progress is not None:
            progress(report)

    for letter in letters:
        reason = not_replayable(letter, force=force)
        if reason is not None:
            report.skipped.append((letter, reason))
            continue
        if publish is None:
            report.replayed.append(letter)
            continue
        if not pending:
            started = now_micros()
        pending.append((letter, publish(bus_message(letter))))
        if len(pending) >= batch:
            confirm()
    if pending:
        confirm()
    return report


def _not_found(exc: BaseException) -> bool:
    # google.api_core's NotFound, named rather than imported: the client loads only to publish.
    return type(exc).__name__ == "NotFound"


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else ""


class EventsTopic:
    """The events topic the API publishes to, through the project's Pub/Sub client."""

    def __init__(self, settings: Settings):
        # google-cloud-pubsub and gRPC take over a second to import: only a replay loads them,
        # so `variance dead-letters list` (and every other command) starts without them.
        from variance.clients.pubsub import publisher_client

        # The topic is not created here: with no subscription on it (the pipeline makes
        # that), a replay would be confirmed and lost. A missing topic fails the publish.
        self.topic_path = settings.topic_path
        self._client = publisher_client(settings)

    def __call__(self, message: BusMessage) -> Future:
        return self._client.publish(self.topic_path, message.data, **message.attributes)

    def close(self) -> None:
        self._client.stop()
