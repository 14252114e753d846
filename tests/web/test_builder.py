"""The smart tag and view builder with nested groups, through the pages' own HTTP routes:
adding and removing a group re-renders the conditions (an htmx swap) without saving; a
nested definition is saved, opens again in the builder as the same tree, and posting that
form back unchanged saves the same definition."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from tests.support import builders
from variance.core.tag_tree import MAX_DEPTH, parse_definition
from variance.web import builder_form
from variance.workspace import views
from variance.workspace.orgs import act_as

HX = {"HX-Request": "true"}


class _Fields(HTMLParser):
    """The fields a browser would post for the builder form, in document order."""

    def __init__(self):
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._in_form = False
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id") == "builder":
            self._in_form = True
        if not self._in_form:
            return
        if tag == "input" and a.get("name"):
            self.fields.append((a["name"], a.get("value") or ""))
        elif tag == "select":
            self._select, self._options = a["name"], []
        elif tag == "option" and self._select:
            self._options.append((a.get("value", ""), "selected" in a))

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False
        if tag == "select" and self._select:
            chosen = [v for v, s in self._options if s] or [self._options[0][0]]
            self.fields.append((self._select, chosen[0]))
            self._select = None


def fields_of(html: str) -> list[tuple[str, str]]:
    parser = _Fields()
    parser.feed(html)
    return parser.fields


def as_data(fields: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Form fields as the test client posts them: repeated names keep every value, in order."""
    data: dict[str, list[str]] = {}
    for name, value in fields:
        data.setdefault(name, []).append(value)
    return data


def _nested_form(csrf: str, tag_id: str) -> dict:
    """plan equals pro AND (seats >= 50 OR has the tag Partner)."""
    return {
        "csrf_token": csrf, "name": "Pro, big or partner", "entity": "account", "visibility": "personal",
        "node": ["r", "r.0", "r.1", "r.1.0", "r.1.1"],
        "r.match": "all",
        "r.0.type": "trait", "r.0.path": "plan", "r.0.op": "equals", "r.0.value": "pro", "r.0.ref": "",
        "r.1.match": "any",
        "r.1.0.type": "trait", "r.1.0.path": "seats", "r.1.0.op": "gte", "r.1.0.value": "50", "r.1.0.ref": "",
        "r.1.1.type": "tag", "r.1.1.path": "", "r.1.1.op": "has", "r.1.1.value": "", "r.1.1.ref": tag_id,
    }  # fmt: skip


NESTED = {
    "type": "group",
    "match": "all",
    "conditions": [
        {"type": "trait", "filter": {"path": "plan", "op": "equals", "value": "pro"}},
        {
            "type": "group",
            "match": "any",
            "conditions": [
                {"type": "trait", "filter": {"path": "seats", "op": "gte", "value": 50}},
                {"type": "tag", "tag_id": "TAG", "has": True},
            ],
        },
    ],
}


def _partner_tag(web, client, csrf) -> str:
    made = client.post(
        "/tags",
        data={"csrf_token": csrf, "name": "Partner", "entity": "account", "node": ["r", "r.0"], "r.match": "all",
              "r.0.type": "trait", "r.0.path": "partner", "r.0.op": "equals", "r.0.value": "yes"},
    )  # fmt: skip
    assert made.status_code == 303, made.text
    return re.search(r'<option value="(tag_[^"]+)">Tag: Partner', client.get("/views").text).group(1)


def test_adding_a_group_re_renders_only_the_conditions_with_the_new_group_focused(web):
    client, csrf = web.signed_in()
    blank = {"csrf_token": csrf, "name": "", "node": ["r", "r.0"], "r.match": "all", "r.0.type": ""}
    added = client.post("/views", data={**blank, "edit": "add_group:r"}, headers=HX)
    assert added.status_code == 200
    html = added.text
    assert html.lstrip().startswith('<div id="conditions">') and "<html" not in html
    assert "<legend>Group 2</legend>" in html and 'data-testid="group-2" data-match="any"' in html  # OR inside AND
    assert '<select id="g1-match" name="r.1.match" autofocus>' in html
    assert '<label for="c1-0-type">Condition 2.1</label>' in html and 'role="status">Group 2 added<' in html
    inner = client.post(
        "/views",
        data=as_data(
            [*fields_of('<form id="builder">' + html + "</form>"), ("csrf_token", csrf), ("edit", "add_group:r.1")]
        ),
        headers=HX,
    )
    assert 'data-testid="group-2.2" data-match="all"' in inner.text  # nested once more: the other operator again
    assert "Add group inside group 2.2" in inner.text

    removed = client.post(
        "/views", data={**blank, "node": ["r", "r.0", "r.1", "r.1.0"], "r.1.match": "any", "edit": "remove:r.1"},
        headers=HX,
    )  # fmt: skip
    assert "Group 2" not in removed.text and 'role="status">Removed<' in removed.text
    assert (
        'value="add_condition:r" formnovalidate' in removed.text and " autofocus>Add condition</button>" in removed.text
    )

    page = client.post("/views", data={**blank, "edit": "add_condition:r"})  # without JavaScript: the whole page
    assert '<html lang="en">' in page.text and '<label for="c1-type">Condition 2</label>' in page.text


def test_groups_nest_at_most_as_deep_as_a_definition_may(web):
    client, csrf = web.signed_in()
    nodes, form = ["r"], {"csrf_token": csrf, "r.match": "all"}
    key = "r"
    for _ in range(MAX_DEPTH - 1):
        key += ".0"
        nodes.append(key)
        form[f"{key}.match"] = "any"
    deepest = client.post("/views", data={**form, "node": nodes}, headers=HX)
    assert (
        "Add group inside group 1.1.1.1"
        not in client.post("/views", data={**form, "node": nodes, "edit": "add_condition:r"}, headers=HX).text
    )
    refused = client.post("/views", data={**form, "node": nodes, "edit": f"add_group:{key}"}, headers=HX)
    assert "<strong>edit</strong>: groups nest at most 5 levels deep (the root is level 1)" in refused.text
    assert deepest.status_code == 400  # no edit: a save, refused since every group is empty
    stray = client.post("/views", data={**form, "node": ["r", "r.4.2"], "edit": "add_condition:r"}, headers=HX)
    assert stray.status_code == 400 and "<strong>node</strong>: &#39;r.4.2&#39; is not inside a group" in stray.text


def test_a_nested_view_is_saved_opens_as_the_same_tree_and_saves_back_unchanged(web):
    web.insert(
        builders.account(web.org_id, "big", name="Big Pro", traits={"plan": "pro", "seats": 80}),
        builders.account(web.org_id, "small", name="Small Pro", traits={"plan": "pro", "seats": 3}),
        builders.account(web.org_id, "big-free", name="Big Free", traits={"plan": "free", "seats": 90}),
    )
    client, csrf = web.signed_in()
    tag_id = _partner_tag(web, client, csrf)
    saved = client.post("/views", data=_nested_form(csrf, tag_id))
    assert saved.status_code == 303, saved.text
    view_id = saved.headers["location"].rsplit("/", 1)[1]
    with web.sessions() as session:
        stored = views.get_visible(session, act_as(session, web.org_id), view_id).definition
    expected = json.loads(json.dumps(NESTED).replace('"TAG"', json.dumps(tag_id)))
    assert parse_definition(stored).model_dump(mode="json", exclude_none=True) == expected
    members = client.get(f"/views/{view_id}").text
    assert "1 account match now" in members and ">Big Pro</a>" in members
    assert "Small Pro" not in members and "Big Free" not in members
    assert f'href="/views/{view_id}/edit">Edit view</a>' in members

    editor = client.get(f"/views/{view_id}/edit")
    assert editor.status_code == 200
    html = editor.text
    assert "Edit view Pro, big or partner" in html and "<legend>Group 2</legend>" in html
    fields = fields_of(html)
    assert [v for k, v in fields if k == "node"] == ["r", "r.0", "r.1", "r.1.0", "r.1.1"]
    posted = dict(fields)
    assert (posted["r.match"], posted["r.1.match"], posted["r.1.0.value"], posted["r.1.1.ref"]) == (
        "all", "any", "50", tag_id,
    )  # fmt: skip
    again = client.post(f"/views/{view_id}/edit", data=as_data(fields))
    assert again.status_code == 303 and again.headers["location"] == f"/views/{view_id}"
    with web.sessions() as session:
        assert views.get_visible(session, act_as(session, web.org_id), view_id).definition == stored


def test_the_builder_round_trips_every_condition_it_shows():
    definition = parse_definition(
        {
            "type": "group", "match": "any",
            "conditions": [
                {"type": "trait", "filter": {"path": "plan", "op": "in", "value": ["pro", "team"]}},
                {"type": "trait", "filter": {"path": "trial_ends_at", "op": "exists"}},
                {"type": "group", "match": "all", "conditions": [
                    {"type": "milestone", "milestone_id": "mil_1", "status": "not_achieved"},
                    {"type": "group", "match": "any", "conditions": [{"type": "tag", "tag_id": "tag_1", "has": False}]},
                ]},
            ],
        }
    )  # fmt: skip
    draft = builder_form.draft_of(definition)
    assert list(builder_form.keys(draft)) == ["r", "r.0", "r.1", "r.2", "r.2.0", "r.2.1", "r.2.1.0"]
    assert parse_definition(builder_form.to_definition(draft)) == definition


def test_a_definition_the_builder_cannot_show_is_not_offered_for_editing(web):
    client, _ = web.signed_in()
    body = {
        "name": "Busy", "entity": "account",
        "definition": {"type": "group", "match": "all", "conditions": [
            {"type": "event_count", "kind": "Page", "op": "gte", "value": 5, "days": 7}]},
    }  # fmt: skip
    made = client.post("/v1/views", json=body, headers={"Authorization": f"Bearer {web.admin_token}"})
    assert made.status_code == 201, made.text
    editor = client.get(f"/views/{made.json()['id']}/edit").text
    assert 'data-testid="not-editable"' in editor and "(event_count)" in editor and 'id="builder"' not in editor


def test_members_change_their_own_views_but_not_team_views(web):
    admin, admin_csrf = web.signed_in()
    team = admin.post(
        "/views",
        data={"csrf_token": admin_csrf, "name": "Team pros", "entity": "account", "visibility": "team",
              "node": ["r", "r.0"], "r.match": "all", "r.0.type": "trait", "r.0.path": "plan", "r.0.op": "equals",
              "r.0.value": "pro"},
    )  # fmt: skip
    team_id = team.headers["location"].rsplit("/", 1)[1]
    member, csrf = web.signed_in(web.new_user("Max"))
    assert member.get(f"/views/{team_id}/edit").status_code == 403
    assert member.post(f"/views/{team_id}/edit", data={"csrf_token": csrf, "name": "Mine"}).status_code == 403
    assert "Edit view" not in member.get(f"/views/{team_id}").text


def test_an_admin_reopens_a_smart_tag_and_nests_a_group_in_it(web):
    client, csrf = web.signed_in()
    tag_id = _partner_tag(web, client, csrf)
    editor = client.get(f"/tags/{tag_id}/edit").text
    assert "Edit smart tag Partner" in editor and f'<option value="{tag_id}"' not in editor  # never itself
    fields = [*fields_of(editor), ("edit", "add_group:r")]
    added = client.post(f"/tags/{tag_id}/edit", data=as_data(fields), headers=HX)
    assert 'data-testid="group-2" data-match="any"' in added.text
    nested = [*fields_of('<form id="builder">' + added.text + "</form>"), ("csrf_token", csrf), ("name", "Partner")]
    nested = [(k, {"r.1.0.type": "trait", "r.1.0.path": "tier", "r.1.0.op": "exists"}.get(k, v)) for k, v in nested]
    saved = client.post(f"/tags/{tag_id}/edit", data=as_data(nested))
    assert saved.status_code == 303 and saved.headers["location"] == "/tags"
    reopened = client.get(f"/tags/{tag_id}/edit").text
    assert "<legend>Group 2</legend>" in reopened and 'name="r.1.0.path" placeholder="plan" value="tier"' in reopened
    member, _ = web.signed_in(web.new_user("Max"))
    assert member.get(f"/tags/{tag_id}/edit").status_code == 403
