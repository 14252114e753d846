"""Browser tests: Playwright driving the system's Chromium against a real API process.

No browser download site is reachable here, so Playwright's own browsers cannot be
installed: the tests launch Debian's ``chromium-headless-shell`` (or ``chromium``, or
``VARIANCE_CHROMIUM``) through ``executable_path``; ``make test`` installs it when missing.
The API runs as its own process on a free port (``variance api``), over a SQLite app
database the tests also write serving rows into, as the pipeline would; it is stopped
by PID at the end.

Screenshots go to ``.variance/screenshots/`` (ignored by git), so a test run leaves the
tree clean; ``VARIANCE_UPDATE_SCREENSHOTS=1`` (``make screenshots``) also refreshes the
README's pictures in ``docs/screenshots/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from variance.appdb.session import make_engine, session_factory
from variance.stack.local import LocalStack
from variance.stack.processes import VARIANCE, run_cli

ROOT = Path(__file__).resolve().parents[3]
AXE = ROOT / ".venv" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / ".variance" / "screenshots"  # every run's, ignored by git
README_SCREENSHOTS = ROOT / "docs" / "screenshots"  # the README's, refreshed only when asked
UPDATE_SCREENSHOTS = "VARIANCE_UPDATE_SCREENSHOTS"
PASSWORD = "correct horse battery"


def chromium_path() -> str:
    for candidate in (os.environ.get("VARIANCE_CHROMIUM"), "chromium-headless-shell", "chromium"):
        found = candidate and shutil.which(candidate)
        if found:
            return found
    pytest.fail(
        "browser tests need Chromium: run `make test` (it installs Debian's chromium-headless-shell) "
        "or `sudo apt-get install chromium-headless-shell`, or set VARIANCE_CHROMIUM",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    return {**browser_type_launch_args, "executable_path": chromium_path()}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 860}}


@dataclass
class RunningApp:
    """The API process and what the tests need to act around it."""

    stack: LocalStack
    org_id: str
    admin_email: str
    _engine: object = None
    users: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        assert self.stack.api is not None
        return self.stack.api.url

    def cli(self, *args: str, stdin: str | None = None) -> dict:
        if stdin is None:
            return json.loads(run_cli(list(args), self.stack.env).stdout)
        done = subprocess.run(
            [*VARIANCE, *args],
            input=stdin,
            env={**os.environ, **self.stack.env},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return json.loads(done.stdout)

    def person(self, name: str, role: str = "member", org_id: str | None = None) -> str:
        """A user with a password (set from standard input, as a script would); returns the email."""
        email = f"{name.lower()}@{'acme' if not org_id else 'other'}.example"
        org = org_id or self.org_id
        created = self.cli("users", "create", "--org", org, "--name", name, "--email", email, "--role", role)
        self.users[email] = created["id"]
        self.cli("users", "set-password", "--org", org, "--email", email, stdin=PASSWORD + "\n")
        return email

    def session(self) -> Session:
        if self._engine is None:
            self._engine = make_engine(f"sqlite:///{self.stack.database_path}")
        return session_factory(self._engine)()

    def insert(self, *rows) -> None:
        with self.session() as session, session.begin():
            for row in rows:
                session.merge(row)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


@contextmanager
def running(emulator, workdir: Path, env: dict[str, str] | None = None, *, slack_for_org: bool = False):
    """Acme (admin Ada, with a password) and the API process; with ``slack_for_org``, the
    configured Slack token in ``env`` posts for Acme (its id is known once Acme exists)."""
    stack = LocalStack(workdir, emulator=emulator, env=env)
    try:
        org = json.loads(
            run_cli(
                ["orgs", "create", "Acme", "--admin-name", "Ada", "--admin-email", "ada@acme.example"], stack.env
            ).stdout
        )
        if slack_for_org:
            stack.env["VARIANCE_SLACK_TOKEN_ORG"] = org["org_id"]
        stack.start_api()
        app = RunningApp(stack=stack, org_id=org["org_id"], admin_email="ada@acme.example")
        app.users["ada@acme.example"] = org["admin_user_id"]
        app.cli("users", "set-password", "--org", app.org_id, "--email", app.admin_email, stdin=PASSWORD + "\n")
        yield app
        app.close()
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def running_app(emulator, tmp_path_factory) -> Iterator[RunningApp]:
    with running(emulator, tmp_path_factory.mktemp("web-stack")) as app:
        yield app


def sign_in_as(page, app: RunningApp, email: str) -> None:
    """Through the form, as a person does: email, password, Enter."""
    page.context.clear_cookies()
    page.goto(app.url + "/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.wait_for_url("**/streams/**")


def axe_violations(page) -> list[dict]:
    """Serious and critical axe-core violations on the page as it is now."""
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run `make install` (it installs it from the npm registry)")
    page.add_script_tag(path=str(AXE))
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def screenshot_paths(name: str) -> list[Path]:
    """Where a screenshot is written: the ignored folder, and the README's when asked."""
    paths = [SCREENSHOTS / f"{name}.png"]
    if os.environ.get(UPDATE_SCREENSHOTS) == "1":
        paths.append(README_SCREENSHOTS / f"{name}.png")
    return paths


def screenshot(page, name: str) -> None:
    image = page.screenshot(full_page=True)
    for path in screenshot_paths(name):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(image)
