"""Running a coroutine to its end from a test, whatever ran before it in this process.

Playwright's synchronous API (the browser tests) leaves an event loop marked running in
the main thread, and pytest-xdist may run a browser test file before an asyncio one in
the same worker: ``asyncio.run`` there raises. A thread of its own has no loop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-asyncio") as pool:
        return pool.submit(asyncio.run, coroutine).result()
