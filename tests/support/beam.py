"""Helpers for Beam tests: streaming TestPipeline on the local runner, static config
(``StaticConfig`` ships with the package, for the benchmarks too)."""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline

from variance.samples.config import StaticConfig

__all__ = ["StaticConfig", "batch_pipeline", "streaming_pipeline"]


def streaming_pipeline() -> TestPipeline:
    # Name the local runner explicitly: the plain DirectRunner tries to download Prism.
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    return TestPipeline(runner="BundleBasedDirectRunner", options=options)


def batch_pipeline() -> TestPipeline:
    return TestPipeline(runner="FnApiRunner")
