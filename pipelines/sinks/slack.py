"""The Slack sink: current stream matches of streams with a Slack channel, posted once each."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import apache_beam as beam

from variance.core.rows import dead_letter
from variance.core.timeutil import now_micros
from variance.core.vocabulary import Stage, WarehouseTable
from variance.core.warehouse import Row
from variance.pipelines import progress

log = logging.getLogger(__name__)


@beam.typehints.with_input_types(Row)
@beam.typehints.with_output_types(Row)
class PostToSlack(beam.DoFn):
    """Posts each current stream match whose stream has a Slack channel, once (the sender's
    sent-log skips what was posted before). A match that still cannot be posted after
    ``attempts`` tries comes out as a dead-letter row (stage ``slack``, with the reason),
    for the warehouse: a post is never dropped silently."""

    def __init__(
        self,
        config_provider,
        outbox: str,
        token: str | None,
        api_url: str | None,
        *,
        attempts: int = 3,
        backoff_s: float = 0.5,
    ):
        self.config_provider = config_provider
        self.outbox = outbox
        self.token = token
        self.api_url = api_url
        self.attempts = attempts
        self.backoff_s = backoff_s

    def setup(self):
        from variance.clients.slack import SlackSender

        self.sender = SlackSender.of(Path(self.outbox), self.token, self.api_url)

    def process(self, element: Row):
        from variance.clients.slack import SlackSender, post_match

        table, row = element
        if table != WarehouseTable.stream_matches:
            return
        failure = ""
        for attempt in range(1, self.attempts + 1):
            try:
                if post_match(self.sender, self.config_provider, row):
                    progress.add("slack_posts")
                return
            except Exception as exc:
                log.warning("posting to Slack failed (%s), attempt %d of %d", exc, attempt, self.attempts)
                failure = f"{type(exc).__name__}: {exc}"
                if attempt < self.attempts:
                    time.sleep(self.backoff_s * attempt)
        yield dead_letter(
            row["org_id"],
            Stage.slack,
            f"posting to Slack failed {self.attempts} times; last error: {failure}",
            row["message_id"],
            row,
            now_micros(),
            {"stream_id": row["stream_id"]},
            key=SlackSender.key(row),
        ).as_row()


def catch_up(config, reader, provider, now: int) -> int:
    """Post stream matches written before a stop whose Slack post never happened (the
    sent-log skips those that were posted); returns how many were posted."""
    from variance.clients.slack import SlackSender, post_match

    sender = SlackSender.of(Path(config.outbox_path), config.slack_token, config.slack_api_url)
    posted = 0
    since = now - 86_400_000_000
    for row in reader.current(
        WarehouseTable.stream_matches,
        "status = 'current' and epoch_us(recorded_at) >= $since",
        {"since": since},
        order_by="recorded_at",
    ):
        posted += post_match(sender, provider, row)
    return posted
