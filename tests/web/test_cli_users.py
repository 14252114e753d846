"""``variance users set-password`` (password on standard input) and ``invite-link``."""

from __future__ import annotations

import json
import os
import subprocess

from variance.stack.processes import VARIANCE, run_cli


def test_a_user_gets_a_password_from_stdin_and_an_admin_prints_an_invite_link(tmp_path):
    env = {"VARIANCE_DATA_DIR": str(tmp_path / "data"), "VARIANCE_PUBLIC_URL": "https://app.example.com"}
    org = json.loads(run_cli(["orgs", "create", "Acme"], env).stdout)
    org_id = org["org_id"]
    user = json.loads(
        run_cli(["users", "create", "--org", org_id, "--name", "Mia", "--email", "mia@acme.com"], env).stdout
    )
    done = subprocess.run(
        [*VARIANCE, "users", "set-password", "--org", org_id, "--email", "MIA@acme.com"],
        input="correct horse battery\n",
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"user_id": user["id"], "email": "mia@acme.com", "password_set": True}
    short = subprocess.run(
        [*VARIANCE, "users", "set-password", "--org", org_id, "--user", user["id"]],
        input="short\n",
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert short.returncode != 0 and "password: must be at least 10 characters" in short.stderr
    link = json.loads(run_cli(["users", "invite-link", "--org", org_id, "--user", user["id"]], env).stdout)
    assert link["url"].startswith("https://app.example.com/welcome/vlnk_") and link["purpose"] == "invite"


def test_tags_refresh_writes_tag_members_and_prints_the_counts(tmp_path):
    env = {"VARIANCE_DATA_DIR": str(tmp_path / "data")}
    org_id = json.loads(run_cli(["orgs", "create", "Acme"], env).stdout)["org_id"]
    definition = '{"type":"group","match":"all","conditions":[{"type":"trait","filter":{"path":"plan","op":"exists"}}]}'
    run_cli(
        ["tags", "create", "--org", org_id, "--name", "Any plan", "--entity", "account", "--definition", definition],
        env,
    )
    assert json.loads(run_cli(["tags", "refresh", "--org", org_id], env).stdout) == {
        "orgs_refreshed": 1,
        "entered": 0,
        "left": 0,
    }
