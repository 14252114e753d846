"""Which entity an event belongs to, as of its own event time (DESIGN.md): the contact
from userId or a linked anonymousId, the account from the event's groupId or the
contact's link, each link made by the connection's account mapping."""

from __future__ import annotations

import pytest

from tests.support.events import HOUR, T0, event, track
from variance.core.identity import (
    AccountLink,
    IdentityGraph,
    Timeline,
    account_link_of,
    email_domain,
    trait_at,
    user_links_of,
)
from variance.core.vocabulary import AccountMapping

GROUP, TRAITS, DOMAIN = AccountMapping.group, AccountMapping.identify_traits, AccountMapping.email_domain


def linked(graph: IdentityGraph, link_event) -> IdentityGraph:
    """Record the anonymousId -> userId links a call makes, as the engine does."""
    for anonymous_id, user_id in user_links_of(link_event):
        graph.link_user(anonymous_id, user_id, link_event.event_time, link_event.message_id)
    return graph


# -- contact ----------------------------------------------------------------------------


def test_the_user_id_is_the_contact_whatever_the_anonymous_id_is_linked_to():
    graph = linked(IdentityGraph(), event("identify", "i1", T0, user="u1", anon="a1"))
    assert graph.contact_of(track("t1", T0 + HOUR, user="u2", anon="a1")) == "u2"


def test_an_anonymous_event_belongs_to_the_user_linked_at_or_before_its_time():
    graph = linked(IdentityGraph(), event("identify", "i1", T0, user="u1", anon="a1"))
    assert graph.contact_of(track("before", T0 - 1, anon="a1")) == "a1"  # not yet linked: itself
    assert graph.contact_of(track("same-instant", T0, anon="a1")) == "u1"  # at counts
    assert graph.contact_of(track("after", T0 + HOUR, anon="a1")) == "u1"


def test_an_anonymous_id_linked_again_belongs_to_each_user_in_its_own_time():
    graph = IdentityGraph()
    linked(graph, event("identify", "i2", T0 + 2 * HOUR, user="u2", anon="a1"))  # arrives first
    linked(graph, event("identify", "i1", T0, user="u1", anon="a1"))
    assert graph.contact_of(track("t1", T0 + HOUR, anon="a1")) == "u1"
    assert graph.contact_of(track("t2", T0 + 3 * HOUR, anon="a1")) == "u2"


def test_an_alias_links_the_previous_id_to_the_user():
    alias = event("alias", "al1", T0, user="u1", previous="a1")
    assert user_links_of(alias) == [("a1", "u1")]
    graph = linked(IdentityGraph(), alias)
    assert graph.contact_of(event("page", "p1", T0 + 1, anon="a1")) == "u1"


@pytest.mark.parametrize(
    "call",
    [
        event("alias", "al-self", T0, user="u1", previous="u1"),  # an alias to itself links nothing
        event("alias", "al-none", T0, user="u1"),
        event("identify", "i-user-only", T0, user="u1"),
        event("identify", "i-anon-only", T0, anon="a1"),
        track("t-both", T0, user="u1", anon="a1"),  # only identify and alias link ids
    ],
    ids=lambda call: call.message_id,
)
def test_calls_that_link_no_ids(call):
    assert user_links_of(call) == []


def test_an_event_with_neither_id_has_no_contact():
    assert IdentityGraph().contact_of(track("t1", T0)) is None


# -- account ----------------------------------------------------------------------------


def test_the_events_group_id_wins_over_the_contacts_account():
    graph = IdentityGraph()
    graph.link_account("u1", "acme", T0, "g1")
    assert graph.account_of(track("t1", T0 + HOUR, user="u1", group="globex"), "u1") == "globex"


def test_the_account_is_the_one_linked_at_or_before_the_event_time():
    graph = IdentityGraph()
    graph.link_account("u1", "acme", T0, "g1")
    graph.link_account("u1", "globex", T0 + 2 * HOUR, "g2")
    assert graph.account_of(track("before", T0 - 1, user="u1"), "u1") is None  # before the first link: none
    assert graph.account_of(track("at", T0, user="u1"), "u1") == "acme"
    assert graph.account_of(track("between", T0 + HOUR, user="u1"), "u1") == "acme"
    assert graph.account_of(track("after", T0 + 3 * HOUR, user="u1"), "u1") == "globex"
    assert graph.account_of(track("anonymous", T0 + HOUR), None) is None


def test_an_anonymous_event_reaches_the_account_of_its_linked_user():
    graph = linked(IdentityGraph(), event("identify", "i1", T0, user="u1", anon="a1"))
    graph.link_account("u1", "acme", T0, "g1")
    page = event("page", "p1", T0 + HOUR, anon="a1")
    assert graph.account_of(page, graph.contact_of(page)) == "acme"


def test_links_at_the_same_instant_resolve_by_message_id_whatever_their_arrival_order():
    first, second = Timeline(), Timeline()
    first.add(T0, "acme", "m-a")
    first.add(T0, "globex", "m-b")
    second.add(T0, "globex", "m-b")
    second.add(T0, "acme", "m-a")
    assert first.at(T0) == second.at(T0) == "globex"
    first.add(T0, "acme", "m-a")  # the same link again changes nothing
    assert len(first) == 2


# -- account mapping per connection --------------------------------------------------------


def test_group_mapping_links_the_caller_to_the_group():
    call = event("group", "g1", T0, user="u1", group="acme", traits={"name": "Acme Inc", "plan": "pro"})
    assert account_link_of(call, GROUP, None, None) == AccountLink(
        "acme", "Acme Inc", None, {"name": "Acme Inc", "plan": "pro"}, "group"
    )


@pytest.mark.parametrize(
    "call",
    [
        event("identify", "i1", T0, user="u1", traits={"company": {"id": "acme"}, "email": "ada@acme.com"}),
        track("t1", T0, user="u1", group="acme"),  # an event's groupId attributes it; it links nothing
        event("group", "g-without-id", T0, user="u1"),
    ],
    ids=lambda call: call.message_id,
)
def test_group_mapping_links_only_group_calls(call):
    assert account_link_of(call, GROUP, None, None) is None


def test_identify_traits_mapping_reads_the_trait_paths():
    call = event("identify", "i1", T0, user="u1", traits={"company": {"id": "acme", "name": "Acme Inc", "plan": "pro"}})
    assert account_link_of(call, TRAITS, "company.id", "company.name") == AccountLink(
        "acme", "Acme Inc", None, {"id": "acme", "name": "Acme Inc", "plan": "pro"}, "identify_traits"
    )


@pytest.mark.parametrize(
    ("company_id", "account_id"),
    [(42, "42"), (42.0, "42"), ("acme", "acme"), (None, None), ("", None), ({"x": 1}, None), (True, None)],
)
def test_identify_traits_account_ids_are_scalar_text(company_id, account_id):
    call = event("identify", "i1", T0, user="u1", traits={"company": {"id": company_id}})
    link = account_link_of(call, TRAITS, "company.id", None)
    assert (link.account_id if link else None) == account_id


def test_identify_traits_mapping_ignores_other_calls_and_missing_paths():
    traits = {"company": {"id": "acme"}}
    assert account_link_of(event("group", "g1", T0, user="u1", group="acme"), TRAITS, "company.id", None) is None
    assert account_link_of(event("identify", "i1", T0, user="u1", traits=traits), TRAITS, "org.id", None) is None
    assert account_link_of(event("identify", "i2", T0, user="u1", traits=traits), TRAITS, None, None) is None


def test_email_domain_mapping_makes_the_work_domain_the_account():
    call = event("identify", "i1", T0, user="u1", traits={"email": "Ada@Acme.COM"})
    assert account_link_of(call, DOMAIN, None, None) == AccountLink(
        "acme.com", "acme.com", "acme.com", {}, "email_domain"
    )


@pytest.mark.parametrize("email", ["ada@gmail.com", "ada@Yahoo.com", "ada@hotmail.com", "ada@outlook.com"])
def test_free_webmail_never_becomes_an_account(email):
    call = event("identify", "i1", T0, user="u1", traits={"email": email})
    assert email_domain(email) is None
    assert account_link_of(call, DOMAIN, None, None) is None


@pytest.mark.parametrize(
    ("email", "domain"),
    [
        ("ada@acme.com", "acme.com"),
        ("ada@acme.com.", "acme.com"),
        (" ada@Sub.Acme.io ", "sub.acme.io"),
        ("no-at-sign", None),
        ("two@at@signs.com", None),
        ("ada@localhost", None),
        ("ada@", None),
        (42, None),
        (None, None),
    ],
)
def test_email_domains(email, domain):
    assert email_domain(email) == domain


def test_an_email_domain_link_holds_from_the_identify_time_on():
    graph = IdentityGraph()
    identify = event("identify", "i1", T0 + HOUR, user="u1", traits={"email": "ada@acme.com"})
    link = account_link_of(identify, DOMAIN, None, None)
    graph.link_account(graph.contact_of(identify), link.account_id, identify.event_time, identify.message_id)
    assert graph.account_of(track("early", T0, user="u1"), "u1") is None
    assert graph.account_of(track("late", T0 + 2 * HOUR, user="u1"), "u1") == "acme.com"


def test_trait_paths():
    traits = {"company": {"id": "acme", "plan": {"name": "pro"}}, "email": "ada@acme.com"}
    assert trait_at(traits, "company.plan.name") == "pro"
    assert trait_at(traits, "email") == "ada@acme.com"
    assert trait_at(traits, "company.missing") is None
    assert trait_at(traits, "email.domain") is None  # a string has no fields
    assert trait_at(traits, None) is None
