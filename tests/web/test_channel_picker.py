"""The stream forms' Slack channel picker in process: with Slack connected, the organisation's
channels matching what was typed (from the fake Slack over real HTTP, listed once a minute),
picking one fills the id and name, and saving keeps only a channel the bot can see; without
Slack, the form says so and takes the id and name by hand."""

from __future__ import annotations

import re

from tests.web.conftest import csrf_of
from variance.appdb.models import Stream
from variance.workspace import streams


def _default_stream(web) -> str:
    with web.sessions() as session:
        return streams.default_stream_id(session, web.admin_id)


def _picks(html: str) -> list[str]:
    return re.findall(r'aria-label="Pick (#[^"]+)"', html)


def test_typing_lists_matching_channels_of_the_organisations_slack(web_with_slack, fake_slack):
    client, _ = web_with_slack.signed_in()
    form = client.get(f"/streams/{_default_stream(web_with_slack)}/edit")
    assert form.status_code == 200
    assert 'hx-get="/slack-channels"' in form.text and "Find a Slack channel" in form.text
    assert 'data-testid="slack-unavailable"' not in form.text

    found = client.get("/slack-channels", params={"q": "sig"}, headers={"HX-Request": "true"})
    assert found.status_code == 200
    assert _picks(found.text) == ["#signals", "#sales-signals"]  # starting with, then containing
    assert "<html" not in found.text  # the block alone
    assert _picks(client.get("/slack-channels", params={"q": "#vip"}).text) == ["#vip-deals"]
    vip = client.get("/slack-channels", params={"q": "vip"}).text
    assert "private" in vip and "invite Variance to it before it can post there" in vip
    none = client.get("/slack-channels", params={"q": "zzz"}).text
    assert _picks(none) == [] and "No channel matches “zzz”" in none
    listed = [name for name, _ in fake_slack.calls if name == "conversations.list"]
    assert len(listed) == 1  # four searches, one listing: the directory's one-minute cache


def test_picking_a_channel_fills_the_id_and_name_and_saving_posts_there(web_with_slack):
    client, csrf = web_with_slack.signed_in()
    stream_id = _default_stream(web_with_slack)
    picked = client.get("/slack-channels/pick", params={"id": "C0SALES", "name": "#sales-signals"})
    assert picked.status_code == 200
    assert '<input type="hidden" name="slack_channel_id" value="C0SALES">' in picked.text
    assert '<input type="hidden" name="slack_channel_name" value="#sales-signals">' in picked.text
    assert 'id="channel-choices" hx-swap-oob="true"' in picked.text  # the list closes
    cleared = client.get("/slack-channels/pick").text
    assert 'name="slack_channel_id" value=""' in cleared and "does not post to Slack" in cleared
    assert client.get("/slack-channels/pick", params={"id": "bad id"}).status_code == 400

    saved = client.post(
        f"/streams/{stream_id}/edit",
        data={"name": "Ada's Stream", "slack_channel_id": "C0SALES", "slack_channel_name": "typed", "csrf_token": csrf},
    )
    assert saved.status_code == 303
    with web_with_slack.sessions() as session:
        stream = session.get(Stream, stream_id)
        assert (stream.slack_channel_id, stream.slack_channel_name) == ("C0SALES", "#sales-signals")  # Slack's name

    unknown = client.post(
        f"/streams/{stream_id}/edit",
        data={"name": "Ada's Stream", "slack_channel_id": "C0NOPE", "slack_channel_name": "#nope", "csrf_token": csrf},
    )
    assert unknown.status_code == 400
    assert "<strong>slack_channel</strong>: no channel of that id that Variance can see" in unknown.text


def test_a_new_stream_gets_its_channel_from_the_picker(web_with_slack):
    client, _ = web_with_slack.signed_in()
    page = client.get("/streams")
    assert "Find a Slack channel" in page.text
    made = client.post(
        "/streams",
        data={
            "name": "Deals",
            "slack_channel_id": "C0GENERAL",
            "slack_channel_name": "",
            "csrf_token": csrf_of(page.text),
        },
    )
    assert made.status_code == 303
    listing = client.get("/streams").text
    assert re.search(r">Deals</a>.*?<td>#general</td>", listing, re.S)


def test_slack_refusing_says_what_to_do_in_place_of_the_list(web_with_slack, fake_slack):
    client, _ = web_with_slack.signed_in()
    fake_slack.fail("missing_scope", method="conversations.list")
    answer = client.get("/slack-channels", params={"q": "sig"})
    assert answer.status_code == 200
    assert (
        '<p class="error" role="alert">Slack answered missing_scope: reinstall Slack: '
        "Variance needs the channels:read and groups:read scopes</p>"
    ) in answer.text


def test_without_slack_the_form_says_so_and_takes_the_channel_by_hand(web):
    client, csrf = web.signed_in()
    stream_id = _default_stream(web)
    form = client.get(f"/streams/{stream_id}/edit").text
    assert "Slack is not connected for this organisation" in form
    assert '<a href="/integrations">Integrations</a>' in form  # the admin is told where to connect it
    assert 'hx-get="/slack-channels"' not in form and 'name="slack_channel_id" placeholder="C024BE91L"' in form
    assert _picks(client.get("/slack-channels", params={"q": "a"}).text) == []
    saved = client.post(
        f"/streams/{stream_id}/edit",
        data={
            "name": "Ada's Stream",
            "slack_channel_id": "C024BE91L",
            "slack_channel_name": "#pricing",
            "csrf_token": csrf,
        },
    )
    assert saved.status_code == 303
    assert "posts to Slack #pricing" in client.get(f"/streams/{stream_id}").text
