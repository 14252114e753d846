"""The lake's disk full: the pipeline runs with a file-size limit (``RLIMIT_FSIZE``, set in
its own process only, with ``SIGXFSZ`` ignored, so a write past it fails with ``EFBIG`` as
a full disk fails with ``ENOSPC``; unprivileged, unlike mounting a small tmpfs). Calls big
enough that each lake file would pass the limit cannot be written: the pipeline
acknowledges none of them, says why in its log (the errno and the lake's path) and in its
state file (``lake_write_failures``), and keeps the rows buffered. Then space returns while
it runs (the test raises the running process's limit with ``prlimit``, as freeing disk
space would) and every call arrives once, at the writer's next retry."""

from __future__ import annotations

import base64
import os
import resource
import signal
import subprocess
import time

import httpx
import pytest

from tests.reliability.lake_counts import duplicated_rows
from variance.core.vocabulary import WarehouseTable
from variance.pipelines.sinks.lake import WRITE_FAILURES
from variance.samples.workspace import Workspace
from variance.stack.local import LocalStack
from variance.stack.processes import VARIANCE, PipelineProcess, pipeline_state_file
from variance.warehouse.local import LakeReader

pytestmark = pytest.mark.slow
EVENTS = WarehouseTable.events.value
LIMIT = 160 * 1024  # bytes per file: far above the log and the state file, below a flush of a few big calls


def start_pipeline_with_file_size_limit(stack: LocalStack, limit: int) -> PipelineProcess:
    def limit_this_process() -> None:  # runs in the child, before exec
        # only the soft limit: the test may raise it again, as freeing space would
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an ignored signal stays ignored across exec

    log_path = stack.workdir / "pipeline-limited.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [*VARIANCE, "pipeline", "--progress-every", "1"],
            env={**os.environ, **stack.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=limit_this_process,
        )
    pipeline = PipelineProcess("the pipeline (file size limited)", process, log_path, pipeline_state_file(stack.env))
    stack.pipeline = pipeline  # the stack stops it
    pipeline.wait_for_phase("running")
    return pipeline


def test_a_full_lake_stops_acknowledging_says_why_and_loses_nothing_once_space_returns(emulator, tmp_path, figures):
    started = time.monotonic()
    with LocalStack(tmp_path, emulator=emulator) as stack:
        workspace = Workspace.create(stack.env, "Acme")
        secret = workspace.add_connection("web", mapping="group")["secret"]
        api = stack.start_api()
        pipeline = start_pipeline_with_file_size_limit(stack, LIMIT)
        auth = {"Authorization": "Basic " + base64.b64encode(f"{secret}:".encode()).decode()}

        def send(prefix: str, calls: int, blob_bytes: int) -> list[str]:
            batch = [
                {
                    "type": "track",
                    "userId": f"user-{i % 3}",
                    "event": "Invited User",
                    "messageId": f"{prefix}-{i}",
                    "properties": {"blob": os.urandom(blob_bytes // 2).hex()},
                }
                for i in range(calls)
            ]
            response = httpx.post(api.url + "/v1/batch", json={"batch": batch}, headers=auth, timeout=30)
            assert response.status_code == 200, response.text
            return [call["messageId"] for call in batch]

        small = send("small", 5, 100)  # fits: written and acknowledged
        pipeline.wait_until_acked(len(small))
        big = send("big", 14, 30_000)  # ~420 KB of incompressible properties: one lake file would not fit
        failing = pipeline.wait_until(
            lambda: (s := pipeline.state()) is not None and s.counts.get(WRITE_FAILURES, 0) >= 2 and s,
            30,
            lambda: f"before failing to write twice (last state {pipeline.state()})",
        )
        blocked = pipeline.state()
        log = pipeline.log()
        assert blocked.received == len(small) + len(big), blocked
        assert blocked.acked == len(small), blocked  # nothing of the big calls acknowledged
        assert blocked.counts.get(EVENTS, 0) == len(small), blocked  # nor reported as written
        assert blocked.phase == "running"

        resource.prlimit(pipeline.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        pipeline.wait_until_acked(len(small) + len(big), timeout=30)
        reader = LakeReader(stack.lake_dir)
        sent = set(small + big)
        stored = [e["message_id"] for e in reader.current(EVENTS)]

    duplicated = duplicated_rows(stack.lake_dir, EVENTS)
    figures(
        sent=len(sent),
        acked_while_full=blocked.acked,
        write_failures=failing.counts[WRITE_FAILURES],
        stored=len(stored),
        duplicated=duplicated,
        lost=len(sent - set(stored)),
        seconds=f"{time.monotonic() - started:.0f}",
    )
    reason = next(line for line in log.splitlines() if "EFBIG" in line)
    print(reason)
    assert str(stack.lake_dir) in reason
    assert "File too large" in reason
    assert sorted(stored) == sorted(sent)
    assert duplicated == 0
