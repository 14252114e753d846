"""The seller's story through the whole local stack: Google's emulator, ``variance api``
and ``variance pipeline`` as processes. An admin adds a connection in the browser and
copies its secret; Segment's Python library sends calls with it; the account shows up,
the seller follows it, and the next events appear in "NAME's Stream" without a reload."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect
from segment.analytics import Client

from tests.web.browser.conftest import PASSWORD, screenshot, sign_in_as
from variance.stack.local import LocalStack
from variance.stack.processes import run_cli

pytestmark = pytest.mark.slow


@pytest.fixture
def full_stack(emulator, tmp_path):
    from tests.web.browser.conftest import RunningApp

    stack = LocalStack(tmp_path, emulator=emulator, env={"VARIANCE_CONFIG_REFRESH": "1"})
    try:
        org = json.loads(
            run_cli(
                ["orgs", "create", "Acme", "--admin-name", "Ada", "--admin-email", "ada@acme.example"], stack.env
            ).stdout
        )
        stack.start_api()
        stack.start_pipeline()
        app = RunningApp(stack=stack, org_id=org["org_id"], admin_email="ada@acme.example")
        app.cli("users", "set-password", "--org", app.org_id, "--email", app.admin_email, stdin=PASSWORD + "\n")
        yield app
        app.close()
    finally:
        stack.stop()


def test_segment_events_reach_the_stream_of_the_seller_who_follows_the_account(page, full_stack):
    app = full_stack
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app.url)
    sign_in_as(page, app, app.admin_email)
    page.goto(app.url + "/integrations")
    page.get_by_label("Name", exact=True).fill("web")
    page.get_by_role("button", name="Add connection").click()
    page.get_by_role("button", name="Copy secret").click()
    secret = page.evaluate("navigator.clipboard.readText()")
    assert secret.startswith("vsec_")

    segment = Client(write_key=secret, host=app.url, sync_mode=True)
    segment.group(user_id="u1", group_id="initech", traits={"name": "Initech"}, message_id="g-1")
    segment.identify(user_id="u1", traits={"name": "Peter Gibbons", "email": "peter@initech.example"}, message_id="i-1")
    segment.flush()

    page.goto(app.url + "/accounts")
    page.get_by_label("Search accounts").fill("initech")
    link = page.get_by_role("link", name="Initech")
    for _ in range(30):  # the pipeline folds the calls into the serving tables within seconds
        if link.count():
            break
        page.wait_for_timeout(1000)
        page.reload()
    link.click()
    page.get_by_role("button", name="Follow", exact=True).click()
    expect(page.get_by_text("Following in:")).to_contain_text("Ada's Stream")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Streams", exact=True).click()
    page.get_by_role("link", name="Ada's Stream").click()
    page.wait_for_timeout(2500)  # the running pipeline re-reads follows every second (VARIANCE_CONFIG_REFRESH=1)
    segment.track(user_id="u1", event="Invited User", properties={"role": "admin"}, message_id="t-1")
    segment.flush()
    expect(page.get_by_text("Action: Invited User")).to_be_visible(timeout=30_000)
    expect(page.locator("#feed")).to_contain_text("initech")
    screenshot(page, "stream-live-from-segment")
