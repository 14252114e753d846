"""Waiting for what a test asserts, never for a fixed time: a suite must pass on a busy
machine as on a quiet one."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float = 60.0, what: str = "condition", every: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy and return that; fail after
    ``timeout`` s saying what was awaited and the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last value {last!r}")
        time.sleep(every)
