"""Which streams an event belongs to.

Accounts & Contacts streams carry every event of the contacts and accounts followed into
them; Event Type streams carry every event whose type (kind, and name for Action and
Milestone) matches one of their selectors, narrowed by the selector's property filters
and connection name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from variance.core.engine.config import OrgConfig, SelectorSpec
from variance.core.filters import matches as filters_match
from variance.core.vocabulary import EntityType, MatchedBy


@dataclass(frozen=True)
class Match:
    stream_id: str
    matched_by: str  # MatchedBy's value: follow:contact | follow:account | selector


def selector_matches(
    selector: SelectorSpec, kind: str, name: str | None, connection_name: str | None, properties: Mapping[str, Any]
) -> bool:
    if selector.kind != kind:
        return False
    if selector.name is not None and selector.name != name:
        return False
    if selector.connection_name is not None and selector.connection_name != connection_name:
        return False
    return filters_match(selector.filters, properties)


def stream_matches(
    config: OrgConfig,
    *,
    kind: str,
    name: str | None,
    connection_name: str | None,
    properties: Mapping[str, Any],
    contact_id: str | None,
    account_id: str | None,
) -> list[Match]:
    """The streams an event goes to, each once, in stream id order."""
    found: dict[str, str] = {}
    if contact_id is not None:
        for stream_id in config.follows.get((EntityType.contact.value, contact_id), ()):
            found.setdefault(stream_id, MatchedBy.follow_contact.value)
    if account_id is not None:
        for stream_id in config.follows.get((EntityType.account.value, account_id), ()):
            found.setdefault(stream_id, MatchedBy.follow_account.value)
    for stream in config.event_type_streams():
        if stream.id in found:
            continue
        if any(selector_matches(s, kind, name, connection_name, properties) for s in stream.selectors):
            found[stream.id] = MatchedBy.selector.value
    return [Match(stream_id, found[stream_id]) for stream_id in sorted(found)]
