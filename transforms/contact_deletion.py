"""Leaving deleted contacts' events out of a batch (a backfill over Segment archives).

The rule is ``core.contact_deletion``'s: an event is the contact's when its userId is one
of the contact's ids, or it has no userId and its anonymousId is one of them. The ids are
the contact id, the anonymousIds its deletion request learnt, and those the archive
itself links to it (identify and alias calls), whenever those calls come in the files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import apache_beam as beam
from apache_beam.metrics import Metrics

from variance.core.contact_deletion import DeletedContact
from variance.core.events import SignalEvent
from variance.core.identity import user_links_of

OrgEvent = tuple[str, SignalEvent]


DeletedProvider = Callable[[], Iterable[DeletedContact]]


def _ids(deleted: Iterable[DeletedContact]) -> frozenset[tuple[str, str]]:
    return frozenset((d.org_id, i) for d in deleted for i in d.ids)


class _Deleted:
    """The deletion requests, read once per worker (not where the graph is built: a
    Dataflow launcher cannot reach the app database)."""

    def __init__(self, deleted: DeletedProvider):
        self._provider = deleted
        self._ids: frozenset[tuple[str, str]] | None = None

    def ids(self) -> frozenset[tuple[str, str]]:
        if self._ids is None:
            self._ids = _ids(self._provider())
        return self._ids


class _LinkedToDeleted(beam.DoFn):
    def __init__(self, deleted: DeletedProvider):
        self._deleted = _Deleted(deleted)

    def process(self, element: OrgEvent):
        org_id, event = element
        deleted_ids = self._deleted.ids()
        if not deleted_ids:
            return
        for anonymous_id, user_id in user_links_of(event):
            if (org_id, user_id) in deleted_ids:
                yield (org_id, anonymous_id), True


class _KeepOthers(beam.DoFn):
    def __init__(self, deleted: DeletedProvider):
        self._deleted = _Deleted(deleted)
        self.left_out = Metrics.counter("contact_deletion", "events_left_out")

    def process(self, element: OrgEvent, linked):
        org_id, event = element
        deleted_ids = self._deleted.ids()
        if event.user_id:
            theirs = (org_id, event.user_id) in deleted_ids
        else:
            key = (org_id, event.anonymous_id)
            theirs = bool(event.anonymous_id) and (key in deleted_ids or key in linked)
        if theirs:
            self.left_out.inc()
            return
        yield element


class ExcludeDeletedContacts(beam.PTransform):
    """(org_id, SignalEvent) -> the same, without the deleted contacts' events.

    ``deleted`` gives the requests: a tuple, or a callable the workers call once."""

    def __init__(self, deleted: DeletedProvider | Iterable[DeletedContact]):
        super().__init__()
        if callable(deleted):
            self._deleted: DeletedProvider = deleted
        else:
            fixed = tuple(deleted)
            self._deleted = lambda: fixed

    def expand(self, events):
        linked = (
            events | "LinkedToDeleted" >> beam.ParDo(_LinkedToDeleted(self._deleted)) | "OncePerId" >> beam.Distinct()
        )
        return events | "KeepOthers" >> beam.ParDo(_KeepOthers(self._deleted), beam.pvalue.AsDict(linked))
