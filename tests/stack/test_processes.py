"""Processes of the local stack: started in a group of their own, stopped with nothing
left behind, ready when they serve (``/healthz``, the pipeline's state file), and a
failure to start says why with the process's log."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from variance.pipelines.progress import StateFile, state_path
from variance.stack.processes import (
    CommandFailed,
    PipelineProcess,
    Process,
    ProcessError,
    pipeline_state_file,
    run_cli,
    start,
    start_api,
)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def shell(tmp_path, script: str) -> Process:
    log = tmp_path / "shell.log"
    with open(log, "ab") as out:
        popen = subprocess.Popen(["sh", "-c", script], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return Process("the shell", popen, log)


def test_stop_leaves_nothing_of_the_group_behind(tmp_path):
    # The leader exits on SIGTERM; its child ignores SIGTERM, as a stubborn JVM or worker might.
    started = tmp_path / "child-started"
    process = shell(tmp_path, f"(trap '' TERM; touch {started}; sleep 600) & wait")
    process.wait_until(started.exists, 30, "before starting its child")
    assert process.stop(timeout=5) is not None
    deadline = time.monotonic() + 5
    while group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not group_alive(process.pid), "a child of the stopped process is still running"


def test_kill_takes_the_whole_group(tmp_path):
    process = shell(tmp_path, "sleep 600 & sleep 600")
    process.kill()
    assert process.process.returncode == -9
    assert not group_alive(process.pid)


def test_waiting_on_a_process_that_exits_fails_at_once_with_its_log(tmp_path):
    process = shell(tmp_path, "echo 'the reason it failed'; exit 3")
    started = time.monotonic()
    with pytest.raises(ProcessError, match=r"(?s)exited with 3 before it was ready.*the reason it failed"):
        process.wait_until(lambda: False, 60, "before it was ready")
    assert time.monotonic() - started < 30


def test_waiting_says_what_it_waited_for_when_time_runs_out(tmp_path):
    process = shell(tmp_path, "sleep 600")
    try:
        with pytest.raises(ProcessError, match="timed out after 0 s before the moon rose"):
            process.wait_until(lambda: None, 0.2, lambda: "before the moon rose")
    finally:
        process.stop()


def test_the_api_is_ready_when_it_answers_healthz_and_stops_cleanly(tmp_path):
    api = start_api(
        {"VARIANCE_DATA_DIR": str(tmp_path / "data"), "PUBSUB_EMULATOR_HOST": "127.0.0.1:1"}, tmp_path / "api.log"
    )
    try:
        assert api.healthy()
        assert httpx.get(api.url + "/healthz").json() == {"status": "ok"}
    finally:
        # uvicorn shuts down on SIGTERM, then re-raises it; -9 would mean it had to be killed
        assert api.stop() in (0, -15)
    assert not group_alive(api.pid)


def test_an_api_that_cannot_start_fails_fast_with_its_reason(tmp_path):
    env = {"VARIANCE_DATA_DIR": str(tmp_path / "data"), "VARIANCE_PUBLISH_TIMEOUT": "not a number"}
    with pytest.raises(ProcessError, match=r"(?s)the API exited with 1.*invalid settings"):
        start_api(env, tmp_path / "api.log")


def test_a_pipeline_reads_only_its_own_state(tmp_path):
    env = {"VARIANCE_DATA_DIR": str(tmp_path / "data")}
    assert pipeline_state_file(env) == state_path(tmp_path / "data")
    StateFile(pipeline_state_file(env)).set("running")  # written by this process, not the pipeline's
    pipeline = start("the pipeline", ["--help"], env, tmp_path / "pipeline.log")
    process = PipelineProcess(pipeline.name, pipeline.process, pipeline.log_path, pipeline_state_file(env))
    assert process.state() is None
    process.process.wait(60)


def test_run_cli_failures_name_the_command_and_its_error(tmp_path):
    env = {"VARIANCE_DATA_DIR": str(tmp_path / "data")}
    with pytest.raises(CommandFailed, match=r"variance milestones list failed \(1\): error: no organisation 'org_x'"):
        run_cli(["milestones", "list", "--org", "org_x"], env)
    assert run_cli(["milestones", "list", "--org", "org_x"], env, check=False).returncode == 1


def test_processes_run_the_interpreter_of_the_suite():
    from variance.stack.processes import VARIANCE

    assert VARIANCE[:3] == [sys.executable, "-m", "variance"]
