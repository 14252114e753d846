"""The local runner's per-bundle signature cache (pipelines/local_speedups.py) gives what
Beam's own ``get_function_arguments`` gives, for every method of every DoFn the pipeline
runs, and falls back to Beam's for what it cannot cache."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.internal import pickler
from apache_beam.runners.common import DoFnSignature
from apache_beam.runners.direct import transform_evaluator
from apache_beam.transforms import core, userstate

from tests.support.beam import StaticConfig
from tests.support.events import config
from variance.pipelines import local_speedups
from variance.pipelines.runner import pipeline_options
from variance.transforms.parse import ParseMessageFn
from variance.transforms.signals import (
    BucketDedupeAndRouteFn,
    DedupeAndRouteFn,
    InProcessAccountFn,
    InProcessAnonymousFn,
    InProcessContactFn,
    WatchConfigFn,
)


def _dofns() -> list[beam.DoFn]:
    provider = StaticConfig(config())
    return [
        ParseMessageFn(),
        DedupeAndRouteFn(provider, 0),
        BucketDedupeAndRouteFn(provider),
        InProcessAnonymousFn(1000),
        InProcessContactFn(provider, 1000),
        InProcessAccountFn(provider, 1000),
        WatchConfigFn(provider, None, 30.0),
        beam.Map(len).fn,  # a Beam DoFn with its own _inspect_ hook: passed through
    ]


def _methods(dofn: beam.DoFn) -> list[str]:
    return [name for name in dir(dofn) if callable(getattr(dofn, name, None)) and not name.startswith("__")]


def test_the_local_runner_options_install_it_and_every_answer_equals_beams():
    try:
        pipeline_options([], streaming=True)
        assert core.get_function_arguments is local_speedups._memoized_function_arguments
        for dofn in _dofns():
            for name in _methods(dofn):
                try:
                    expected = local_speedups.original_function_arguments(dofn, name)
                except (TypeError, ValueError) as exc:  # what Beam cannot read, the cache cannot either
                    expected = type(exc)
                for _ in range(2):  # the first call fills the cache, the second reads it
                    try:
                        got = core.get_function_arguments(dofn, name)
                    except (TypeError, ValueError) as exc:
                        got = type(exc)
                    assert got == expected, (type(dofn).__name__, name)
            specs = userstate.get_dofn_specs(dofn)
            assert userstate.get_dofn_specs(dofn) == specs == local_speedups.original_dofn_specs(dofn)
            assert transform_evaluator.get_dofn_specs(dofn) == specs
            stateful = bool(specs[0] or specs[1])
            assert transform_evaluator.is_stateful_dofn(dofn) is stateful
            assert DoFnSignature(dofn).is_stateful_dofn() == stateful
            assert stateful == (type(dofn).__name__ not in ("ParseMessageFn", "CallableWrapperDoFn"))
    finally:
        local_speedups.restore_beam()


def test_callers_may_change_the_lists_they_get():
    try:
        local_speedups.memoize_dofn_signatures()
        dofn = InProcessContactFn(StaticConfig(config()), 1000)
        args, defaults = core.get_function_arguments(dofn, "process")
        args.append("x")
        defaults.clear()
        again = core.get_function_arguments(dofn, "process")
        assert again == local_speedups.original_function_arguments(dofn, "process")
        state_specs, _ = userstate.get_dofn_specs(dofn)
        state_specs.clear()
        assert userstate.get_dofn_specs(dofn)[0] == local_speedups.original_dofn_specs(dofn)[0] != set()
    finally:
        local_speedups.restore_beam()


def test_another_beam_version_runs_unchanged(monkeypatch):
    monkeypatch.setattr(local_speedups.apache_beam, "__version__", "9.9.9")
    local_speedups.restore_beam()
    assert local_speedups.memoize_dofn_signatures() is False
    assert core.get_function_arguments is local_speedups._ORIGINAL
    assert userstate.get_dofn_specs is local_speedups._ORIGINAL_SPECS
    assert transform_evaluator.get_dofn_specs is local_speedups._ORIGINAL_SPECS


def test_beam_is_asked_once_per_class_even_for_dofns_holding_a_configuration_provider(monkeypatch):
    """The specs of our DoFns, which hold a callable configuration provider, come from the
    cache after the first bundle (a miss per bundle was a quarter of the pipeline's CPU at
    400 events/s, py-spy); a DoFn holding a bound method of its own is asked every time."""
    asked: list[str] = []
    arguments: list[tuple[str, str]] = []
    beams_specs, beams_arguments = userstate.get_dofn_specs, core.get_function_arguments

    def counting_specs(dofn):
        asked.append(type(dofn).__name__)
        return beams_specs(dofn)

    def counting_arguments(obj, func):
        arguments.append((type(obj).__name__, func))
        return beams_arguments(obj, func)

    monkeypatch.setattr(local_speedups, "_ORIGINAL_SPECS", counting_specs)
    monkeypatch.setattr(local_speedups, "_ORIGINAL", counting_arguments)
    monkeypatch.setattr(local_speedups, "_SPECS", {})
    monkeypatch.setattr(local_speedups, "_CACHE", {})
    local_speedups.restore_beam()
    try:
        local_speedups.memoize_dofn_signatures()
        provider = StaticConfig(config())
        for _ in range(3):  # three bundles: a fresh copy of the DoFn each
            dofn = pickler.roundtrip(InProcessContactFn(provider, 1000))  # as the runner copies it
            assert userstate.get_dofn_specs(dofn)[0]
            for name in ("process", "from_runner_api", "default_label"):  # a classmethod among them
                core.get_function_arguments(dofn, name)
        assert asked == ["InProcessContactFn"]
        n = "InProcessContactFn"
        # each method once, over three bundles (the specs read every method the first time)
        assert len(arguments) == len(set(arguments))
        assert {(n, "default_label"), (n, "from_runner_api"), (n, "process")} <= set(arguments)

        holder = InProcessContactFn(provider, 1000)
        holder.extra = holder.process  # a bound method on the instance: Beam would read it too
        userstate.get_dofn_specs(holder)
        userstate.get_dofn_specs(holder)
        assert asked == [n, n, n]
    finally:
        local_speedups.restore_beam()


def test_a_large_local_backfill_runs_on_a_worker_process_per_core_and_a_small_one_in_process():
    from apache_beam.options.pipeline_options import DirectOptions

    from variance.pipelines.runner import PARALLEL_BACKFILL_LINES, backfill_options, worker_processes

    def chosen(args, lines, runner_args=()):
        options = backfill_options([*runner_args, *args], lines, cores=2)
        direct = options.view_as(DirectOptions)
        return worker_processes(options), direct.direct_running_mode

    assert chosen([], PARALLEL_BACKFILL_LINES) == (2, "multi_processing")
    assert chosen([], PARALLEL_BACKFILL_LINES - 1) == (0, "in_memory")
    assert chosen(["--direct_num_workers", "1"], 10**6) == (0, "in_memory")  # what the command line says wins
    assert chosen(["--direct_running_mode", "multi_threading"], 10**6) == (0, "multi_threading")
    dataflow = ["--runner", "DataflowRunner", "--project", "p", "--region", "r", "--temp_location", "gs://b/t"]
    assert chosen(dataflow, 10**6) == (0, "in_memory")
