"""Helpers for Beam tests: streaming TestPipeline on the local runner, static config."""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline

from variance.core.engine.config import OrgConfig


def streaming_pipeline() -> TestPipeline:
    # Name the local runner explicitly: the plain DirectRunner tries to download Prism.
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    return TestPipeline(runner="BundleBasedDirectRunner", options=options)


def batch_pipeline() -> TestPipeline:
    return TestPipeline(runner="FnApiRunner")


class StaticConfig:
    """A config provider that always answers the same snapshot per organisation."""

    def __init__(self, *configs: OrgConfig):
        self._configs = {c.org_id: c for c in configs}

    def __call__(self, org_id: str) -> OrgConfig:
        return self._configs.get(org_id) or OrgConfig(org_id=org_id)
