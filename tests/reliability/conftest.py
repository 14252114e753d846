"""The reliability suite: each test injects one fault into the real stack and reports its
figures (events sent, stored, duplicated, lost) through the ``figures`` fixture. They are
printed in a section of pytest's closing summary, so they show in ``make test`` output
(``-q``, output captured) and not only with ``-s``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

_FIGURES: list[tuple[str, str]] = []


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[..., str]:
    """``figures(sent=..., stored=..., duplicated=..., lost=..., **more)``: one line in the
    closing summary for this test (and in its captured output)."""

    def report(**counts: object) -> str:
        line = ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in counts.items())
        _FIGURES.append((request.node.nodeid.rsplit("::", 1)[-1], line))
        print(f"\n{request.node.name}: {line}")
        return line

    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name, line in _FIGURES:
        terminalreporter.write_line(f"{name}: {line}")
