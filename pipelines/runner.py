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
