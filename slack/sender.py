"""``variance slack sender``: drains the Slack outbox at each channel's rate.

One process knows every channel's rate, which no set of pipeline workers could share. Each
:meth:`Sender.step` looks at what is due, stream by stream:

- **Pace.** A token bucket per channel (``VARIANCE_SLACK_CHANNEL_RATE``, about one message a
  second, which Slack documents, with a burst of :data:`CHANNEL_BURST`) and one per
  workspace (``VARIANCE_SLACK_WORKSPACE_RATE``). A 429 that still happens is waited out by
  slack-sdk's ``RateLimitErrorRetryHandler`` on the client (``Retry-After``).
- **Digests.** When more than ``VARIANCE_SLACK_DIGEST_AFTER`` matches of one stream wait
  for its channel, they go as one digest (grouped by account, the newest items, a link to
  the stream) instead of falling behind: every match is in a message or a digest. The same
  when a workspace is behind (more waiting than its rate posts in :data:`BEHIND_S` s).
- **Exactly once.** A post is claimed (``sending``, with a claim id carried in the
  message's Slack metadata) before it is made and marked ``sent`` after; a restart finds
  claims left ``sending`` by a kill and looks for their claim id in the channel's history
  (or the outbox file's tail) before posting again. The rows stay as the sent-log until
  ``VARIANCE_SLACK_SENT_RETENTION`` has passed, then are pruned.
- **Failures.** Transient errors (5xx, timeouts) are retried with backoff, then become dead
  letters (stage ``slack``). Errors of the stream (channel not found, bot not in channel,
  token revoked, missing scope) set the stream's Slack status and turn its waiting matches
  into dead letters at once. Dead letters are posted again when the status recovers: a post
  to the stream succeeds, or a probe (one dead letter retried every :attr:`probe_every_s`).
- **No token** (no installation, no single-team token): each message is appended to the
  local outbox file, exactly the ``chat.postMessage`` arguments, unpaced (no Slack to spare).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from variance.appdb.models import (
    AccountRow,
    ContactRow,
    Milestone,
    SlackInstallation,
    SlackOutboxRow,
    SlackStreamStatus,
    Stream,
    StreamItemRow,
)
from variance.appdb.types import utcnow
from variance.clients.slack import FailureScope, OutboxFile, SlackFailure, failure_of, web_client
from variance.clients.slack_messages import (
    MilestoneChangeMessage,
    StreamMatchMessage,
    TagChangeMessage,
    VarianceLinks,
    digest_message,
    match_message,
    milestone_message,
    tag_message,
)
from variance.core.settings import Settings
from variance.core.vocabulary import SlackDelivery, SlackStatus
from variance.slack import outbox
from variance.slack.tokens import OrgToken, token_for

log = logging.getLogger("variance.slack.sender")

CHANNEL_BURST = 3  # Slack lets short bursts through; more than a few in a row risks hiding
WORKSPACE_BURST = 10
# Our buckets run a tenth under the configured rate: Slack counts from when a request
# arrives, we from when we send it, and the difference must never make a 429.
RATE_MARGIN = 0.9
METADATA_EVENT = "variance_post"
PRUNE_EVERY_S = 300.0
# A workspace with more waiting than its rate posts in this many seconds is behind.
BEHIND_S = 10.0
# A dead letter's reason and the status column hold Slack's error code; longer text is cut.
REASON_LIMIT = 300
STATUS_ERROR_LIMIT = 100


# the one pretend Slack workspace of the outbox file (no token)
OUTBOX_TEAM = "(outbox)"


class TokenBucket:
    """``rate`` per second, at most ``burst`` at once."""

    def __init__(self, rate: float, burst: int, now: float):
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.at = float(burst), now

    def _fill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now

    def ready(self, now: float) -> bool:
        self._fill(now)
        return self.tokens >= 1

    def take(self, now: float) -> None:
        self._fill(now)
        self.tokens -= 1


@dataclass
class StreamTarget:
    """Where a stream's matches go right now (read at send time: a changed channel applies
    to what is still waiting)."""

    stream_id: str
    org_id: str
    name: str
    channel_id: str | None
    channel_name: str | None
    token: OrgToken | None
    owner_trait: str | None = None


@dataclass
class StepReport:
    posted: int = 0  # messages (and digests) that went out or into the outbox file
    rows_done: int = 0  # outbox rows sent or digested
    dead: int = 0
    retried: int = 0
    details: list[str] = field(default_factory=list)


DeadLetterSink = Callable[[list[dict[str, Any]]], None]


class Sender:
    """Drains the outbox of ``settings``' app database. Single-threaded: run one per
    deployment (Cloud Run with one instance); two would not double-post (claims) but would
    each spend the channel's rate."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], float] = time.monotonic,
        backoff_s: float = 1.0,
        probe_every_s: float = 60.0,
        on_dead: DeadLetterSink | None = None,
        client_retries: int = 2,
    ):
        self.settings = settings
        self.sessions = sessions
        self.clock = clock
        self.backoff_s = backoff_s
        self.probe_every_s = probe_every_s
        self.on_dead = on_dead
        self.client_retries = client_retries
        self.links = VarianceLinks(settings.public_url)
        self.outbox_file = OutboxFile(settings.outbox_path)
        self._channels: dict[tuple[str, str], TokenBucket] = {}
        self._workspaces: dict[str, TokenBucket] = {}
        self._clients: dict[str, Any] = {}
        self._owners: dict[tuple[str, str], tuple[float, str | None]] = {}  # (team, email) -> (at, user id)
        self._last_prune = -PRUNE_EVERY_S
        self._last_probe = clock()
        self.last_step_at: float | None = None

    # -- the loop ---------------------------------------------------------------------------

    def run(self, stop: threading.Event, idle_s: float = 0.25) -> None:
        """Recover claims a kill left behind, then step until ``stop`` is set."""
        self.recover()
        while not stop.is_set():
            try:
                report = self.step()
            except Exception:  # a database hiccup: log it and carry on (Cloud Run keeps us up)
                log.exception("the Slack sender's step failed; trying again")
                report = StepReport()
            if not report.posted and not report.retried:
                stop.wait(idle_s)

    def step(self) -> StepReport:
        """One pass over what is due: at most one post per channel, within its rate."""
        report = StepReport()
        now = utcnow()
        self.last_step_at = self.clock()
        if self.clock() - self._last_prune >= PRUNE_EVERY_S:
            self._last_prune = self.clock()
            with self.sessions() as session, session.begin():
                pruned = outbox.prune(session, now, self.settings.slack_sent_retention)
            if pruned:
                log.info("pruned %d rows of the Slack sent-log", pruned)
        if self.clock() - self._last_probe >= self.probe_every_s:
            self._last_probe = self.clock()
            self._probe(now)
        with self.sessions() as session:
            rows = outbox.due(session, now)
            by_stream: dict[str, list[SlackOutboxRow]] = {}
            for row in rows:
                by_stream.setdefault(row.stream_id, []).append(row)
            targets = {sid: self._target(session, sid, group[0].org_id) for sid, group in by_stream.items()}
        behind = self._behind(targets, by_stream)
        for stream_id, group in by_stream.items():
            target = targets[stream_id]
            self._send_group(target, group, report, digest=target is not None and self._team(target) in behind)
        return report

    @staticmethod
    def _team(target: StreamTarget) -> str | None:
        return target.token.team_id if target.token is not None else None

    def _behind(self, targets: dict[str, StreamTarget | None], by_stream: dict[str, list[SlackOutboxRow]]) -> set:
        """Workspaces with more waiting than their rate posts in :data:`BEHIND_S` seconds:
        many busy channels of one team would otherwise each fall behind while under the
        per-channel threshold, so each of their channels goes as a digest."""
        waiting: dict[str | None, int] = {}
        for stream_id, group in by_stream.items():
            target = targets[stream_id]
            if target is not None and target.token is not None:
                waiting[self._team(target)] = waiting.get(self._team(target), 0) + len(group)
        limit = self.settings.slack_workspace_rate * BEHIND_S
        return {team for team, n in waiting.items() if n > limit}

    def drain(self, timeout_s: float = 30.0) -> StepReport:
        """Step until nothing is due (for tests, benchmarks and one-shot runs)."""
        total = StepReport()
        deadline = self.clock() + timeout_s
        while self.clock() < deadline:
            report = self.step()
            for name in ("posted", "rows_done", "dead", "retried"):
                setattr(total, name, getattr(total, name) + getattr(report, name))
            with self.sessions() as session:
                waiting = outbox.due(session, utcnow() + timedelta(days=1), limit=1)
            if not waiting:
                return total
            if not report.posted:
                time.sleep(0.02)
        return total

    # -- sending ----------------------------------------------------------------------------

    def _target(self, session: Session, stream_id: str, org_id: str) -> StreamTarget | None:
        stream = session.get(Stream, stream_id)
        if stream is None:
            return None
        installation = session.get(SlackInstallation, org_id)
        return StreamTarget(
            stream.id,
            stream.org_id,
            stream.name,
            stream.slack_channel_id,
            stream.slack_channel_name,
            token_for(session, org_id, self.settings),
            installation.owner_email_trait if installation is not None else None,
        )

    def _send_group(
        self, target: StreamTarget | None, rows: list[SlackOutboxRow], report: StepReport, *, digest: bool = False
    ) -> None:
        if target is None or not target.channel_id:
            # The stream was deleted or lost its channel: nobody wants these in Slack now.
            self._finish(rows, SlackDelivery.dead, error="stream_has_no_channel")
            report.dead += len(rows)
            return
        if target.token is not None and target.token.revoked:
            self._stream_failed(target, rows, SlackFailure("token_revoked", FailureScope.stream), report)
            return
        # Without a token the outbox file stands in for one Slack workspace, at Slack's pace,
        # so it shows what Slack would get: bursts become digests there too.
        team = target.token.team_id if target.token is not None else OUTBOX_TEAM
        now = self.clock()
        channel = self._channels.setdefault(
            (team, target.channel_id),
            TokenBucket(self.settings.slack_channel_rate * RATE_MARGIN, CHANNEL_BURST, now),
        )
        workspace = self._workspaces.setdefault(
            team, TokenBucket(self.settings.slack_workspace_rate * RATE_MARGIN, WORKSPACE_BURST, now)
        )
        if not (channel.ready(now) and workspace.ready(now)):
            return
        channel.take(now)
        workspace.take(now)
        batch = rows if len(rows) > self.settings.slack_digest_after or (digest and len(rows) > 1) else rows[:1]
        self._post(target, batch, report)

    def _post(self, target: StreamTarget, rows: list[SlackOutboxRow], report: StepReport) -> None:
        claim = uuid.uuid4().hex
        keys = [r.key for r in rows]
        try:
            with self.sessions() as session:
                payload = self._payload(session, target, rows)
        except (ValueError, KeyError, TypeError) as exc:  # a payload this code cannot read
            log.error("cannot build the Slack message of %d matches: %s", len(rows), exc)
            self._finish(rows, SlackDelivery.dead, error=f"unreadable payload: {type(exc).__name__}")
            report.dead += len(rows)
            return
        with self.sessions() as session, session.begin():
            session.execute(
                update(SlackOutboxRow)
                .where(SlackOutboxRow.key.in_(keys))
                .values(state=SlackDelivery.sending.value, claim_id=claim, claimed_at=utcnow())
            )
        assert target.channel_id is not None
        try:
            if target.token is None:
                ts = "outbox"
                self._write_outbox(target, rows, claim, payload)
            else:
                answer = self._client(target.token).chat_postMessage(
                    channel=target.channel_id,
                    metadata={"event_type": METADATA_EVENT, "event_payload": {"claim": claim}},
                    **payload,
                )
                ts = str(answer.get("ts") or "")
        except Exception as exc:
            failure = failure_of(exc)
            log.warning("posting to Slack failed for stream %s: %s", target.stream_id, failure.code)
            self._failed(target, rows, failure, report)
            return
        state = SlackDelivery.digested if len(rows) > 1 else SlackDelivery.sent
        self._finish(rows, state, ts=ts)
        report.posted += 1
        report.rows_done += len(rows)
        self._status(target, SlackStatus.ok if target.token is not None else SlackStatus.outbox, None)

    def _write_outbox(self, target: StreamTarget, rows: list[SlackOutboxRow], claim: str, payload: dict) -> None:
        row = rows[0]
        record = {
            "key": row.key,
            "claim": claim,
            "org_id": row.org_id,
            "stream_id": row.stream_id,
            "message_id": row.message_id,
            "message_ids": [r.message_id for r in rows],  # more than one: a digest
            "channel_id": target.channel_id,
            "channel_name": target.channel_name,
            "via": "outbox",
            "text": payload["text"],
            "payload": {"channel": target.channel_id, **payload},
        }
        self.outbox_file.append(record)
        log.info("slack outbox %s: %s", target.channel_name or target.channel_id, payload["text"])

    def _client(self, token: OrgToken):
        client = self._clients.get(token.token)
        if client is None:
            client = self._clients[token.token] = web_client(
                token.token, self.settings.slack_api_url, retries=self.client_retries
            )
        return client

    # -- what a message says ----------------------------------------------------------------

    def _payload(self, session: Session, target: StreamTarget, rows: list[SlackOutboxRow]) -> dict:
        if len(rows) > 1:
            messages = [self._match(session, target, r, orjson.loads(r.payload)) for r in rows]
            return digest_message(target.stream_id, target.name, messages, self.links)
        row = rows[0]
        payload = orjson.loads(row.payload)
        change = payload.get("milestone")
        if change:
            milestone = session.get(Milestone, change.get("milestone_id"))
            window = timedelta(seconds=milestone.window_seconds) if milestone and milestone.window_seconds else None
            message = MilestoneChangeMessage.from_change(
                change,
                stream_id=target.stream_id,
                stream_name=target.name,
                window=window,
                entity_name=self._entity_name(session, row.org_id, change),
            )
            return milestone_message(message, self.links)
        tag = payload.get("tag")
        if tag:  # a smart tag entered or left (pipelines/sinks/serving.py)
            name = self._entity_name(session, row.org_id, tag)
            tagged = TagChangeMessage.from_tag(
                tag, stream_id=target.stream_id, stream_name=target.name, entity_name=name
            )
            return tag_message(tagged, self.links)
        # Buttons need the installed app's interactivity; the single-team token has none here.
        interactive = target.token is not None and not target.token.revoked and target.token.team_id != "single-team"
        return match_message(self._match(session, target, row, payload), self.links, follow_buttons=interactive)

    def _match(self, session: Session, target: StreamTarget, row: SlackOutboxRow, payload: dict) -> StreamMatchMessage:
        match = dict(payload["match"])
        org = row.org_id
        if match.get("contact_id"):
            contact = session.get(ContactRow, (org, match["contact_id"]))
            if contact is not None:
                match["contact_name"], match["contact_email"] = contact.name, contact.email
        owner = None
        if match.get("account_id"):
            account = session.get(AccountRow, (org, match["account_id"]))
            if account is not None:
                match["account_name"] = account.name
                owner = self._owner(target, account.traits)
        properties = payload.get("properties")
        if properties is None:
            item = session.get(StreamItemRow, (org, row.stream_id, row.message_id))
            properties = item.properties if item is not None else {}
        match["properties"] = properties
        message = StreamMatchMessage.from_match(match, target.name)
        if owner:
            message = replace(message, owner_slack_id=owner)
        return message

    @staticmethod
    def _entity_name(session: Session, org_id: str, change: dict) -> str | None:
        if change.get("entity_type") == "account":
            account = session.get(AccountRow, (org_id, change["entity_id"]))
            return account.name if account is not None else None
        contact = session.get(ContactRow, (org_id, change["entity_id"]))
        return (contact.name or contact.email) if contact is not None else None

    def _owner(self, target: StreamTarget, traits_json: str) -> str | None:
        """The Slack user named by the account's owner trait, looked up by email and cached
        for an hour (misses too), so a busy account costs one ``users.lookupByEmail``."""
        if not target.owner_trait or target.token is None or target.token.revoked:
            return None
        try:
            value: Any = orjson.loads(traits_json or "{}")
        except orjson.JSONDecodeError:
            return None
        for part in target.owner_trait.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if not isinstance(value, str) or "@" not in value:
            return None
        email = value.strip().lower()
        key = (target.token.team_id, email)
        cached = self._owners.get(key)
        if cached is not None and self.clock() - cached[0] < 3600:
            return cached[1]
        try:
            user = self._client(target.token).users_lookupByEmail(email=email)["user"]["id"]
        except Exception as exc:
            log.info("no Slack user for an account owner (%s)", failure_of(exc).code)
            user = None
        self._owners[key] = (self.clock(), user)
        return user

    # -- outcomes ---------------------------------------------------------------------------

    def _finish(
        self, rows: list[SlackOutboxRow], state: SlackDelivery, *, ts: str | None = None, error: str | None = None
    ) -> None:
        with self.sessions() as session, session.begin():
            session.execute(
                update(SlackOutboxRow)
                .where(SlackOutboxRow.key.in_([r.key for r in rows]))
                .values(state=state.value, done_at=utcnow(), message_ts=ts, last_error=error and error[:REASON_LIMIT])
            )
        if state == SlackDelivery.dead:
            self._dead_letters(rows, error or "")

    def _failed(
        self, target: StreamTarget, rows: list[SlackOutboxRow], failure: SlackFailure, report: StepReport
    ) -> None:
        if failure.scope == FailureScope.stream:
            self._stream_failed(target, rows, failure, report)
        elif failure.scope == FailureScope.message:
            self._finish(rows, SlackDelivery.dead, error=failure.code)
            report.dead += len(rows)
        else:
            self._transient(target, rows, failure, report)

    def _transient(
        self, target: StreamTarget, rows: list[SlackOutboxRow], failure: SlackFailure, report: StepReport
    ) -> None:
        attempts = max(r.attempts for r in rows) + 1
        if attempts >= self.settings.slack_max_attempts:
            self._finish(rows, SlackDelivery.dead, error=f"{failure.code} after {attempts} attempts")
            self._status(target, SlackStatus.error, failure.code)
            report.dead += len(rows)
            return
        delay = min(60.0, self.backoff_s * 2 ** (attempts - 1))
        with self.sessions() as session, session.begin():
            session.execute(
                update(SlackOutboxRow)
                .where(SlackOutboxRow.key.in_([r.key for r in rows]))
                .values(
                    state=SlackDelivery.pending.value,
                    attempts=attempts,
                    next_attempt_at=utcnow() + timedelta(seconds=delay),
                    last_error=failure.code,
                )
            )
        report.retried += len(rows)

    def _stream_failed(
        self, target: StreamTarget, rows: list[SlackOutboxRow], failure: SlackFailure, report: StepReport
    ) -> None:
        """Nothing reaches this stream's channel until a person acts: every match of the
        stream waiting now becomes a dead letter, posted again when the status recovers."""
        with self.sessions() as session:
            waiting = outbox.in_state(session, SlackDelivery.pending, target.stream_id)
        every = {r.key: r for r in [*rows, *waiting]}
        self._finish(list(every.values()), SlackDelivery.dead, error=failure.code)
        self._status(target, SlackStatus.error, failure.code)
        report.dead += len(every)

    def _status(self, target: StreamTarget, status: SlackStatus, error: str | None) -> None:
        now = utcnow()
        error = error[:STATUS_ERROR_LIMIT] if error else None
        with self.sessions() as session, session.begin():
            current = session.get(SlackStreamStatus, target.stream_id)
            if current is None:
                session.add(
                    SlackStreamStatus(
                        stream_id=target.stream_id,
                        org_id=target.org_id,
                        status=status,
                        error=error,
                        since=now,
                        checked_at=now,
                    )
                )
                return
            recovered = current.status == SlackStatus.error and status != SlackStatus.error
            if (current.status, current.error) != (status.value, error):
                current.status, current.error, current.since = status.value, error, now
            current.checked_at = now
            if recovered:
                requeued = outbox.requeue_dead(session, target.stream_id, now)
                log.info("stream %s reaches Slack again: %d dead letters back in line", target.stream_id, requeued)

    def _dead_letters(self, rows: list[SlackOutboxRow], reason: str) -> None:
        if self.on_dead is None:
            return
        letters = [
            {
                "org_id": r.org_id,
                "stream_id": r.stream_id,
                "message_id": r.message_id,
                "key": r.key,
                "reason": reason,
                "payload": r.payload,
            }
            for r in rows
        ]
        try:
            self.on_dead(letters)
        except Exception:
            log.exception("writing Slack dead letters to the warehouse failed (they stay in the outbox)")

    def _probe(self, now: datetime) -> None:
        """For each stream in error, put its oldest dead letter back in line: a success
        recovers the status (and the rest follows), a failure keeps it."""
        with self.sessions() as session, session.begin():
            failing = session.scalars(
                select(SlackStreamStatus.stream_id).where(SlackStreamStatus.status == SlackStatus.error)
            ).all()
            for stream_id in failing:
                oldest = session.scalars(
                    select(SlackOutboxRow)
                    .where(SlackOutboxRow.stream_id == stream_id, SlackOutboxRow.state == SlackDelivery.dead)
                    .order_by(SlackOutboxRow.created_at)
                    .limit(1)
                ).first()
                if oldest is not None:
                    oldest.state, oldest.next_attempt_at, oldest.attempts = SlackDelivery.pending.value, now, 0

    # -- after a kill -----------------------------------------------------------------------

    def recover(self) -> int:
        """Settle claims left ``sending`` by a kill: posted ones (their claim id is in the
        channel's recent history, or the outbox file's tail) become sent, the others pending
        again. Returns how many rows were found posted."""
        with self.sessions() as session:
            claimed = outbox.in_state(session, SlackDelivery.sending)
            claims: dict[str, list[SlackOutboxRow]] = {}
            for row in claimed:
                claims.setdefault(row.claim_id or "", []).append(row)
            targets = {c: self._target(session, rows[0].stream_id, rows[0].org_id) for c, rows in claims.items()}
        found_posted = 0
        for claim, rows in claims.items():
            target = targets[claim]
            posted = False
            if target is not None and target.channel_id:
                posted = self._was_posted(target, claim, rows)
            if posted:
                self._finish(rows, SlackDelivery.digested if len(rows) > 1 else SlackDelivery.sent, ts="recovered")
                found_posted += len(rows)
            else:
                with self.sessions() as session, session.begin():
                    session.execute(
                        update(SlackOutboxRow)
                        .where(SlackOutboxRow.key.in_([r.key for r in rows]))
                        .values(state=SlackDelivery.pending.value, claim_id=None)
                    )
        if claims:
            log.info(
                "recovered %d unfinished Slack posts (%d had gone out)", sum(map(len, claims.values())), found_posted
            )
        return found_posted

    def _was_posted(self, target: StreamTarget, claim: str, rows: list[SlackOutboxRow]) -> bool:
        if target.token is None:
            return claim in self.outbox_file.holds([claim])
        if target.token.revoked:
            return False
        claimed_at = min(r.claimed_at or utcnow() for r in rows)
        try:
            history = self._client(target.token).conversations_history(
                channel=target.channel_id,
                oldest=f"{claimed_at.timestamp() - 60:.6f}",
                include_all_metadata=True,
                limit=200,
            )
        except Exception as exc:
            # Cannot tell: post again (a duplicate is better than a loss); needs channels:history.
            log.warning("could not check whether a claimed Slack post went out (%s)", failure_of(exc).code)
            return False
        for message in history.get("messages") or []:
            metadata = message.get("metadata") or {}
            if (
                metadata.get("event_type") == METADATA_EVENT
                and (metadata.get("event_payload") or {}).get("claim") == claim
            ):
                return True
        return False
