"""The one workspace builder: what it makes is what the ``variance`` command makes (same
rules, same output), and the CLI and API see it."""

from __future__ import annotations

import json

import pytest

from variance.samples.workspace import ADMIN_INVITES, Workspace, demo_workspace
from variance.stack.processes import run_cli
from variance.workspace.errors import WorkspaceError
from variance.workspace.schemas.streams import FollowResult


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return {"VARIANCE_DATA_DIR": str(tmp_path / "data")}


def cli(env, *args: str):
    return json.loads(run_cli(list(args), env).stdout)


def test_the_builder_returns_what_each_command_prints(env):
    workspace = Workspace.create(env, "Acme", admin_name="Ada")
    o = workspace.org_id
    by_cli = {
        "org": cli(env, "orgs", "create", "Other"),
        "connection": cli(env, "connections", "create", "--org", o, "--name", "cli", "--mapping", "group"),
        "milestone": cli(
            env, "milestones", "create", "--org", o, "--name", "M", "--entity", "account", "--kind", "Page",
            "--threshold", "1",
        ),
        "stream": cli(env, "streams", "create", "--org", o, "--name", "S", "--visibility", "team"),
        "user": cli(env, "users", "create", "--org", o, "--name", "Mia", "--email", "mia@acme.com"),
    }  # fmt: skip
    built = {
        "org": workspace.org,
        "connection": workspace.add_connection("web", mapping="group"),
        "milestone": workspace.add_milestone("PQL", kind="Page", threshold=1),
        "stream": workspace.add_stream("Acme watch"),
        "user": workspace.add_user("Lin", "lin@acme.com"),
    }
    assert {k: sorted(v) for k, v in built.items()} == {k: sorted(v) for k, v in by_cli.items()}
    assert built["connection"]["secret"] and built["user"]["token"]


def test_a_workspace_built_here_is_what_the_cli_lists(env):
    workspace = Workspace.create(env, "Acme")
    workspace.add_connection("ios", mapping="identify_traits", account_id_trait="company.id")
    milestone = workspace.add_milestone("PQL", event="Invited User", filters=ADMIN_INVITES, threshold=3, window="30d")
    mia = workspace.add_user("Mia", "mia@acme.com")
    stream = workspace.add_stream("Acme watch", slack_channel=("C0ACME", "#acme"))
    workspace.follow("account", "acme", stream=stream["id"])
    followed = workspace.follow("contact", "u1", user=mia["id"])  # into Mia's own stream

    o = workspace.org_id
    assert [(c["name"], c["mapping"]) for c in cli(env, "connections", "list", "--org", o)] == [
        ("ios", "identify_traits")
    ]
    [listed] = cli(env, "milestones", "list", "--org", o)
    assert (listed["id"], listed["threshold"], listed["window"], listed["filters"][0]["value"]) == (
        milestone["id"],
        3,
        "30d",
        "admin",
    )
    assert stream["slack_channel"] == {"id": "C0ACME", "name": "#acme"}
    follows = cli(env, "follows", "list", "--org", o, "--stream", stream["id"])
    assert [(f["entity_type"], f["entity_id"]) for f in follows] == [("account", "acme")]
    assert FollowResult.model_validate(followed).follows[0].stream_id == mia["default_stream_id"]
    assert workspace.streams == {"Acme watch": stream}


def test_the_builder_keeps_the_rules(env):
    workspace = Workspace.create(env, "Acme")
    mia = workspace.add_user("Mia", "mia@acme.com")
    with pytest.raises(WorkspaceError, match="only admins create team streams"):
        workspace.add_stream("Team", user=mia["id"])


def test_the_demo_workspace(env):
    workspace = demo_workspace(env)
    assert workspace.org["name"] == "Demo Co"
    assert list(workspace.connections) == ["web app"]
    assert (workspace.milestones["PQL"]["threshold"], workspace.milestones["PQL"]["window"]) == (2, "30d")
    assert set(workspace.streams) == {"Acme watch", "Pricing"}
    assert workspace.streams["Pricing"]["type"] == "event_type"
    [follow] = workspace.follows
    assert FollowResult.model_validate(follow).follows[0].stream_id == workspace.streams["Acme watch"]["id"]


def test_the_showcase_workspace_is_what_the_cli_lists(env):
    from variance.samples.workspace import SELLER, showcase_workspace

    workspace = showcase_workspace(env, ["acme", "globex"])
    o = workspace.org_id
    seller = workspace.users[SELLER[0]]
    assert seller["role"] == "member"
    assert [(m["name"], m["threshold"], m["window"]) for m in cli(env, "milestones", "list", "--org", o)] == [
        ("PQL", 5, "7d"),
        ("Onboarded", 3, None),
    ]
    follows = cli(env, "follows", "list", "--org", o, "--stream", seller["default_stream_id"], "--user", seller["id"])
    assert sorted(f["entity_id"] for f in follows) == ["acme", "globex"]
    upgrades = workspace.streams["Upgrades"]
    assert (upgrades["type"], upgrades["visibility"], upgrades["slack_channel"]["name"]) == (
        "event_type",
        "team",
        "#upgrades",
    )
    [tag] = cli(env, "tags", "list", "--org", o)
    assert (tag["name"], tag["id"]) == ("Enterprise", workspace.tags["Enterprise"]["id"])
    # the admin's team view is in the seller's sidebar too
    [view] = cli(env, "views", "list", "--org", o, "--user", seller["id"])
    assert (view["name"], view["visibility"]) == ("Enterprise PQLs", "team")
    assert view["definition"]["conditions"][0] == {"type": "tag", "tag_id": tag["id"], "has": True}


def test_a_password_set_here_signs_the_user_in(env):
    from variance.appdb.session import make_engine, session_factory
    from variance.core.settings import Settings
    from variance.workspace import sign_in

    workspace = Workspace.create(env, "Acme", admin_email="ada@acme.com")
    workspace.set_password("Ada@Acme.com", "correct horse battery")
    with pytest.raises(ValueError, match=r"email: no user 'nobody@acme\.com'"):
        workspace.set_password("nobody@acme.com", "correct horse battery")
    engine = make_engine(Settings(**env).resolved_database_url)
    with session_factory(engine)() as session, session.begin():
        assert sign_in.sign_in(session, "ada@acme.com", "wrong password!") is None
        assert sign_in.sign_in(session, "ada@acme.com", "correct horse battery").principal.role == "admin"
    engine.dispose()
