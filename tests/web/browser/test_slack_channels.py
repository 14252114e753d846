"""Editing a stream in a real browser with the organisation's Slack connected (the fake
Slack over real HTTP, as ``variance api`` reaches it): type part of a channel name, pick
it from the list, save, and the stream posts there. Another organisation, without Slack,
is told so and enters the channel by hand."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.fake_slack import TOKEN, Channel, FakeSlack
from tests.web.browser.conftest import PASSWORD, axe_violations, running, screenshot, sign_in_as
from variance.appdb.models import Stream
from variance.workspace import streams

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slack_app(emulator, tmp_path_factory):
    channels = [
        Channel("C0SIGNALS", "signals"),
        Channel("C0SALES", "sales-signals"),
        Channel("C0GENERAL", "general"),
        Channel("C0VIP", "vip-deals", is_private=True, is_member=False),
    ]
    with FakeSlack(channels=channels) as fake:
        env = {"VARIANCE_SLACK_TOKEN": TOKEN, "VARIANCE_SLACK_API_URL": fake.url}
        with running(emulator, tmp_path_factory.mktemp("web-slack"), env, slack_for_org=True) as app:
            yield app, fake


def test_edit_a_stream_and_pick_its_slack_channel_from_the_autocomplete(page, slack_app):
    app, fake = slack_app
    sign_in_as(page, app, app.admin_email)
    expect(page.get_by_role("heading", name="Ada's Stream")).to_be_visible()
    page.get_by_role("link", name="Edit stream").click()
    search = page.get_by_label("Find a Slack channel")
    search.press_sequentially("sig", delay=50)
    choices = page.get_by_role("list", name="Matching Slack channels").get_by_role("button")
    expect(choices).to_have_text(["#signals", "#sales-signals"])  # starting with, then containing
    assert axe_violations(page) == []
    screenshot(page, "stream-slack-channel")
    search.fill("vip")
    expect(choices).to_have_text(["#vip-deals"])
    expect(page.get_by_text("invite Variance to it before it can post there")).to_be_visible()
    search.fill("sales")
    page.get_by_role("button", name="Pick #sales-signals").click()
    expect(page.get_by_test_id("chosen-channel")).to_contain_text("Posts to #sales-signals (C0SALES)")
    expect(page.get_by_role("list", name="Matching Slack channels")).to_have_count(0)  # the list closed
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("posts to Slack #sales-signals")).to_be_visible()
    with app.session() as session:
        stream = session.get(Stream, streams.default_stream_id(session, app.users[app.admin_email]))
        assert (stream.slack_channel_id, stream.slack_channel_name) == ("C0SALES", "#sales-signals")
    # people type a letter at a time; Slack was asked for its channel list once
    assert sum(1 for method, _ in fake.calls if method == "conversations.list") == 1

    # a new stream picks its channel the same way
    page.goto(app.url + "/streams")
    page.get_by_label("Name", exact=True).fill("Deals")
    page.get_by_label("Find a Slack channel").press_sequentially("gen", delay=50)
    page.get_by_role("button", name="Pick #general").click()
    page.get_by_role("button", name="Add stream").click()
    expect(page.get_by_text("posts to Slack #general")).to_be_visible()


def test_without_slack_the_form_says_so_and_takes_the_channel_by_hand(page, slack_app):
    app, _ = slack_app
    other = app.cli("orgs", "create", "Other", "--admin-name", "Olga", "--admin-email", "olga@other.example")
    app.cli("users", "set-password", "--org", other["org_id"], "--email", "olga@other.example", stdin=PASSWORD + "\n")
    sign_in_as(page, app, "olga@other.example")
    page.get_by_role("link", name="Edit stream").click()
    expect(page.get_by_test_id("slack-unavailable")).to_have_text(
        "Slack is not connected for this organisation (connect it on Integrations): "
        "enter the channel's id and name by hand."
    )
    expect(page.get_by_label("Find a Slack channel")).to_have_count(0)
    page.get_by_label("Slack channel id").fill("C024BE91L")
    page.get_by_label("Slack channel name").fill("#pricing")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("posts to Slack #pricing")).to_be_visible()
