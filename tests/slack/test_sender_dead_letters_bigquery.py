"""The Slack sender's dead letters on BigQuery, with the role Terraform gives it
(dataEditor on the dataset, nothing on the project): it writes into the tables Terraform
made and never asks to create the dataset, which that role would refuse."""

from __future__ import annotations

from tests.warehouse.test_bigquery import PROJECT, _error, client_for, dataset, fake  # noqa: F401 (fixtures)
from variance.cli.slack import _DeadLetterWriter
from variance.core.settings import Settings
from variance.core.warehouse import DEAD_LETTERS, TABLES
from variance.warehouse.bigquery import BigQueryWriter


def test_dead_letters_go_into_existing_tables_without_creating_the_dataset(fake, dataset):  # noqa: F811
    # What Terraform made; the account may not create datasets.
    fake.datasets.add(f"{PROJECT}.{dataset}")
    for name in TABLES:
        fake.tables[f"{PROJECT}.{dataset}.{name}"] = {"tableReference": {"tableId": name}}
    handle = fake.handle

    def dataset_level_role(method, path, body):
        if method == "POST" and path.split("?")[0].rstrip("/").endswith("/datasets"):
            return 403, _error(403, "accessDenied", "Permission bigquery.datasets.create denied")
        return handle(method, path, body)

    fake.handle = dataset_level_role
    settings = Settings(VARIANCE_WAREHOUSE="bigquery", VARIANCE_BIGQUERY_DATASET=dataset, GOOGLE_CLOUD_PROJECT=PROJECT)
    writer = _DeadLetterWriter(settings)
    opened: list[dict] = []

    def open_bigquery(config, **options):
        opened.append(options)
        return BigQueryWriter(client_for(fake), config.bigquery_dataset, **options)

    writer._open = open_bigquery
    writer(
        [
            {
                "org_id": "org_a",
                "reason": "channel_not_found",
                "message_id": "m1",
                "payload": "{}",
                "stream_id": "str_1",
                "key": "org_a/str_1/m1",
            }
        ]
    )
    writer.close()

    assert opened == [{"create_tables": False}]
    assert not [r for r in fake.requests if r[0] == "POST" and r[1].split("?")[0].endswith("/datasets")]
    [insert] = fake.inserts(DEAD_LETTERS.name)
    [row] = [r["json"] for r in insert["rows"]]
    assert (row["org_id"], row["stage"], row["message_id"]) == ("org_a", "slack", "m1")
    assert row["reason"] == "posting to Slack failed: channel_not_found"
