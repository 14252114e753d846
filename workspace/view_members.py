"""Who is in a view now: the accounts or contacts its definition holds, by name, paged,
with the total. Evaluated over the serving tables in SQL by ``variance.serving.tag_query``
(tested equal to ``variance.serving.tags``, the evaluator of smart tags), falling back to
that Python evaluation where SQL cannot decide, so the answer is current without waiting
for a refresh."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from variance.appdb.models import AccountRow, ContactRow
from variance.core.tag_tree import parse_definition
from variance.core.vocabulary import EntityType
from variance.serving import tag_query
from variance.serving import tags as membership
from variance.workspace import keyset, views
from variance.workspace.errors import InvalidInput
from variance.workspace.principals import Principal
from variance.workspace.schemas.feeds import ViewMember, ViewMembers


def _display(session: Session, org_id: str, entity: EntityType, ids: list[str]) -> dict[str, ViewMember]:
    """What the page shows of its members, read for the page's ids only."""
    if not ids:
        return {}
    if entity == EntityType.account:
        query = select(AccountRow.account_id, AccountRow.name, AccountRow.domain, AccountRow.last_seen_at).where(
            AccountRow.org_id == org_id, AccountRow.account_id.in_(ids)
        )
    else:
        query = select(ContactRow.contact_id, ContactRow.name, ContactRow.email, ContactRow.last_seen_at).where(
            ContactRow.org_id == org_id, ContactRow.contact_id.in_(ids)
        )
    return {
        entity_id: ViewMember(entity_id=entity_id, name=name, email_or_domain=point, last_seen_at=seen)
        for entity_id, name, point, seen in session.execute(query)
    }


def view_members(
    session: Session, principal: Principal, view_id: str, limit: int = 50, cursor: str | None = None
) -> ViewMembers:
    view = views.get_visible(session, principal, view_id)
    entity = EntityType(view.entity)
    definition = parse_definition(view.definition)
    found = tag_query.matching_in_sql(session, principal.org_id, entity, definition)
    if found is None:
        found = membership.matching(session, principal.org_id, entity, definition)
    start = 0
    if cursor:
        after = keyset.decode(cursor, 2)
        if not all(isinstance(v, str) for v in after):
            raise InvalidInput("cursor", "is not a cursor returned by this list")
        after_key = tuple(after)
        start = next((i for i, c in enumerate(found) if (c.search_name, c.entity_id) > after_key), len(found))
    page = found[start : start + limit]
    shown = _display(session, principal.org_id, entity, [m.entity_id for m in page])
    next_cursor = None
    if start + limit < len(found) and page:
        next_cursor = keyset.encode((page[-1].search_name, page[-1].entity_id))
    return ViewMembers(
        view_id=view.id,
        entity=entity.value,
        total=len(found),
        items=[shown[m.entity_id] for m in page if m.entity_id in shown],
        next_cursor=next_cursor,
    )
