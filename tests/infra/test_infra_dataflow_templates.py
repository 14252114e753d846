"""The Flex Template launcher (infra/dataflow/launch.py) builds both pipelines for
Dataflow from template parameters, and Beam's real DataflowRunner translates them into a
Dataflow job with ``--dry_run`` (Beam's own runner tests do the same): nothing is
submitted, nothing reaches Google. Checked: the job's type and environment, that every
DoFn in the job unpickles (is serialisable), and that no local-only source or sink
(the durable local read, the local lake, the local Slack outbox) is in the graph."""

from __future__ import annotations

import pytest

from tests.support.infra import load_infra_module

IMAGE = "europe-west1-docker.pkg.dev/acme-prod/variance-images/dataflow:1.0.0"
DATAFLOW_OPTIONS = [
    "--project=acme-prod",
    "--region=europe-west1",
    "--temp_location=gs://acme-prod-variance-dataflow/temp",
    "--staging_location=gs://acme-prod-variance-dataflow/staging",
    f"--sdk_container_image={IMAGE}",
    "--sdk_location=container",
    "--enable_streaming_engine",
    "--autoscaling_algorithm=THROUGHPUT_BASED",
    "--max_num_workers=10",
    "--no_use_public_ips",
    "--service_account_email=variance-pipeline@acme-prod.iam.gserviceaccount.com",
    # Translate into a Dataflow job without submitting it or contacting Google.
    "--dry_run=True",
    "--no_auth",
]
PARAMETERS = [
    "--bigquery_dataset=variance_warehouse",
    "--database_url_secret=projects/acme-prod/secrets/variance-database-url/versions/latest",
]
SECRET_URL = "postgresql://variance:pw@10.20.0.3:5432/variance?sslmode=require"

LOCAL_ONLY = {"ReadDurablyFromPubSub", "WriteToLocalWarehouse", "WriteLocally", "_ReadDurablyFn", "LeaseReader"}


def _launch():
    return load_infra_module("dataflow/launch.py", "infra_dataflow_launch")


def _secret(version: str) -> str:
    assert version.endswith("/versions/latest")
    return SECRET_URL


def _source(settings, connection_id):
    from variance.core.bus import Source

    return Source("org_1", connection_id, "web")


@pytest.fixture(scope="module")
def streaming_job():
    p = _launch().build(
        ["--pipeline=streaming", "--events_subscription=variance-pipeline", *PARAMETERS, *DATAFLOW_OPTIONS],
        secret=_secret,
    )
    return p.run().job


@pytest.fixture(scope="module")
def backfill_job():
    from apache_beam.io import filebasedsource

    # ReadFromText checks at construction that gs:// files exist, which would ask Google
    # Cloud Storage; on Dataflow the launcher's service account does that for real.
    original = filebasedsource.FileBasedSource._validate
    filebasedsource.FileBasedSource._validate = lambda self: None
    try:
        p = _launch().build(
            [
                "--pipeline=backfill",
                "--input=gs://acme-archive/segment/2026-01-*.json.gz,gs://acme-archive/segment/2026-02-*.json.gz",
                "--connection=conn_1",
                "--as_of=2026-03-01T00:00:00Z",
                *PARAMETERS,
                *DATAFLOW_OPTIONS,
            ],
            secret=_secret,
            source_of=_source,
        )
        return p.run().job
    finally:
        filebasedsource.FileBasedSource._validate = original


def _dofns(job):
    """Every user DoFn (or CombineFn/WindowFn payload) of the job, unpickled as a worker would."""
    from apache_beam.internal import pickler
    from apache_beam.portability import common_urns
    from apache_beam.portability.api import beam_runner_api_pb2

    found = []
    for transform in job.proto_pipeline.components.transforms.values():
        if transform.spec.urn == common_urns.primitives.PAR_DO.urn:
            payload = beam_runner_api_pb2.ParDoPayload.FromString(transform.spec.payload)
            if payload.do_fn.urn == "beam:dofn:pickled_python_info:v1":
                fn = pickler.loads(payload.do_fn.payload)  # raises if not serialisable
                found.append((transform.unique_name, fn))
    return found


def _names(job) -> list[str]:
    return [t.unique_name for t in job.proto_pipeline.components.transforms.values()]


def _has(job, label: str) -> bool:
    """A transform with this label at any depth (``WriteSignals/ToBigQuery`` has ``ToBigQuery``)."""
    return any(part.startswith(label) for name in _names(job) for part in name.split("/"))


def _classes(job) -> set[str]:
    classes = set()
    for _name, fn in _dofns(job):
        # pickled_python_info holds (dofn, args, kwargs, side inputs, windowing)
        for part in fn if isinstance(fn, tuple) else (fn,):
            classes.add(type(part).__name__)
    return classes


def test_streaming_job_is_a_streaming_engine_job_on_our_image(streaming_job):
    from google.cloud.dataflow_v1beta3 import JobType

    assert streaming_job.proto.type_ == JobType.JOB_TYPE_STREAMING
    from apache_beam.options.pipeline_options import DebugOptions, GoogleCloudOptions

    experiments = set(streaming_job.options.view_as(DebugOptions).experiments or [])
    assert "enable_streaming_engine" in experiments and "use_runner_v2" in experiments
    assert streaming_job.options.view_as(GoogleCloudOptions).enable_streaming_engine
    images = {e.payload for e in streaming_job.proto_pipeline.components.environments.values()}
    assert any(IMAGE.encode() in payload for payload in images)


def test_streaming_reads_pubsub_with_the_event_time_attribute_and_writes_bigquery(streaming_job):
    from apache_beam.portability.api import beam_runner_api_pb2

    from variance.core import bus

    assert _has(streaming_job, "ReadFromPubSub")
    assert _has(streaming_job, "ToBigQuery")
    reads = [
        t
        for t in streaming_job.proto_pipeline.components.transforms.values()
        if t.spec.urn == "beam:transform:pubsub_read:v1"
    ]
    assert reads, "Dataflow's native Pub/Sub read"
    payload = beam_runner_api_pb2.PubSubReadPayload.FromString(reads[0].spec.payload)
    assert payload.subscription == "projects/acme-prod/subscriptions/variance-pipeline"
    assert payload.timestamp_attribute == bus.EVENT_TIME
    assert payload.with_attributes


@pytest.mark.parametrize("job", ["streaming_job", "backfill_job"])
def test_every_dofn_is_serialisable_and_none_is_local_only(job, request):
    built = request.getfixturevalue(job)
    dofns = _dofns(built)
    assert len(dofns) > 5
    assert _classes(built) & LOCAL_ONLY == set()
    assert not _has(built, "ReadDurably") and not _has(built, "ToLocalWarehouse")


def test_backfill_is_a_batch_job_reading_gcs_and_writing_bigquery(backfill_job):
    from google.cloud.dataflow_v1beta3 import JobType

    assert backfill_job.proto.type_ == JobType.JOB_TYPE_BATCH
    assert _has(backfill_job, "Read0") and _has(backfill_job, "Read1")
    assert _has(backfill_job, "ToBigQuery")


def test_no_slack_post_writes_a_worker_local_outbox(streaming_job):
    # Workers only record matches in the app database's Slack outbox; the one sender posts.
    classes = _classes(streaming_job)
    assert "PostToSlack" not in classes
    assert "RecordSlackPosts" in classes


def test_launcher_rejects_local_runners_and_missing_parameters():
    launch = _launch()
    with pytest.raises(SystemExit):
        launch.build(["--pipeline=streaming", "--events_subscription=s", *PARAMETERS, "--runner=FnApiRunner"])
    with pytest.raises(SystemExit):
        launch.parse(["--pipeline=backfill", *PARAMETERS])
    _known, beam_args = launch.parse(["--pipeline=streaming", "--events_subscription=s", *PARAMETERS])
    assert beam_args[0] == "--runner=DataflowRunner"


def test_template_parameters_match_the_launcher(terraform):
    """Every parameter a template spec declares is one the launcher reads, and back."""
    import re

    launch_text = (load_infra_module.__globals__["INFRA"] / "dataflow" / "launch.py").read_text()
    accepted = set(re.findall(r'add_argument\("--([a-z_]+)"', launch_text))
    for spec in ("streaming_template", "backfill_template"):
        content = terraform.resource(f"google_storage_bucket_object.{spec}")["content"]
        declared = set(re.findall(r'name = "([a-z_]+)", label', content))
        assert declared and declared <= accepted, spec
    job_parameters = set(terraform.locals["pipeline_parameters"]) | {"pipeline"}
    assert job_parameters <= accepted
