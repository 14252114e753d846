"""Real processes: the emulator, ``variance api``, and the ``variance`` CLI, through the
local stack the demo uses (``variance.stack.local``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from variance.samples.workspace import Workspace
from variance.stack.local import LocalStack
from variance.stack.processes import ApiProcess


@pytest.fixture
def local_stack(emulator, tmp_path) -> Iterator[LocalStack]:
    """A stack on the session's emulator, with a topic and subscription of its own; what
    the test starts on it is stopped afterwards."""
    stack = LocalStack(tmp_path, emulator=emulator, env={"VARIANCE_PUBLISH_TIMEOUT": "2"})
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def stack_env(local_stack) -> dict[str, str]:
    return local_stack.env


@pytest.fixture
def api_process(local_stack) -> ApiProcess:
    return local_stack.start_api()


@pytest.fixture
def org_and_connection(stack_env) -> dict:
    workspace = Workspace.create(stack_env, "Acme")
    workspace.add_connection("web", mapping="group")
    return {"org": workspace.org, "connection": workspace.connection}
