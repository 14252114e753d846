"""The seeds' flows in a real browser: sign in as an invited user, find "NAME's Stream",
search an account and follow it, see its events arrive without a reload, add to a new
stream from the dropdown, edit a stream's Slack channel, build a view with a smart tag
and favorite it to the top, create a milestone and see who qualifies, add a connection
and copy its secret; members cannot reach admin pages; other organisations' URLs are 404;
event-supplied text is inert; axe-core finds no serious or critical violation."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from playwright.sync_api import expect

from tests.support import builders
from tests.web.browser.conftest import PASSWORD, axe_violations, screenshot, sign_in_as
from tests.web.builders import stream_item
from variance.appdb.types import utcnow
from variance.workspace import streams

pytestmark = pytest.mark.slow

XSS_ATTR = '"><img src=x onerror="window.__xss=1">'
XSS_SCRIPT = "<script>window.__xss=2</script>"


def nav(page, name: str):
    """A link of the main navigation (the left column)."""
    return (
        page.get_by_role("navigation", name="Main")
        .get_by_role("list", name="Workspace")
        .get_by_role("link", name=name, exact=True)
    )


def default_stream_id(app, email: str) -> str:
    with app.session() as session:
        return streams.default_stream_id(session, app.users[email])


def test_invited_user_sets_a_password_follows_an_account_and_sees_events_live(page, running_app):
    app = running_app
    app.insert(
        builders.account(app.org_id, "acme-corp", name="Acme Corp", domain="acme-corp.com", traits={"plan": "trial"}),
        builders.account(app.org_id, "globex", name="Globex", domain="globex.io"),
        builders.contact(app.org_id, "u-1", name="Wile E.", email="wile@acme-corp.com", account_id="acme-corp"),
    )
    created = app.cli("users", "create", "--org", app.org_id, "--name", "Mia", "--email", "mia@acme.example")
    app.users["mia@acme.example"] = created["id"]
    link = app.cli("users", "invite-link", "--org", app.org_id, "--user", created["id"])["url"]
    page.goto(app.url + "/welcome/" + link.rsplit("/", 1)[1])
    expect(page.get_by_role("heading", name="Welcome, Mia")).to_be_visible()
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Set password and sign in").click()
    expect(page.get_by_role("heading", name="Mia's Stream")).to_be_visible()
    expect(page.get_by_text("No events yet")).to_be_visible()

    nav(page, "Accounts").click()
    page.get_by_label("Search accounts").fill("acme")
    expect(page.get_by_role("link", name="Acme Corp")).to_be_visible()
    expect(page.get_by_role("link", name="Globex")).to_have_count(0)  # search narrowed the list without a reload
    page.get_by_role("link", name="Acme Corp").click()
    page.get_by_role("button", name="Follow", exact=True).click()
    expect(page.get_by_text("Following in:")).to_contain_text("Mia's Stream")

    # Add to new stream, from the dropdown
    page.get_by_text("Other streams").click()
    page.get_by_label("New stream name").fill("Trials")
    page.get_by_role("button", name="Add to new stream").click()
    expect(page.get_by_text("Following in:")).to_contain_text("Trials")
    screenshot(page, "account")

    # The stream's feed updates by itself when the pipeline writes a match
    stream_id = default_stream_id(app, "mia@acme.example")
    page.goto(f"{app.url}/streams/{stream_id}")
    expect(page.get_by_text("No events yet")).to_be_visible()
    app.insert(
        stream_item(
            app.org_id, stream_id, "live-1", at=utcnow(), name="Invited User", contact_id="u-1",
            account_id="acme-corp", properties={"role": "admin", "invitee": "road@runner.example"},
        )
    )  # fmt: skip
    expect(page.get_by_text("Action: Invited User")).to_be_visible(timeout=5000)
    expect(page.get_by_text("No events yet")).to_have_count(0)
    app.insert(stream_item(app.org_id, stream_id, "live-2", at=utcnow() + timedelta(seconds=1), name="Upgraded Plan"))
    expect(page.get_by_text("Action: Upgraded Plan")).to_be_visible(timeout=5000)
    items = page.locator("#feed > li:visible strong")
    expect(items).to_have_text(["Action: Upgraded Plan", "Action: Invited User"])  # newest first
    screenshot(page, "stream")

    # Edit the stream: a Slack channel
    page.get_by_role("link", name="Edit stream").click()
    page.get_by_label("Slack channel id").fill("C024BE91L")
    page.get_by_label("Slack channel name").fill("#trials")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("posts to Slack #trials")).to_be_visible()


def test_view_with_a_smart_tag_lands_in_the_sidebar_and_favorites_go_to_the_top(page, running_app):
    app = running_app
    app.insert(
        builders.account(app.org_id, "big-co", name="Big Co", traits={"plan": "pro", "seats": 80}),
        builders.account(app.org_id, "small-co", name="Small Co", traits={"plan": "pro", "seats": 3}),
    )
    sign_in_as(page, app, app.admin_email)
    nav(page, "Smart Tags").click()
    page.get_by_label("Name").fill("Big accounts")
    page.get_by_label("Condition 1").select_option("trait")
    page.locator("#c0-path").fill("seats")
    page.locator("#c0-op").select_option("gte")
    page.locator("#c0-value").fill("50")
    page.get_by_role("button", name="Create smart tag").click()
    expect(page.get_by_role("cell", name="Big accounts")).to_be_visible()

    nav(page, "Views").click()
    page.get_by_label("Name").fill("Big pro accounts")
    page.get_by_label("Condition 1").select_option("trait")
    page.locator("#c0-path").fill("plan")
    page.locator("#c0-op").select_option("equals")
    page.locator("#c0-value").fill("pro")
    page.get_by_label("Condition 2").select_option("tag")
    page.locator("#c1-op").select_option("has")
    page.locator("#c1-ref").select_option(label="Tag: Big accounts (account)")
    page.get_by_role("button", name="Create view").click()
    expect(page.get_by_text("1 account match now")).to_be_visible()
    expect(page.get_by_role("link", name="Big Co")).to_be_visible()
    expect(page.get_by_role("link", name="Small Co")).to_have_count(0)
    sidebar = page.get_by_test_id("sidebar-views")
    expect(sidebar.get_by_role("link", name="Big pro accounts")).to_be_visible()
    page.get_by_role("button", name="☆ Favorite").click()
    favorites = page.get_by_test_id("favorite-list")
    expect(favorites.get_by_role("link")).to_have_text(["Big pro accounts"])
    screenshot(page, "view")
    # a second favorite goes below; "Up" reorders the left column
    nav(page, "Streams").click()
    page.get_by_role("button", name="Favorite Ada's Stream").click()
    expect(favorites.get_by_role("link")).to_have_text(["Big pro accounts", "Ada's Stream"])
    page.get_by_role("button", name="Up: move Ada's Stream up").click()
    expect(favorites.get_by_role("link")).to_have_text(["Ada's Stream", "Big pro accounts"])


def test_admin_creates_a_milestone_and_sees_who_qualifies(page, running_app):
    app = running_app
    from tests.support.builders import achieved, event_type

    app.insert(event_type(app.org_id, "Action", "Invited User", count=12))
    sign_in_as(page, app, app.admin_email)
    nav(page, "Milestones").click()
    page.get_by_label("Name").fill("PQL")
    page.get_by_label("Event type").select_option(label="Action: Invited User")
    page.get_by_label("Threshold").fill("0")
    page.get_by_role("button", name="Create milestone").click()
    expect(page.get_by_role("alert")).to_contain_text("threshold")  # the API's rule, with its field
    page.get_by_label("Threshold").fill("3")
    page.get_by_label("Window (optional, e.g. 30d)").fill("30d")
    page.get_by_role("button", name="Create milestone").click()
    expect(page.get_by_role("heading", name="PQL")).to_be_visible()
    milestone_id = page.url.rsplit("/", 1)[1]
    app.insert(
        builders.account(app.org_id, "qual-co", name="Qualified Co"), achieved(app.org_id, milestone_id, "qual-co")
    )
    page.reload()
    expect(page.get_by_role("link", name="Qualified Co")).to_be_visible()
    screenshot(page, "milestone")


def test_admin_adds_a_connection_and_copies_its_secret(page, running_app):
    app = running_app
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app.url)
    sign_in_as(page, app, app.admin_email)
    nav(page, "Integrations").click()
    page.get_by_label("Name", exact=True).fill("web")
    page.get_by_label("Account mapping").select_option("identify_traits")
    page.get_by_role("button", name="Add connection").click()
    expect(page.get_by_role("alert")).to_contain_text("account_id_trait")
    page.get_by_label("Account id trait").fill("company.id")
    page.get_by_label("Account name trait").fill("company.name")
    page.get_by_role("button", name="Add connection").click()
    secret = page.locator("#secret").inner_text()
    assert re.fullmatch(r"vsec_[A-Za-z0-9_-]{43}", secret)
    page.get_by_role("button", name="Copy secret").click()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    screenshot(page, "integrations")
    page.goto(app.url + "/integrations")  # not reload(): that would post the form again
    expect(page.locator("#secret")).to_have_count(0)  # shown once
    expect(page.get_by_role("alert")).to_have_count(0)

    # Segment delivers a batch with one bad call: the page shows it without a reload
    row = page.get_by_test_id("connection-web")
    expect(row).to_contain_text("never")
    batch = [
        {"type": "track", "userId": "u1", "event": "Signed Up", "messageId": "ok-1"},
        {"type": "track", "userId": "u1", "messageId": "bad-1"},
    ]
    answer = httpx.post(app.url + "/v1/batch", json={"batch": batch}, auth=(secret, ""), timeout=30)
    assert answer.json()["accepted"] == 1
    expect(row).to_contain_text("1 accepted, 1 rejected", timeout=15_000)  # polled every 5 s
    rejected = page.get_by_role("list", name="Latest rejected calls of web")
    expect(rejected).to_contain_text("messageId bad-1 · batch[1].event: is required for track calls")
    screenshot(page, "integrations-health")

    # the organisation's time zone: refused with the field and rule, then every time shows in it
    page.get_by_label("Time zone").fill("Mars/Olympus_Mons")
    page.get_by_role("button", name="Save time zone").click()
    expect(page.get_by_role("alert")).to_have_text(
        "time_zone: must be an IANA time zone name, such as Europe/Paris, America/New_York or UTC"
    )
    page.get_by_label("Time zone").fill("Pacific/Auckland")
    page.get_by_role("button", name="Save time zone").click()
    expect(page.get_by_test_id("org-time-zone")).to_have_text("Pacific/Auckland")
    expect(page.get_by_test_id("connection-web")).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d NZ[DS]T"))


def test_members_cannot_reach_admin_pages_and_other_organisations_are_404(page, running_app):
    app = running_app
    member = app.person("Max")
    sign_in_as(page, app, member)
    expect(nav(page, "Integrations")).to_have_count(0)
    for path in ("/integrations", "/users"):
        response = page.goto(app.url + path)
        assert response.status == 403
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    other = app.cli("orgs", "create", "Other", "--admin-name", "Olga", "--admin-email", "olga@other.example")
    app.users["olga@other.example"] = other["admin_user_id"]
    app.insert(builders.account(other["org_id"], "their-co", name="Their Co"))
    theirs = default_stream_id(app, "olga@other.example")
    for path in (f"/streams/{theirs}", "/accounts/their-co"):
        assert page.goto(app.url + path).status == 404


def test_event_supplied_text_is_inert_on_every_page(page, running_app):
    app = running_app
    email = app.person("Eve")
    stream_id = default_stream_id(app, email)
    app.insert(
        builders.account(app.org_id, "evil-co", name=XSS_SCRIPT, domain="evil.example", traits={"note": XSS_ATTR}),
        builders.contact(app.org_id, "u-evil", name=XSS_ATTR, email="e@evil.example", account_id="evil-co"),
        stream_item(
            app.org_id, stream_id, "evil-1", at=utcnow(), name=XSS_SCRIPT, contact_id="u-evil", account_id="evil-co",
            properties={"title": XSS_ATTR, "body": XSS_SCRIPT}, connection_name=XSS_ATTR,
        ),
    )  # fmt: skip
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in_as(page, app, email)
    for path in (
        f"/streams/{stream_id}",
        "/accounts/evil-co",
        "/contacts/u-evil",
        "/accounts?q=%3Cscript",
        "/contacts",
    ):
        page.goto(app.url + path)
        page.wait_for_timeout(0)
        assert page.evaluate("window.__xss") is None, path
        assert page.locator("img[onerror]").count() == 0, path
    expect(page.get_by_text(XSS_ATTR).first).to_be_visible()  # shown as text
    assert dialogs == []


PAGES = [
    "/sign-in",
    "/streams",
    "/streams/{stream}",
    "/accounts",
    "/accounts/acme-corp",
    "/contacts",
    "/event-types",
    "/milestones",
    "/tags",
    "/views",
    "/integrations",
    "/users",
]


def test_no_serious_or_critical_accessibility_violation_on_any_page(page, running_app):
    app = running_app
    app.insert(builders.account(app.org_id, "acme-corp", name="Acme Corp", domain="acme-corp.com"))
    sign_in_as(page, app, app.admin_email)
    stream = default_stream_id(app, app.admin_email)
    found = {}
    for path in PAGES:
        if path == "/sign-in":
            page.context.clear_cookies()
        page.goto(app.url + path.format(stream=stream))
        found[path] = axe_violations(page)
        if path == "/sign-in":
            sign_in_as(page, app, app.admin_email)
    assert {p: v for p, v in found.items() if v} == {}
    page.goto(app.url + "/accounts")
    screenshot(page, "accounts-search")


def test_the_sign_in_form_works_from_the_keyboard_alone(page, running_app):
    app = running_app
    page.context.clear_cookies()
    page.goto(app.url + "/sign-in")
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")
    page.keyboard.type(app.admin_email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/streams/**")
    expect(page.get_by_role("heading", name="Ada's Stream")).to_be_visible()
    screenshot(page, "sign-in-done")
