"""Which runner a pipeline uses, and what follows from it."""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

# Named explicitly: the plain DirectRunner first tries to download the Prism runner.
LOCAL_STREAMING = "BundleBasedDirectRunner"
LOCAL_BATCH = "FnApiRunner"
LOCAL_RUNNERS = frozenset({LOCAL_STREAMING, LOCAL_BATCH, "DirectRunner"})


def pipeline_options(beam_args: list[str], *, streaming: bool) -> PipelineOptions:
    """Beam's own options from the command line (``--runner DataflowRunner --project ...
    --region ... --temp_location ... --setup_file ./setup.py``), with a local default."""
    options = PipelineOptions(beam_args)
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = LOCAL_STREAMING if streaming else LOCAL_BATCH
    standard.streaming = streaming
    if is_local(options):
        from variance.pipelines.local_speedups import memoize_dofn_signatures

        memoize_dofn_signatures()
    return options


def is_local(options: PipelineOptions) -> bool:
    runner = options.view_as(StandardOptions).runner
    name = runner if isinstance(runner, str) else type(runner).__name__
    return name in LOCAL_RUNNERS


def in_process_state(options: PipelineOptions) -> bool:
    """Whether keyed state may stay live objects in this process: on Beam's local runners,
    unless their steps run in several processes (``direct_running_mode``)."""
    from apache_beam.options.pipeline_options import DirectOptions

    mode = options.view_as(DirectOptions).direct_running_mode
    return is_local(options) and mode in (None, "in_memory")


# Below this many lines a backfill stays in one process: starting worker processes costs
# a few seconds, more than they save on a small archive.
PARALLEL_BACKFILL_LINES = 50_000


def backfill_options(beam_args: list[str], lines: int, cores: int | None = None) -> PipelineOptions:
    """A large backfill on the local batch runner runs its steps in one worker process
    per core: FnApiRunner splits the input of every step without state among its workers
    (by key after a GroupByKey), and the backfill's steps keep none (transforms/
    signals_batch.py). ``--direct_num_workers`` or ``--direct_running_mode`` on the
    command line win; other runners are left as they are."""
    import os

    from apache_beam.options.pipeline_options import DirectOptions

    options = pipeline_options(beam_args, streaming=False)
    given = {arg.split("=", 1)[0] for arg in beam_args}
    if not is_local(options) or given & {"--direct_num_workers", "--direct_running_mode"}:
        return options
    workers = cores if cores is not None else (os.cpu_count() or 1)
    if lines >= PARALLEL_BACKFILL_LINES and workers > 1:
        direct = options.view_as(DirectOptions)
        direct.direct_num_workers = workers
        direct.direct_running_mode = "multi_processing"
    return options


def worker_processes(options: PipelineOptions) -> int:
    """How many worker processes of its own a local runner starts (0: none, all in process)."""
    from apache_beam.options.pipeline_options import DirectOptions

    direct = options.view_as(DirectOptions)
    if not is_local(options) or direct.direct_running_mode != "multi_processing":
        return 0
    return direct.direct_num_workers or 1
