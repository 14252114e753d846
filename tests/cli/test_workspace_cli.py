"""The ``variance`` command as scripts use it: JSON on stdout, one-line errors."""

from __future__ import annotations

import json

import pytest

from variance.stack.processes import run_cli


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return {"VARIANCE_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def org(env) -> dict:
    return json.loads(run_cli(["orgs", "create", "Acme", "--admin-name", "Ada"], env).stdout)


def test_org_create_prints_id_and_token(org):
    assert org["org_id"].startswith("org_") and org["admin_token"].startswith("vtok_")
    assert org["name"] == "Acme"


def test_configure_a_workspace_from_the_command_line(env, org):
    o = org["org_id"]
    user = json.loads(run_cli(["users", "create", "--org", o, "--name", "Mia", "--email", "mia@acme.com"], env).stdout)
    assert (user["role"], user["token"][:5]) == ("member", "vtok_")
    milestone = json.loads(
        run_cli(
            [
                "milestones",
                "create",
                "--org",
                o,
                "--name",
                "PQL",
                "--entity",
                "account",
                "--kind",
                "Action",
                "--event",
                "Invited User",
                "--filters",
                '[{"path":"role","op":"equals","value":"admin"}]',
                "--threshold",
                "3",
                "--window",
                "30d",
            ],
            env,
        ).stdout
    )
    assert (milestone["threshold"], milestone["window"], milestone["filters"][0]["value"]) == (3, "30d", "admin")
    stream = json.loads(
        run_cli(
            [
                "streams",
                "create",
                "--org",
                o,
                "--name",
                "Pricing",
                "--type",
                "event_type",
                "--visibility",
                "team",
                "--selectors",
                '[{"kind":"Page","filters":[{"path":"path","op":"starts_with","value":"/pricing"}]}]',
                "--slack-channel-id",
                "C123",
                "--slack-channel-name",
                "#pricing",
            ],
            env,
        ).stdout
    )
    assert stream["slack_channel"] == {"id": "C123", "name": "#pricing"}
    followed = json.loads(
        run_cli(
            ["follows", "add", "--org", o, "--user", user["id"], "--entity-type", "account", "--entity-id", "acme"], env
        ).stdout
    )
    assert followed["follows"][0]["stream_id"] == user["default_stream_id"]
    streams = json.loads(run_cli(["streams", "list", "--org", o, "--user", user["id"]], env).stdout)
    assert {s["name"] for s in streams} == {"Mia's Stream", "Pricing"}
    assert [m["name"] for m in json.loads(run_cli(["milestones", "list", "--org", o], env).stdout)] == ["PQL"]
    users = json.loads(run_cli(["users", "list", "--org", o], env).stdout)
    assert sorted(u["name"] for u in users) == ["Ada", "Mia"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["milestones", "create", "--name", "x", "--entity", "account", "--kind", "Action", "--threshold", "3"],
            "error: event: Value error, name is required for Action event types\n",
        ),
        (
            ["milestones", "create", "--name", "x", "--entity", "account", "--kind", "Page", "--threshold", "0"],
            "error: threshold: Input should be greater than or equal to 1\n",
        ),
        (
            ["streams", "create", "--name", "x", "--selectors", "[oops"],
            "error: --selectors: not valid JSON (Expecting value)\n",
        ),
        (
            ["follows", "add", "--user", "usr_nope", "--entity-type", "account", "--entity-id", "a"],
            "error: no user 'usr_nope' in organisation 'ORG'; list them with `variance users list --org ORG`\n",
        ),
    ],
)
def test_errors_are_one_line_with_nonzero_exit(env, org, args, message):
    result = run_cli([*args[:2], "--org", org["org_id"], *args[2:]], env, check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == message.replace("ORG", org["org_id"])


def test_unknown_org_says_what_to_do(env):
    result = run_cli(["milestones", "list", "--org", "org_nope"], env, check=False)
    assert (result.returncode, result.stderr) == (
        1,
        "error: no organisation 'org_nope'; create one with `variance orgs create NAME`\n",
    )
