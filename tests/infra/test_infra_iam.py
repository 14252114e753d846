"""Least privilege, asserted from the parsed Terraform: one service account per
component, exactly the bindings infra/README.md lists, nothing project-wide beyond the
two roles that have no resource-level binding, no basic roles."""

from __future__ import annotations

import re

from tests.support.infra import INFRA

# (component, role, resource) for every grant. Resource: the Terraform address of what
# the role is granted on ("project" for project-level grants).
EXPECTED = {
    ("api", "roles/pubsub.publisher", "google_pubsub_topic.events"),
    ("api", "roles/secretmanager.secretAccessor", "google_secret_manager_secret.database_url"),
    ("api", "roles/secretmanager.secretAccessor", "google_secret_manager_secret.token_key"),
    ("api", "roles/secretmanager.secretAccessor", "google_secret_manager_secret.slack_signing_secret"),
    ("api", "roles/secretmanager.secretAccessor", "google_secret_manager_secret.slack_client_secret"),
    ("migrate", "roles/secretmanager.secretAccessor", "google_secret_manager_secret.database_url"),
    ("pipeline", "roles/pubsub.subscriber", "google_pubsub_subscription.pipeline"),
    ("pipeline", "roles/pubsub.viewer", "google_pubsub_subscription.pipeline"),
    ("pipeline", "roles/bigquery.dataEditor", "google_bigquery_dataset.warehouse"),
    ("pipeline", "roles/dataflow.worker", "project"),
    ("pipeline", "roles/storage.objectAdmin", "google_storage_bucket.dataflow"),
    ("pipeline", "roles/artifactregistry.reader", "google_artifact_registry_repository.images"),
    ("pipeline", "roles/secretmanager.secretAccessor", "google_secret_manager_secret.database_url"),
    ("dbt", "roles/bigquery.dataViewer", "google_bigquery_dataset.warehouse"),
    ("dbt", "roles/bigquery.dataEditor", "google_bigquery_dataset.marts"),
    ("dbt", "roles/bigquery.jobUser", "project"),
    ("slack", "roles/secretmanager.secretAccessor", "google_secret_manager_secret.database_url"),
    ("slack", "roles/secretmanager.secretAccessor", "google_secret_manager_secret.token_key"),
    ("slack", "roles/bigquery.dataEditor", "google_bigquery_dataset.warehouse"),  # its dead letters
    ("scheduler", "roles/run.invoker", "google_cloud_run_v2_job.dbt"),
    ("allUsers", "roles/run.invoker", "google_cloud_run_v2_service.api"),
}

TARGET_ATTRIBUTE = ("topic", "subscription", "dataset_id", "bucket", "repository", "secret_id", "name", "project")


def _member(expr: str) -> str:
    if expr == "allUsers":
        return "allUsers"
    match = re.fullmatch(r"\$\{local\.sa\.([a-z]+)\}", expr)
    assert match, f"members must be a component's service account: {expr}"
    return match.group(1)


def _target(expr: str) -> str:
    if expr == "${var.project_id}":
        return "project"
    match = re.search(r"(google_[a-z0-9_]+\.[a-z_]+)", expr)
    assert match, expr
    return match.group(1)


def _grants(terraform) -> set[tuple[str, str, str]]:
    grants = set()
    for address, body in terraform.resources.items():
        type_ = address.split(".")[0]
        if not type_.endswith(("_iam_member", "_iam_binding", "_iam_policy")):
            continue
        assert type_.endswith("_iam_member"), f"{address}: additive members only (bindings replace others' grants)"
        if "for_each" in body:  # the secret readers: expand their map
            readers = terraform.locals["secret_readers"]
            for reader in readers.values():
                grants.add((_member(reader["member"]), body["role"], _target(reader["secret"])))
            continue
        target = next(body[a] for a in TARGET_ATTRIBUTE if a in body)
        grants.add((_member(body["member"]), body["role"], _target(target)))
    return grants


def test_bindings_are_exactly_the_least_privilege_table(terraform):
    assert _grants(terraform) == EXPECTED


def test_one_service_account_per_component(terraform):
    accounts = terraform.resource("google_service_account.component")
    assert accounts["for_each"] == "${local.components}"
    components = set(terraform.locals["components"])
    assert components == {m for m, _r, _t in EXPECTED if m != "allUsers"}
    for service in ("api", "slack_sender"):
        template = terraform.resource(f"google_cloud_run_v2_service.{service}")["template"][0]
        assert "google_service_account.component" in template["service_account"]
    for job in ("migrate", "dbt"):
        template = terraform.resource(f"google_cloud_run_v2_job.{job}")["template"][0]["template"][0]
        assert "google_service_account.component" in template["service_account"]


def test_no_basic_roles_and_public_only_the_api(terraform):
    for _member, role, _target in _grants(terraform):
        assert role not in {"roles/owner", "roles/editor", "roles/viewer"}
    public = {(r, t) for m, r, t in _grants(terraform) if m == "allUsers"}
    assert public == {("roles/run.invoker", "google_cloud_run_v2_service.api")}


def test_readme_lists_exactly_these_roles():
    readme = (INFRA / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Service accounts and roles", 1)[1].split("\n## ", 1)[0]
    rows = set()
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1].startswith("roles/"):
            rows.add((cells[0], cells[1], cells[2]))
    assert rows == EXPECTED


def _address(expr: str) -> str:
    """``${google_x.name.attribute}`` -> ``google_x.name``."""
    match = re.fullmatch(r"\$\{(google_[a-z0-9_]+\.[a-z_]+)\.[a-z_]+\}", expr)
    assert match, expr
    return match.group(1)


def _containers(terraform):
    """(component, container) of every Cloud Run service and job."""
    for kind in ("google_cloud_run_v2_service", "google_cloud_run_v2_job"):
        for body in terraform.of_type(kind).values():
            template = body["template"][0]
            template = template.get("template", [template])[0]
            component = re.fullmatch(
                r'\$\{google_service_account\.component\["([a-z]+)"\]\.email\}', template["service_account"]
            )
            assert component, template["service_account"]
            for container in template["containers"]:
                yield component.group(1), container


def test_every_secret_a_container_reads_is_granted_to_its_account(terraform):
    """A secret in a service's environment that its account cannot read stops the revision
    from starting; one it can read but no container uses is a grant too many."""
    read = set()
    for component, container in _containers(terraform):
        for env in container.get("env", []):
            if "value_source" in env:
                secret = env["value_source"][0]["secret_key_ref"][0]["secret"]
                read.add((component, "roles/secretmanager.secretAccessor", _address(secret)))
    read.add(
        ("pipeline", "roles/secretmanager.secretAccessor", "google_secret_manager_secret.database_url")
    )  # launch.py
    granted = {g for g in _grants(terraform) if g[1] == "roles/secretmanager.secretAccessor"}
    assert read == granted
    assert ("api", "roles/secretmanager.secretAccessor", "google_secret_manager_secret.slack_client_secret") in read


def test_the_slack_sender_may_write_the_dataset_it_writes_its_dead_letters_to(terraform):
    env = {e["name"]: e for e in dict(_containers(terraform))["slack"].get("env", [])}
    dataset = _address(env["VARIANCE_BIGQUERY_DATASET"]["value"])
    bigquery = {(r, t) for m, r, t in _grants(terraform) if m == "slack" and r.startswith("roles/bigquery.")}
    # streaming inserts only: no query or load job, so no project-level jobUser
    assert bigquery == {("roles/bigquery.dataEditor", dataset)}
    assert dataset == "google_bigquery_dataset.warehouse"
