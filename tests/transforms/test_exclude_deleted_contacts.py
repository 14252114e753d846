"""ExcludeDeletedContacts: a batch without the deleted contacts' events, their anonymous
visits included when the batch itself (or the request) links them."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.support.events import T0, event
from variance.core.contact_deletion import DeletedContact
from variance.transforms.contact_deletion import ExcludeDeletedContacts


def call(org: str, message_id: str, type_: str = "track", **kw):
    return (org, event(type_, message_id, T0, org=org, **kw))


EVENTS = [
    call("org_a", "visit", "page", anon="visitor"),  # before u1 was identified: u1's
    call("org_a", "identify", "identify", user="u1", anon="visitor"),
    call("org_a", "invite", user="u1", name="Invited User"),
    call("org_a", "tablet", "page", anon="tablet"),  # linked by the request, not by the batch
    call("org_a", "other", user="u2", name="Invited User"),
    call("org_a", "stranger", "page", anon="stranger"),
    call("org_b", "same-ids", user="u1", name="Invited User"),  # another organisation's u1
    call("org_b", "same-visitor", "page", anon="visitor"),
]


def test_the_deleted_contact_s_events_are_left_out():
    deleted = (DeletedContact("org_a", "u1", ("tablet",)),)
    with TestPipeline() as p:
        kept = p | beam.Create(EVENTS) | ExcludeDeletedContacts(deleted) | beam.Map(lambda e: e[1].message_id)
        assert_that(kept, equal_to(["other", "stranger", "same-ids", "same-visitor"]))


def test_without_requests_everything_passes():
    with TestPipeline() as p:
        kept = p | beam.Create(EVENTS) | ExcludeDeletedContacts(()) | beam.Map(lambda e: e[1].message_id)
        assert_that(kept, equal_to([e.message_id for _, e in EVENTS]))
