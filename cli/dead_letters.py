"""``variance dead-letters``: list what the pipeline could not use, and replay it onto the
events topic once the cause is fixed. The rules are ``variance.pipelines.dead_letters``;
this module parses flags and prints. Works on the local lake and on BigQuery alike
(``VARIANCE_WAREHOUSE``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from itertools import islice

import typer

from variance.cli.common import CliError, choice, say, settings
from variance.core.settings import Settings
from variance.core.timeutil import format_timestamp, from_micros
from variance.core.vocabulary import Stage
from variance.pipelines import dead_letters as rules
from variance.warehouse import open_reader

app = typer.Typer(help="Dead letters: list them, and replay them once the cause is fixed.", no_args_is_help=True)

_REASON_WIDTH = 70
MAX_LIMIT = 10_000
STAGE_HELP = "Only this stage's dead letters"
SINCE_HELP = "Only those recorded since: a duration back from now (2h, 7d) or an ISO-8601 time"
ORG_HELP = "Only this organisation's (its id)"


def _selection(stage: Stage | None, since: str | None, org: str | None, ids: list[str] | None) -> rules.Selection:
    try:
        since_us = rules.parse_since(since) if since is not None else None
        checked = rules.check_ids(ids or [])
    except rules.SelectionError as exc:
        raise CliError(f"--{exc.field}: {exc.rule}") from None
    if org is not None and not org.strip():
        raise CliError("--org: must be an organisation id, not empty")
    return rules.Selection(stage=stage, since_us=since_us, org_id=org.strip() if org else None, ids=checked)


def _letters(config: Settings, selection: rules.Selection, *, newest_first: bool) -> Iterator[rules.DeadLetter]:
    replays = rules.ReplayLog.for_settings(config).load()
    return rules.select(open_reader(config), selection, config.warehouse, replays, newest_first=newest_first)


def _time(micros: int) -> str:
    """To the second, in UTC: what a table needs (``--json`` gives the exact time)."""
    return from_micros(micros).strftime("%Y-%m-%d %H:%M:%SZ")


def _replayed(letter: rules.DeadLetter) -> str:
    if letter.replayed_at is None:
        return "-"
    shown = _time(letter.replayed_at)
    return f"{shown} (failed again)" if letter.failed_since_replay else shown


def _as_json(letter: rules.DeadLetter) -> dict:
    record = letter.record
    return {
        "dead_letter_id": record.dead_letter_id,
        "stage": record.stage,
        "recorded_at": format_timestamp(record.recorded_at),
        "org_id": record.org_id,
        "message_id": record.message_id,
        "reason": record.reason,
        "replayed_at": format_timestamp(letter.replayed_at) if letter.replayed_at is not None else None,
        "failed_since_replay": letter.failed_since_replay,
        "attributes": letter.attributes,
        "payload": record.payload,
    }


def _table(letters: list[rules.DeadLetter]) -> str:
    header = ("id", "stage", "recorded_at", "org", "message_id", "reason", "replayed")
    rows = [
        (
            d.record.dead_letter_id,
            d.record.stage,
            _time(d.record.recorded_at),
            d.record.org_id or "-",
            d.record.message_id or "-",
            _cut(d.record.reason),
            _replayed(d),
        )
        for d in letters
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]
    )


def _limit(text: object) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LIMIT:
        raise CliError(f"--limit: must be a whole number from 1 to {MAX_LIMIT}, not {text!r}")
    return value


def _cut(reason: str) -> str:
    flat = " ".join(reason.split())
    return flat if len(flat) <= _REASON_WIDTH else flat[: _REASON_WIDTH - 1] + "…"


@app.command("list")
def list_(
    stage: Stage = choice(Stage, None, "--stage", STAGE_HELP),
    since: str | None = typer.Option(None, "--since", help=SINCE_HELP),
    org: str | None = typer.Option(None, "--org", help=ORG_HELP),
    limit: int = typer.Option(
        50,
        "--limit",
        parser=_limit,
        metavar="<1-10000>",
        help="Show at most this many, newest first",
    ),
    as_json: bool = typer.Option(False, "--json", help="A JSON array on stdout, with payloads and attributes"),
) -> None:
    """The current dead letters, newest first: a table and a count (or JSON with --json)."""
    config = settings()
    selection = _selection(stage, since, org, None)
    found = list(islice(_letters(config, selection, newest_first=True), limit + 1))
    shown, more = found[:limit], len(found) > limit
    noun = "dead letter" if len(shown) == 1 else "dead letters"
    count = f"{len(shown)} {noun}" + (
        f" (the newest {limit}; more match: raise --limit or narrow the filters)" if more else ""
    )
    if as_json:  # stdout stays one JSON document; the count goes with the human messages
        sys.stdout.write(json.dumps([_as_json(d) for d in shown], indent=2) + "\n")
        say(count)
        return
    if shown:
        sys.stdout.write(_table(shown) + "\n")
    sys.stdout.write(count + "\n")


@app.command("replay")
def replay(
    stage: Stage = choice(Stage, None, "--stage", STAGE_HELP),
    since: str | None = typer.Option(None, "--since", help=SINCE_HELP),
    org: str | None = typer.Option(None, "--org", help=ORG_HELP),
    ids: list[str] | None = typer.Option(None, "--id", help="Only this dead letter (repeat for more)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be replayed; publish nothing"),
    force: bool = typer.Option(
        False, "--force", help="Publish again those already replayed (the pipeline de-duplicates them)"
    ),
) -> None:
    """Republish the selected dead letters' messages as received (same messageId) onto the
    events topic, oldest first; progress on stderr, the summary as JSON on stdout."""
    if stage == Stage.slack:
        reason = rules.not_replayable_stage(Stage.slack)
        raise CliError(f"--stage slack: not replayed here: {reason}")
    config = settings()
    selection = _selection(stage, since, org, ids)
    log = rules.ReplayLog.for_settings(config)
    letters = list(_letters(config, selection, newest_first=False))
    if not letters:
        say("no dead letters match")
    elif dry_run:
        say(f"dry run: {len(letters)} dead letters match; nothing is published")
    else:
        say(f"replaying onto {config.topic_path}: {len(letters)} dead letters match")
    publisher = None if dry_run or not letters else rules.EventsTopic(config)

    def progress(report: rules.ReplayReport) -> None:
        say(f"  replayed {len(report.replayed)}, skipped {len(report.skipped)} of {len(letters)}")

    try:
        report = rules.replay(letters, publisher, log, force=force, progress=progress)
    except rules.ReplayError as exc:
        raise CliError(str(exc)) from None
    finally:
        if publisher is not None:
            publisher.close()
    verb = "would replay" if dry_run else "replayed"
    say(f"{verb} {len(report.replayed)}, skipped {len(report.skipped)}")
    for reason, n in report.skipped_by_reason().items():
        say(f"  skipped {n}: {reason}")
    summary = {
        "dry_run": dry_run,
        "replayed": [_brief(d) for d in report.replayed],
        "skipped": [{**_brief(d), "why": why} for d, why in report.skipped],
    }
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")


def _brief(letter: rules.DeadLetter) -> dict:
    record = letter.record
    return {
        "dead_letter_id": record.dead_letter_id,
        "stage": record.stage,
        "org_id": record.org_id,
        "message_id": record.message_id,
    }
