"""Block Kit messages for Slack: one per stream match, one per milestone achieved or lost,
and one per smart tag entered or left.

Pure functions from a small typed input to the keyword arguments of ``chat.postMessage``
(``client.chat_postMessage(channel=..., **payload)``): ``text`` (the plain fallback Slack
shows in notifications), ``blocks``, and link unfurling turned off, since event values may
hold URLs an outsider chose.

What a caller must know:

- **Escaping.** Every value that comes from events (names, emails, ids, properties) and the
  stream's name goes through :func:`variance.core.mrkdwn.escape` (``&``, ``<``, ``>``), in
  ``mrkdwn`` *and* in ``plain_text`` objects. In mrkdwn it is what keeps ``<!channel>`` or
  ``<@U1>`` from pinging anyone or forging a link. ``plain_text`` is never parsed for
  mentions, but Slack treats the three characters as control characters in every text object
  and decodes the three entities for display, so escaping there shows exactly the original
  text; not escaping would make ``&lt;`` typed by a user show as ``<``. One rule for every
  text object is also one rule a test can check: no ``<`` from an event anywhere.
- **Limits.** Values are cut (after escaping, never inside an entity) to Block Kit's limits,
  and each property value to :data:`PROPERTY_VALUE_LIMIT`, since a message is for glancing and
  the whole event is one click away. The payload's JSON (as slack-sdk sends it) is kept under
  :data:`PAYLOAD_BUDGET` characters, below the ~13k at which Slack answers
  ``msg_blocks_too_long``: properties are dropped from the end first, and a note says how many
  were left out.
- **Links.** :class:`VarianceLinks` is the URL scheme of the web app (``/accounts/{id}``,
  ``/contacts/{id}``, ``/streams/{id}``, ids URL-quoted) from ``VARIANCE_PUBLIC_URL``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from variance.core.durations import format_duration
from variance.core.mrkdwn import escape
from variance.core.timeutil import format_timestamp
from variance.core.vocabulary import ChangeKind, EntityType

# Block Kit's documented limits, and Slack's undocumented one on the size of a message.
MAX_BLOCKS = 50
SECTION_TEXT_LIMIT = 3000
HEADER_LIMIT = 150
MAX_FIELDS = 10
FIELD_LIMIT = 2000
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
TEXT_LIMIT = 40_000
PAYLOAD_BUDGET = 12_000  # characters of JSON; Slack rejects messages around 13,000

# Our own choices, within those limits.
LABEL_LIMIT = 200  # a name, an email or an id shown in a field or the fallback
MIN_LABEL_LIMIT = 20  # how far labels shrink when even a message without properties is too big
URL_LIMIT = 500  # a longer link (an absurd id) is left out rather than cut into a wrong one
PROPERTY_PATH_LIMIT = 100
PROPERTY_VALUE_LIMIT = 300
MAX_PROPERTIES = 40  # four sections of ten fields; the budget usually bites first
ELLIPSIS = "…"
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")


@dataclass(frozen=True)
class VarianceLinks:
    """Where a message's links and buttons lead: the web app's pages under ``public_url``."""

    public_url: str

    @property
    def _base(self) -> str:
        return self.public_url.rstrip("/")

    def account(self, account_id: str) -> str:
        return f"{self._base}/accounts/{quote(account_id, safe='')}"

    def contact(self, contact_id: str) -> str:
        return f"{self._base}/contacts/{quote(contact_id, safe='')}"

    def stream(self, stream_id: str) -> str:
        return f"{self._base}/streams/{quote(stream_id, safe='')}"


@dataclass(frozen=True, kw_only=True)
class StreamMatchMessage:
    """What a stream match message shows. ``event_time`` is in microseconds (as in the
    warehouse); ``properties`` are the event's, as a dict."""

    stream_id: str
    stream_name: str
    kind: str
    event_time: int
    name: str | None = None
    contact_id: str | None = None
    contact_name: str | None = None
    contact_email: str | None = None
    account_id: str | None = None
    account_name: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    owner_slack_id: str | None = None  # the account owner's Slack user (users.lookupByEmail)

    @classmethod
    def from_match(cls, match: Mapping[str, Any], stream_name: str) -> StreamMatchMessage:
        """From a stream match as the pipeline has it (the fields of ``StreamMatchRecord``, the
        stream's id among them, plus ``contact_name``, ``contact_email``, ``account_name`` and
        ``properties`` when known; ``properties`` may be a dict or its JSON text)."""
        properties = match.get("properties") or {}
        if isinstance(properties, str):
            try:
                properties = json.loads(properties)
            except ValueError:
                properties = {}
        return cls(
            stream_id=match["stream_id"],
            stream_name=stream_name,
            kind=match["kind"],
            event_time=match["event_time"],
            name=match.get("name"),
            contact_id=match.get("contact_id"),
            contact_name=match.get("contact_name"),
            contact_email=match.get("contact_email"),
            account_id=match.get("account_id"),
            account_name=match.get("account_name"),
            properties=properties if isinstance(properties, Mapping) else {},
        )


@dataclass(frozen=True, kw_only=True)
class MilestoneChangeMessage:
    """What a milestone message shows: a milestone achieved or lost by an account or a
    contact, with the count at the change and the milestone's window (None: all time)."""

    stream_id: str
    stream_name: str
    milestone_name: str
    change: ChangeKind
    count: int
    window: timedelta | None
    changed_at: int
    entity_type: EntityType
    entity_id: str
    entity_name: str | None = None  # the account's name, or the contact's name or email

    @classmethod
    def from_change(
        cls,
        change: Mapping[str, Any],
        *,
        stream_id: str,
        stream_name: str,
        window: timedelta | None,
        entity_name: str | None = None,
    ) -> MilestoneChangeMessage:
        """From a milestone change as the pipeline has it (the fields of ``MilestoneChangeRecord``)."""
        return cls(
            stream_id=stream_id,
            stream_name=stream_name,
            milestone_name=change["milestone_name"],
            change=ChangeKind(change["kind"]),
            count=change["count"],
            window=window,
            changed_at=change["changed_at"],
            entity_type=EntityType(change["entity_type"]),
            entity_id=change["entity_id"],
            entity_name=entity_name,
        )


# -- building blocks ------------------------------------------------------------------------


def cut(text: str, limit: int) -> str:
    """``text`` (already escaped) in at most ``limit`` characters, ending with an ellipsis when
    cut, and never cut inside an ``&...;`` entity."""
    if len(text) <= limit:
        return text
    kept = text[: limit - len(ELLIPSIS)]
    amp = kept.rfind("&")
    if amp != -1 and ";" not in kept[amp:]:
        kept = kept[:amp]
    return kept + ELLIPSIS


def inert(value: str, limit: int) -> str:
    """A value from an event, escaped and cut to ``limit`` (escaping only lengthens, so a
    longer value's first ``limit + 1`` characters are all that can show)."""
    return cut(escape(value[: limit + 1]), limit)


def _plain(text: str) -> dict:
    return {"type": "plain_text", "text": text, "emoji": True}


def _mrkdwn(text: str) -> dict:
    return {"type": "mrkdwn", "text": text}


def _header(text: str) -> dict:
    return {"type": "header", "text": _plain(cut(text, HEADER_LIMIT))}


def _fields(pairs: Sequence[tuple[str, str]]) -> dict:
    """A section of up to ten ``*label*\\nvalue`` fields; label and value already inert."""
    return {"type": "section", "fields": [_mrkdwn(cut(f"*{label}*\n{value}", FIELD_LIMIT)) for label, value in pairs]}


def _context(text: str) -> dict:
    return {"type": "context", "elements": [_mrkdwn(cut(text, SECTION_TEXT_LIMIT))]}


def _actions(buttons: Sequence[tuple[str, str, str]]) -> list[dict]:
    """An actions block of link buttons (text, url, action id), none when no url fits."""
    elements = [
        {"type": "button", "text": _plain(cut(text, BUTTON_TEXT_LIMIT)), "url": url, "action_id": action_id}
        for text, url, action_id in buttons
        if len(url) <= URL_LIMIT
    ]
    return [{"type": "actions", "elements": elements}] if elements else []


def _link(url: str, label: str) -> str:
    """A mrkdwn link; ``label`` already inert (an escaped ``>`` cannot close it early)."""
    return f"<{url}|{label}>" if len(url) <= URL_LIMIT else label


def _when(micros: int) -> str:
    """Slack's date token: shown in each reader's time zone, with UTC as the fallback."""
    seconds = micros // 1_000_000
    return f"<!date^{seconds}^{{date_short_pretty}} at {{time}}|{format_timestamp(micros)}>"


def _payload(text: str, blocks: list[dict]) -> dict:
    return {"text": cut(text, TEXT_LIMIT), "blocks": blocks, "unfurl_links": False, "unfurl_media": False}


def payload_size(payload: Mapping[str, Any]) -> int:
    """Characters of JSON as slack-sdk sends it (``json.dumps`` defaults: ASCII, spaces)."""
    return len(json.dumps(payload))


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _lookup(properties: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """The value at a dotted ``path`` (``plan.name``), or (False, None) when absent."""
    value: Any = properties
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


def shown_properties(properties: Mapping[str, Any], paths: Sequence[str] | None) -> list[tuple[str, str]]:
    """The properties a message shows as inert (path, value) pairs: the named ``paths`` that
    are present, in that order, or else every top-level property."""
    if paths is None:
        chosen = [(str(key), value) for key, value in properties.items()]
    else:
        chosen = [(path, found[1]) for path in paths if (found := _lookup(properties, path))[0]]
    return [
        (inert(path, PROPERTY_PATH_LIMIT), inert(_value_text(value), PROPERTY_VALUE_LIMIT)) for path, value in chosen
    ]


# -- stream match ---------------------------------------------------------------------------


def _who(message: StreamMatchMessage) -> str | None:
    """The contact as people know them: name, else email, else id."""
    return message.contact_name or message.contact_email or message.contact_id


def _follow_actions(message: StreamMatchMessage) -> list[dict]:
    """Follow / Unfollow buttons (the interactivity endpoint acts on them) for the contact
    and the account; an id longer than a button's value may hold gets none."""
    elements = []
    for noun, entity_id in (("contact", message.contact_id), ("account", message.account_id)):
        if entity_id and len(entity_id) <= BUTTON_VALUE_LIMIT:
            for verb in ("follow", "unfollow"):
                elements.append(
                    {
                        "type": "button",
                        "text": _plain(f"{verb.capitalize()} {noun}"),
                        "action_id": f"{verb}_{noun}",
                        "value": entity_id,
                    }
                )
    return [{"type": "actions", "block_id": "variance_follow", "elements": elements}] if elements else []


def _match_blocks(
    message: StreamMatchMessage,
    links: VarianceLinks,
    properties: list[tuple[str, str]],
    left_out: int,
    limit: int,
    *,
    follow_buttons: bool,
) -> list[dict]:
    what = f"{message.kind}: {message.name}" if message.name else message.kind
    facts: list[tuple[str, str]] = []
    who = _who(message)
    if message.contact_id and who:
        facts.append(("Who", _link(links.contact(message.contact_id), inert(who, limit))))
    if message.account_id:
        account = message.account_name or message.account_id
        facts.append(("Account", _link(links.account(message.account_id), inert(account, limit))))
    if message.owner_slack_id and SLACK_USER_ID.fullmatch(message.owner_slack_id):
        facts.append(("Owner", f"<@{message.owner_slack_id}>"))  # an id Slack gave us, checked: a real mention
    facts.append(("When", _when(message.event_time)))
    facts.append(("Stream", _link(links.stream(message.stream_id), inert(message.stream_name, limit))))
    blocks = [_header(inert(what, min(limit, HEADER_LIMIT))), _fields(facts)]
    for start in range(0, len(properties), MAX_FIELDS):
        blocks.append(_fields(properties[start : start + MAX_FIELDS]))
    if left_out:
        noun = "property" if left_out == 1 else "properties"
        blocks.append(_context(f"{left_out} more {noun} not shown: the whole event is in Variance."))
    buttons = []
    if message.contact_id:
        buttons.append(("Open contact in Variance", links.contact(message.contact_id), "open_contact"))
    if message.account_id:
        buttons.append(("Open account in Variance", links.account(message.account_id), "open_account"))
    return blocks + _actions(buttons) + (_follow_actions(message) if follow_buttons else [])


def match_text(message: StreamMatchMessage, limit: int = LABEL_LIMIT) -> str:
    """The plain fallback: ``[stream] Kind: name — who / account``, every value inert."""
    what = inert(message.kind, limit)
    if message.name:
        what += f": {inert(message.name, limit)}"
    account = message.account_name or message.account_id
    who = " / ".join(inert(x, limit) for x in (_who(message), account) if x)
    return f"[{inert(message.stream_name, limit)}] {what}" + (f" — {who}" if who else "")


def match_message(
    message: StreamMatchMessage,
    links: VarianceLinks,
    property_paths: Sequence[str] | None = None,
    *,
    follow_buttons: bool = False,
) -> dict:
    """The ``chat.postMessage`` arguments for one stream match. ``property_paths`` (dotted,
    as a stream names them) picks the properties shown; None shows them all, as many as fit.
    Over the budget, properties go first (from the end), then names shrink."""
    candidates = shown_properties(message.properties, property_paths)
    shown, limit = candidates[:MAX_PROPERTIES], LABEL_LIMIT

    def build() -> dict:
        left_out = len(candidates) - len(shown)
        blocks = _match_blocks(message, links, shown, left_out, limit, follow_buttons=follow_buttons)
        return _payload(match_text(message, limit), blocks)

    payload = build()
    while payload_size(payload) > PAYLOAD_BUDGET and (shown or limit > MIN_LABEL_LIMIT):
        if shown:
            shown = shown[:-1]
        else:
            limit = max(MIN_LABEL_LIMIT, limit // 2)
        payload = build()
    return payload


# -- milestone achieved or lost -------------------------------------------------------------


def _window_text(window: timedelta | None) -> str:
    return f"within {format_duration(window)}" if window else "all time"


def milestone_text(message: MilestoneChangeMessage, limit: int = LABEL_LIMIT) -> str:
    """The plain fallback: ``[stream] Milestone: name achieved — entity (count, window)``
    (``Milestone: name`` as the one-line match of a milestone event has always read)."""
    entity = inert(message.entity_name or message.entity_id, limit)
    return (
        f"[{inert(message.stream_name, limit)}] Milestone: "
        f"{inert(message.milestone_name, limit)} {message.change.value} — {entity} "
        f"({message.count} events {_window_text(message.window)})"
    )


def _milestone_blocks(message: MilestoneChangeMessage, links: VarianceLinks, limit: int) -> list[dict]:
    label = inert(message.entity_name or message.entity_id, limit)
    if message.entity_type == EntityType.account:
        url, noun = links.account(message.entity_id), "account"
    else:
        url, noun = links.contact(message.entity_id), "contact"
    facts = [
        ("Milestone", inert(message.milestone_name, limit)),
        (noun.capitalize(), _link(url, label)),
        ("Count", f"{message.count} events {_window_text(message.window)}"),
        ("When", _when(message.changed_at)),
        ("Stream", _link(links.stream(message.stream_id), inert(message.stream_name, limit))),
    ]
    header = f"Milestone {message.change.value}: {inert(message.milestone_name, min(limit, HEADER_LIMIT))}"
    return [_header(header), _fields(facts), *_actions([(f"Open {noun} in Variance", url, f"open_{noun}")])]


def milestone_message(message: MilestoneChangeMessage, links: VarianceLinks) -> dict:
    """The ``chat.postMessage`` arguments for a milestone achieved or lost (its own layout:
    milestone, who, count and window, when, stream)."""
    limit = LABEL_LIMIT
    payload = _payload(milestone_text(message, limit), _milestone_blocks(message, links, limit))
    while payload_size(payload) > PAYLOAD_BUDGET and limit > MIN_LABEL_LIMIT:
        limit = max(MIN_LABEL_LIMIT, limit // 2)
        payload = _payload(milestone_text(message, limit), _milestone_blocks(message, links, limit))
    return payload


# -- digest of a burst ----------------------------------------------------------------------

DIGEST_TOP_ITEMS = 10  # the newest matches listed one per line
DIGEST_TOP_ACCOUNTS = 10  # accounts listed with their counts; the rest summed up


def _item_line(message: StreamMatchMessage, links: VarianceLinks) -> str:
    what = inert(message.kind, 60) + (f": {inert(message.name, 100)}" if message.name else "")
    who = _who(message)
    parts = [f"*{what}*"]
    if message.contact_id and who:
        parts.append(_link(links.contact(message.contact_id), inert(who, 80)))
    if message.account_id:
        parts.append(_link(links.account(message.account_id), inert(message.account_name or message.account_id, 80)))
    return "• " + " — ".join(parts) + f" ({_when(message.event_time)})"


def digest_text(stream_name: str, total: int, accounts: int) -> str:
    """The plain fallback of a digest: how many matches, over how many accounts."""
    noun = "match" if total == 1 else "matches"
    where = f" across {accounts} account{'s' if accounts != 1 else ''}" if accounts else ""
    return f"[{inert(stream_name, LABEL_LIMIT)}] {total} {noun}{where}"


def digest_message(
    stream_id: str, stream_name: str, messages: Sequence[StreamMatchMessage], links: VarianceLinks
) -> dict:
    """One message summing up a burst of matches for one stream's channel: the count, the
    accounts with the most matches, the newest items, and a button to the stream where every
    one of them is. ``messages`` may be any number; the payload stays within Slack's limits."""
    by_account: dict[str, tuple[str, int]] = {}
    no_account = 0
    for m in messages:
        if m.account_id:
            name, n = by_account.get(m.account_id, (m.account_name or m.account_id, 0))
            by_account[m.account_id] = (m.account_name or name, n + 1)
        else:
            no_account += 1
    ranked = sorted(by_account.items(), key=lambda item: (-item[1][1], item[0]))
    lines = [
        f"{_link(links.account(account_id), inert(name, 80))}: {n}"
        for account_id, (name, n) in ranked[:DIGEST_TOP_ACCOUNTS]
    ]
    others = sum(n for _, (_, n) in ranked[DIGEST_TOP_ACCOUNTS:])
    if others:
        lines.append(f"{len(ranked) - DIGEST_TOP_ACCOUNTS} more accounts: {others}")
    if no_account:
        lines.append(f"no account: {no_account}")
    newest = sorted(messages, key=lambda m: m.event_time, reverse=True)[:DIGEST_TOP_ITEMS]
    stream_label = inert(stream_name, 100)
    total = len(messages)
    blocks = [
        _header(f"{total} new in {stream_label}"),
        {"type": "section", "text": _mrkdwn(cut("*By account*\n" + "\n".join(lines), SECTION_TEXT_LIMIT))},
        {
            "type": "section",
            "text": _mrkdwn(cut("*Newest*\n" + "\n".join(_item_line(m, links) for m in newest), SECTION_TEXT_LIMIT)),
        },
    ]
    if total > len(newest):
        blocks.append(
            _context(
                f"{total - len(newest)} more in the stream. Slack shows about one message a "
                "second per channel, so a burst arrives as this digest."
            )
        )
    blocks += _actions([("Open stream in Variance", links.stream(stream_id), "open_stream")])
    payload = _payload(digest_text(stream_name, total, len(by_account)), blocks)
    while payload_size(payload) > PAYLOAD_BUDGET and len(blocks) > 2:  # cannot happen with the cuts above
        blocks.pop(2)
        payload = _payload(digest_text(stream_name, total, len(by_account)), blocks)
    return payload


# -- smart tag entered or left --------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TagChangeMessage:
    """What a smart tag message shows: an account or contact entering or leaving a tag."""

    stream_id: str
    stream_name: str
    tag_name: str
    entered: bool
    changed_at: int  # microseconds
    entity_type: EntityType
    entity_id: str
    entity_name: str | None = None  # the account's name, or the contact's name or email

    @classmethod
    def from_tag(
        cls, tag: Mapping[str, Any], *, stream_id: str, stream_name: str, entity_name: str | None = None
    ) -> TagChangeMessage:
        """From the ``tag`` part of an outbox payload (the serving sink writes it)."""
        return cls(
            stream_id=stream_id,
            stream_name=stream_name,
            tag_name=tag["tag_name"],
            entered=bool(tag["entered"]),
            changed_at=tag["changed_at"],
            entity_type=EntityType(tag["entity_type"]),
            entity_id=tag["entity_id"],
            entity_name=entity_name,
        )


def tag_text(message: TagChangeMessage, limit: int = LABEL_LIMIT) -> str:
    """The plain fallback: ``[stream] Acme entered Hot Trial``."""
    entity = inert(message.entity_name or message.entity_id, limit)
    verb = "entered" if message.entered else "left"
    return f"[{inert(message.stream_name, limit)}] {entity} {verb} {inert(message.tag_name, limit)}"


def _tag_blocks(message: TagChangeMessage, links: VarianceLinks, limit: int) -> list[dict]:
    label = inert(message.entity_name or message.entity_id, limit)
    if message.entity_type == EntityType.account:
        url, noun = links.account(message.entity_id), "account"
    else:
        url, noun = links.contact(message.entity_id), "contact"
    verb = "entered" if message.entered else "left"
    facts = [
        ("Tag", inert(message.tag_name, limit)),
        (noun.capitalize(), _link(url, label)),
        ("When", _when(message.changed_at)),
        ("Stream", _link(links.stream(message.stream_id), inert(message.stream_name, limit))),
    ]
    short = min(limit, HEADER_LIMIT // 2)
    header = f"{inert(message.entity_name or message.entity_id, short)} {verb} {inert(message.tag_name, short)}"
    return [_header(header), _fields(facts), *_actions([(f"Open {noun} in Variance", url, f"open_{noun}")])]


def tag_message(message: TagChangeMessage, links: VarianceLinks) -> dict:
    """The ``chat.postMessage`` arguments for an entity entering or leaving a smart tag
    (its own layout: who entered or left which tag, when, stream)."""
    limit = LABEL_LIMIT
    payload = _payload(tag_text(message, limit), _tag_blocks(message, links, limit))
    while payload_size(payload) > PAYLOAD_BUDGET and limit > MIN_LABEL_LIMIT:
        limit = max(MIN_LABEL_LIMIT, limit // 2)
        payload = _payload(tag_text(message, limit), _tag_blocks(message, links, limit))
    return payload
