"""The view builder with a nested group, in a real browser: build "plan is pro AND (seats at
least 50 OR industry is fintech)" with the keyboard, save it, see the right members, reopen
it and find the same tree; add and remove a group there; axe-core finds no serious or
critical violation on the builder with nested groups."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support import builders
from tests.web.browser.conftest import axe_violations, screenshot, sign_in_as

pytestmark = pytest.mark.slow


def _press(page, name: str) -> None:
    """A button, reached and pressed from the keyboard; returns once htmx has settled the
    swap it asks for. htmx focuses the new content's autofocus element in its settle step,
    so a key pressed before then would have its focus taken back."""
    page.evaluate(
        "() => { window.settled = new Promise(done => document.addEventListener('htmx:afterSettle', done, {once: true})) }"
    )
    page.get_by_role("button", name=name, exact=True).focus()
    page.keyboard.press("Enter")
    page.evaluate(
        "() => Promise.race([window.settled.then(() => true),"
        " new Promise((_, fail) => setTimeout(() => fail(new Error('no htmx swap settled in 10 s')), 10000))])"
    )


def _trait(page, row: str, path: str, op: str, value: str) -> None:
    page.locator(f"#c{row}-type").select_option("trait")
    page.locator(f"#c{row}-path").fill(path)
    page.locator(f"#c{row}-op").select_option(op)
    page.locator(f"#c{row}-value").fill(value)


def test_a_view_with_an_or_group_inside_an_and_saves_reopens_and_lists_the_right_accounts(page, running_app):
    app = running_app
    app.insert(
        builders.account(app.org_id, "big-co", name="Big Co", traits={"plan": "pro", "seats": 80, "industry": "retail"}),
        builders.account(app.org_id, "fin-co", name="Fin Co", traits={"plan": "pro", "seats": 3, "industry": "fintech"}),
        builders.account(app.org_id, "small-co", name="Small Co", traits={"plan": "pro", "seats": 3, "industry": "retail"}),
        builders.account(app.org_id, "free-co", name="Free Co", traits={"plan": "free", "seats": 90, "industry": "fintech"}),
    )  # fmt: skip
    sign_in_as(page, app, app.admin_email)
    page.goto(app.url + "/views")
    page.get_by_label("Name", exact=True).fill("Pro and (big or fintech)")
    _trait(page, "0", "plan", "equals", "pro")

    _press(page, "Add group")  # an htmx swap of the conditions; the new group's operator has the focus
    group = page.get_by_role("group", name="Group 4", exact=True)
    expect(group).to_be_visible()
    expect(page.locator("#g3-match")).to_be_focused()
    expect(page.locator("#g3-match")).to_have_value("any")  # OR, inside the root's AND
    expect(page.get_by_label("Name", exact=True)).to_have_value("Pro and (big or fintech)")  # nothing typed is lost
    page.keyboard.press("Tab")
    expect(page.locator("#c3-0-type")).to_be_focused()
    _trait(page, "3-0", "seats", "gte", "50")
    _press(page, "Add condition to group 4")
    expect(page.locator("#c3-1-type")).to_be_focused()
    _trait(page, "3-1", "industry", "equals", "fintech")
    expect(group.get_by_role("combobox", name="Condition 4.2", exact=True)).to_have_value("trait")
    assert axe_violations(page) == []
    screenshot(page, "builder-nested-group")

    page.get_by_role("button", name="Create view").click()
    expect(page.get_by_text("2 accounts match now")).to_be_visible()
    for shown in ("Big Co", "Fin Co"):
        expect(page.get_by_role("link", name=shown, exact=True)).to_be_visible()
    for hidden in ("Small Co", "Free Co"):
        expect(page.get_by_role("link", name=hidden, exact=True)).to_have_count(0)

    # Reopened: the empty rows were skipped, so the OR group is now the root's second member.
    page.get_by_role("link", name="Edit view").click()
    expect(page.get_by_role("heading", name="Edit view Pro and (big or fintech)")).to_be_visible()
    expect(page.locator("#g-match")).to_have_value("all")
    expect(page.locator("#c0-path")).to_have_value("plan")
    reopened = page.get_by_role("group", name="Group 2", exact=True)
    expect(page.locator("#g1-match")).to_have_value("any")
    expect(reopened.get_by_role("combobox", name="Condition 2.1", exact=True)).to_have_value("trait")
    expect(reopened.get_by_role("combobox", name="Condition 2.2", exact=True)).to_have_value("trait")
    expect(page.locator("#c1-0-path")).to_have_value("seats")
    expect(page.locator("#c1-0-op")).to_have_value("gte")
    expect(page.locator("#c1-0-value")).to_have_value("50")
    expect(page.locator("#c1-1-path")).to_have_value("industry")
    expect(page.locator("#c1-1-value")).to_have_value("fintech")
    expect(page.get_by_role("group")).to_have_count(2)  # the root and Group 2: nothing more, nothing less

    # a group added inside and removed again, from the keyboard; the focus returns to its group
    _press(page, "Add group inside group 2")
    expect(page.get_by_role("group", name="Group 2.3", exact=True)).to_be_visible()
    expect(page.locator("#g1-2-match")).to_have_value("all")  # AND, inside the OR
    _press(page, "Remove group 2.3")
    expect(page.get_by_role("group", name="Group 2.3", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Add condition to group 2", exact=True)).to_be_focused()
    assert axe_violations(page) == []

    page.get_by_role("button", name="Save view").click()
    expect(page.get_by_text("2 accounts match now")).to_be_visible()
    expect(page.get_by_role("link", name="Fin Co", exact=True)).to_be_visible()
