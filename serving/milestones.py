"""Each entity's current status per milestone, from milestone changes and their retractions.

The status of (organisation, milestone, entity) is the latest current change of the
milestone's current version (the ``milestones`` table's ``version``): ``achieved`` after
an achievement, not after a loss; ``count`` and ``changed_at`` are that change's;
``achieved_at`` is, when achieved, the time it was achieved, and when lost, the time of
the achievement that was lost (kept so that a retracted loss can restore it; the API
reads ``achieved_at`` only of achieved rows). Changes of another version, or of a
milestone no longer in the app database, are history for the warehouse, not status:
they are skipped, and stored statuses of another version are deleted as soon as a change
for that milestone arrives.

A retraction of an older change leaves the status alone. A retraction of the change in
force falls back to the latest current change this call carries, else to what the
stored row still knows: a retracted loss restores the achievement it lost (``count``
becomes the milestone's threshold, the count at an achievement unless several events
arrived at the very same instant); a retracted achievement deletes the row (the entity
does not hold the milestone; what it had before is not known here). Exact statuses
under every retraction need the change history in the app database (see the package's
notes for the lead).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, delete, select
from sqlalchemy.orm import Session

from variance.appdb.models import Milestone, MilestoneStatusRow
from variance.core.timeutil import from_micros, to_micros
from variance.core.vocabulary import ChangeKind, RowStatus
from variance.serving.sql import chunked, read_for_update, upsert

ACHIEVED, LOST = ChangeKind.achieved.value, ChangeKind.lost.value
_STATUS = MilestoneStatusRow.__table__


@dataclass(frozen=True, slots=True)
class Change:
    at_us: int
    kind: str
    count: int


@dataclass(frozen=True, slots=True)
class Stored:
    change: Change
    achieved_at_us: int | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """``change`` and ``achieved_at_us`` to store, or ``delete``; neither: keep as is."""

    change: Change | None = None
    achieved_at_us: int | None = None
    delete: bool = False


KEEP = Outcome()


def resolve(changes: list[dict], stored: Stored | None, threshold: int) -> Outcome:
    """The status after one call's changes for one key (all of the current version).

    ``changes`` holds the newest row of each change id in the call; ``stored`` is the
    stored status when it is of the same version.
    """
    current: dict[tuple[int, str], Change] = {}
    retracted: set[tuple[int, str]] = set()
    for row in changes:
        change = Change(row["changed_at"], row["kind"], row["count"])
        if row["status"] == RowStatus.current:
            current[(change.at_us, change.kind)] = change
        else:
            retracted.add((change.at_us, change.kind))
    stored_gone = stored is not None and (stored.change.at_us, stored.change.kind) in retracted
    candidates = list(current.values())
    if stored is not None and not stored_gone and (stored.change.at_us, stored.change.kind) not in current:
        candidates.append(stored.change)
    lost_achievement = (
        stored.achieved_at_us
        if stored is not None
        and stored.achieved_at_us is not None
        and (stored.achieved_at_us, ACHIEVED) not in retracted
        else None
    )
    if candidates:
        new = max(candidates, key=lambda c: c.at_us)
        if new.kind == ACHIEVED:
            return Outcome(new, new.at_us)
        earlier = [c.at_us for c in candidates if c.kind == ACHIEVED and c.at_us < new.at_us]
        if lost_achievement is not None and lost_achievement < new.at_us:
            earlier.append(lost_achievement)
        return Outcome(new, max(earlier) if earlier else None)
    if not stored_gone:
        return KEEP
    if stored.change.kind == LOST and lost_achievement is not None:
        return Outcome(Change(lost_achievement, ACHIEVED, threshold), lost_achievement)
    return Outcome(delete=True)


@dataclass
class MilestoneWrite:
    written: int = 0
    removed: int = 0
    skipped: int = 0  # changes of another version or of a deleted milestone


def write_statuses(
    session: Session, changes: dict[tuple[str, str, str], dict[str, tuple[Any, dict]]]
) -> MilestoneWrite:
    """Bring the status of every (organisation, milestone, entity) the changes touch up
    to date: one locking read of the stored statuses, one upsert, one delete."""
    result = MilestoneWrite()
    if not changes:
        return result
    specs = _current_milestones(session, {(org, milestone) for org, milestone, _ in changes})
    by_key: dict[tuple[str, str, str], list[dict]] = {}
    stale: set[tuple[str, str]] = set()  # milestones whose stored statuses may be of another version
    for key, by_id in changes.items():
        spec = specs.get(key[:2])
        for _, row in by_id.values():
            if spec is None or row["milestone_version"] != spec[0]:
                result.skipped += 1
                if spec is not None:
                    stale.add(key[:2])
            else:
                by_key.setdefault(key, []).append(row)
    writes, deletes = _plan(session, by_key, specs, stale)
    result.removed += _purge_other_versions(session, {m: specs[m][0] for m in stale})
    if deletes:
        session.execute(
            delete(_STATUS).where(
                _STATUS.c.org_id == bindparam("o"),
                _STATUS.c.milestone_id == bindparam("m"),
                _STATUS.c.entity_id == bindparam("e"),
            ),
            deletes,
        )
        result.removed += len(deletes)
    result.written = upsert(
        session,
        _STATUS,
        writes,
        lambda stmt: {c: stmt.excluded[c] for c in ("achieved", "count", "changed_at", "achieved_at", "version")},
    )
    return result


def _plan(session: Session, by_key, specs, stale: set) -> tuple[list[dict], list[dict]]:
    """The rows to write and the keys to delete; adds to ``stale`` the milestones found
    with a stored status of another version."""
    stored = _stored(session, by_key)
    writes, deletes = [], []
    for key, rows in sorted(by_key.items()):
        version, threshold = specs[key[:2]]
        old = stored.get(key)
        same_version = old if old is not None and old.version == version else None
        if old is not None and same_version is None:
            stale.add(key[:2])
        outcome = resolve(rows, _as_stored(same_version), threshold)
        if outcome.delete:
            deletes.append({"o": key[0], "m": key[1], "e": key[2]})
        elif outcome.change is not None:
            new = _status_row(key, version, outcome)
            if old is None or any(getattr(old, c) != v for c, v in new.items()):
                writes.append(new)
    return writes, deletes


def _current_milestones(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, int]]:
    """(org, milestone) -> (version, threshold) for milestones that still exist."""
    out = {}
    for chunk in chunked(sorted({m for _, m in keys})):
        query = select(Milestone.org_id, Milestone.id, Milestone.version, Milestone.threshold).where(
            Milestone.id.in_(chunk)
        )
        for org_id, milestone_id, version, threshold in session.execute(query):
            if (org_id, milestone_id) in keys:
                out[(org_id, milestone_id)] = (version, threshold)
    return out


def _stored(session: Session, keys) -> dict[tuple[str, str, str], Any]:
    wanted = set(keys)
    by_org: dict[str, set[str]] = {}
    for org_id, _, entity_id in wanted:
        by_org.setdefault(org_id, set()).add(entity_id)
    out = {}
    for org_id, entity_ids in by_org.items():
        for row in read_for_update(session, _STATUS, org_id, "entity_id", entity_ids):
            key = (org_id, row.milestone_id, row.entity_id)
            if key in wanted:
                out[key] = row
    return out


def _as_stored(row: Any) -> Stored | None:
    if row is None:
        return None
    kind = ACHIEVED if row.achieved else LOST
    achieved_at = to_micros(row.achieved_at) if row.achieved_at is not None else None
    return Stored(Change(to_micros(row.changed_at), kind, row.count), achieved_at)


def _status_row(key: tuple[str, str, str], version: int, outcome: Outcome) -> dict:
    change = outcome.change
    return {
        "org_id": key[0],
        "milestone_id": key[1],
        "entity_id": key[2],
        "achieved": change.kind == ACHIEVED,
        "count": change.count,
        "changed_at": from_micros(change.at_us),
        "achieved_at": from_micros(outcome.achieved_at_us) if outcome.achieved_at_us is not None else None,
        "version": version,
    }


def _purge_other_versions(session: Session, versions: dict[tuple[str, str], int]) -> int:
    """Statuses computed under another definition of a milestone are not its status.

    Run only when a call shows a milestone changed version (a change or a stored status
    of another version): it reads all of that milestone's statuses."""
    removed = 0
    for (org_id, milestone_id), version in sorted(versions.items()):
        result = session.execute(
            delete(_STATUS).where(
                and_(
                    _STATUS.c.org_id == org_id,
                    _STATUS.c.milestone_id == milestone_id,
                    _STATUS.c.version != version,
                )
            )
        )
        removed += result.rowcount or 0
    return removed
