"""The reliability suite: each test injects one fault into the real stack and reports its
figures (events sent, stored, duplicated, lost) through the ``figures`` fixture. They are
printed in a section of pytest's closing summary, so they show in ``make test`` output
(``-q``, output captured) and not only with ``-s``. They travel in each test's report
(``user_properties``), so they show when pytest-xdist runs the tests in other processes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

# the key of the figures in a test report (tests/conftest.py prints them at the end)
FIGURES = "reliability figures"


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[..., str]:
    """``figures(sent=..., stored=..., duplicated=..., lost=..., **more)``: one line in the
    closing summary for this test (and in its captured output)."""

    def report(**counts: object) -> str:
        line = ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in counts.items())
        request.node.user_properties.append((FIGURES, line))
        print(f"\n{request.node.name}: {line}")
        return line

    return report
