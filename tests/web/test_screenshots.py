"""The README's screenshots: a test run writes into an ignored folder, so `git status` stays
clean; only `make screenshots` refreshes docs/screenshots/, and every picture the README
links exists there and is one a browser test takes."""

from __future__ import annotations

import re
import subprocess

from tests.web.browser.conftest import README_SCREENSHOTS, ROOT, SCREENSHOTS, UPDATE_SCREENSHOTS, screenshot_paths


def test_a_test_run_writes_screenshots_only_into_the_ignored_folder(monkeypatch):
    monkeypatch.delenv(UPDATE_SCREENSHOTS, raising=False)
    assert screenshot_paths("view") == [ROOT / ".variance" / "screenshots" / "view.png"]
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(SCREENSHOTS / "view.png")], cwd=ROOT, check=False
    ).returncode
    assert ignored == 0  # git ignores it


def test_asking_for_it_refreshes_the_readme_pictures_too(monkeypatch):
    monkeypatch.setenv(UPDATE_SCREENSHOTS, "1")
    assert screenshot_paths("view") == [SCREENSHOTS / "view.png", README_SCREENSHOTS / "view.png"]
    makefile = (ROOT / "Makefile").read_text()
    assert f"{UPDATE_SCREENSHOTS}=1 $(BIN)/python -m pytest -q tests/web/browser" in makefile


def test_every_picture_the_readme_links_exists_and_a_browser_test_takes_it():
    linked = re.findall(r"\(docs/screenshots/([\w.-]+)\.png\)", (ROOT / "README.md").read_text())
    assert linked, "the README shows the product"
    taken = set()
    for test in (ROOT / "tests" / "web" / "browser").glob("test_*.py"):
        taken |= set(re.findall(r'screenshot\(page, "([\w.-]+)"\)', test.read_text()))
    for name in linked:
        png = README_SCREENSHOTS / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
        assert name in taken, f"{name}.png: no browser test takes it, so `make screenshots` would not refresh it"
