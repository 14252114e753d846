"""The warehouse on BigQuery, checked against a local fake of BigQuery's REST API: the
requests the clients really send (table creation with schema, partitioning and
clustering; insertAll with our row keys as insert ids), and what happens to rows
BigQuery rejects. Nothing here reaches Google."""

from __future__ import annotations

import json
import re
import threading
import uuid
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import apache_beam as beam
import pytest
from apache_beam.io.gcp.internal.clients import bigquery as beam_bigquery
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from variance.core.settings import Settings
from variance.core.warehouse import DEAD_LETTERS, EVENTS, MILESTONE_CHANGES, TABLES, row_key
from variance.warehouse.bigquery import (
    BigQueryReader,
    BigQueryWriter,
    WriteTableToBigQuery,
    WriteWarehouseToBigQuery,
    beam_table_schema,
    bigquery_schema,
    bigquery_table,
    json_schema,
    table_options,
    to_bigquery_row,
)

T0 = 1_714_521_600_000_000  # 2024-05-01T00:00:00Z
SEC = 1_000_000
PROJECT = "variance-test"
RUNNER = "BundleBasedDirectRunner"  # never the plain DirectRunner: it tries to download Prism


def change(change_id: str, *, status: str = "current", recorded_at: int = T0 + 7 * SEC) -> dict:
    return {
        "org_id": "org_a",
        "change_id": change_id,
        "milestone_id": "mil_pql",
        "milestone_version": 2,
        "milestone_name": "PQL",
        "entity_type": "account",
        "entity_id": "acc_1",
        "kind": "achieved",
        "changed_at": T0 + 5 * SEC,
        "count": 3,
        "status": status,
        "source": "streaming",
        "recorded_at": recorded_at,
    }


def event(message_id: str, **columns) -> dict:
    row = {
        "org_id": "org_a",
        "message_id": message_id,
        "connection_id": "con_web",
        "connection_name": "web",
        "type": "track",
        "kind": "Action",
        "name": "Invited User",
        "event_time": T0 + 1_500,
        "received_at": T0 + 2 * SEC,
        "user_id": "u1",
        "properties": json.dumps({"role": "admin"}),
        "raw": json.dumps({"type": "track", "messageId": message_id}),
        "recorded_at": T0 + 3 * SEC,
    }
    row.update(columns)
    return row


# -- a fake BigQuery REST API --------------------------------------------------------------


class FakeBigQuery:
    """tables.get/insert, datasets.get/insert, tabledata.insertAll and jobs.query, each
    request recorded. ``reject`` maps a message_id/change_id to a permanent error reason;
    ``flaky`` ids fail with ``backendError`` the first time they are sent (dead letters
    are always accepted)."""

    def __init__(self):
        self.requests: list[tuple[str, str, dict | None]] = []
        self.tables: dict[str, dict] = {}
        self.datasets: set[str] = set()
        self.reject: dict[str, str] = {}
        self.flaky: set[str] = set()
        self.query_response: dict = {}
        self.lock = threading.Lock()

    def inserts(self, table: str) -> list[dict]:
        return [body for method, path, body in self.requests if path.endswith(f"/tables/{table}/insertAll")]

    def handle(self, method: str, path: str, body: dict | None) -> tuple[int, dict]:
        path = path.split("?")[0]
        with self.lock:
            self.requests.append((method, path, body))
            parts = path.strip("/").split("/")[2:]  # after bigquery/v2
            match parts, method:
                case ["projects", project, "datasets"], "POST":
                    name = f"{project}.{body['datasetReference']['datasetId']}"
                    if name in self.datasets:
                        return 409, _error(409, "duplicate", "Already Exists")
                    self.datasets.add(name)
                    return 200, body
                case ["projects", project, "datasets", dataset], "GET":
                    if f"{project}.{dataset}" in self.datasets:
                        return 200, {"datasetReference": {"projectId": project, "datasetId": dataset}}
                    return 404, _error(404, "notFound", "Not found: Dataset")
                case ["projects", project, "datasets", dataset, "tables"], "POST":
                    name = f"{project}.{dataset}.{body['tableReference']['tableId']}"
                    if name in self.tables:
                        return 409, _error(409, "duplicate", "Already Exists")
                    self.tables[name] = body
                    return 200, body
                case ["projects", project, "datasets", dataset, "tables", table], "GET":
                    found = self.tables.get(f"{project}.{dataset}.{table}")
                    return (200, found) if found else (404, _error(404, "notFound", "Not found: Table"))
                case ["projects", project, "datasets", dataset, "tables", table, "insertAll"], "POST":
                    if f"{project}.{dataset}.{table}" not in self.tables:
                        return 404, _error(404, "notFound", "Not found: Table")
                    errors = {} if table == DEAD_LETTERS.name else self._insert_errors(body)
                    return 200, {"kind": "bigquery#tableDataInsertAllResponse", **errors}
                case ["projects", project, "queries"], "POST":
                    return 200, self.query_response
            return 400, _error(400, "invalid", f"the fake does not know {method} {path}")

    def _insert_errors(self, body: dict) -> dict:
        errors = []
        for index, row in enumerate(body["rows"]):
            ident = row["json"].get("message_id") or row["json"].get("change_id")
            if ident in self.reject:
                errors.append({"index": index, "errors": [{"reason": self.reject[ident], "message": "no such field"}]})
            elif ident in self.flaky:
                self.flaky.discard(ident)
                errors.append({"index": index, "errors": [{"reason": "backendError", "message": "try again"}]})
        return {"insertErrors": errors} if errors else {}


def _error(code: int, reason: str, message: str) -> dict:
    return {"error": {"code": code, "message": message, "errors": [{"reason": reason, "message": message}]}}


@pytest.fixture
def fake():
    api = FakeBigQuery()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, payload = api.handle(method, self.path, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._reply("GET")

        def do_POST(self):
            self._reply("POST")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    api.url = f"http://127.0.0.1:{server.server_port}"
    yield api
    server.shutdown()
    server.server_close()


def client_for(fake: FakeBigQuery) -> bigquery.Client:
    return bigquery.Client(
        project=PROJECT, credentials=AnonymousCredentials(), client_options=ClientOptions(api_endpoint=fake.url)
    )


class BeamTestClient:
    """What Beam's ``BigQueryWrapper`` calls on a ``test_client``: ``tables`` (its apitools
    client) and ``insert_rows_json`` (google-cloud-bigquery), both over HTTP to the fake.
    Pickled with the DoFn, so only the URL travels."""

    def __init__(self, url: str):
        self.url = url

    def __getstate__(self):
        return {"url": self.url}

    @cached_property
    def _apitools(self):
        return beam_bigquery.BigqueryV2(url=self.url + "/bigquery/v2/", get_credentials=False)

    @cached_property
    def _client(self):
        return bigquery.Client(
            project=PROJECT, credentials=AnonymousCredentials(), client_options=ClientOptions(api_endpoint=self.url)
        )

    @property
    def tables(self):
        return self._apitools.tables

    def insert_rows_json(self, *args, **kwargs):
        return self._client.insert_rows_json(*args, **kwargs)


@pytest.fixture
def dataset() -> str:
    """A dataset of the test's own: Beam remembers the tables it created per process."""
    return f"ds_{uuid.uuid4().hex[:10]}"


# -- schemas and rows ----------------------------------------------------------------------

MILESTONE_CHANGES_SCHEMA = [
    {"name": "org_id", "type": "STRING", "mode": "REQUIRED", "description": "Organisation the row belongs to"},
    {
        "name": "change_id",
        "type": "STRING",
        "mode": "REQUIRED",
        "description": "Hash of org, milestone, version, entity, kind and time",
    },
    {"name": "milestone_id", "type": "STRING", "mode": "REQUIRED"},
    {"name": "milestone_version", "type": "INT64", "mode": "REQUIRED"},
    {"name": "milestone_name", "type": "STRING", "mode": "REQUIRED"},
    {"name": "entity_type", "type": "STRING", "mode": "REQUIRED", "description": "contact | account"},
    {"name": "entity_id", "type": "STRING", "mode": "REQUIRED"},
    {"name": "kind", "type": "STRING", "mode": "REQUIRED", "description": "achieved | lost"},
    {"name": "changed_at", "type": "TIMESTAMP", "mode": "REQUIRED"},
    {
        "name": "count",
        "type": "INT64",
        "mode": "REQUIRED",
        "description": "Matching events counted just after the change",
    },
    {"name": "status", "type": "STRING", "mode": "REQUIRED", "description": "current | retracted"},
    {"name": "source", "type": "STRING", "mode": "REQUIRED", "description": "streaming | backfill | recompute"},
    {
        "name": "recorded_at",
        "type": "TIMESTAMP",
        "mode": "REQUIRED",
        "description": "When the pipeline wrote the row; the newest row per key wins",
    },
]


def test_schemas_come_from_the_one_table_definition():
    assert json_schema(MILESTONE_CHANGES.name) == MILESTONE_CHANGES_SCHEMA
    assert [f.to_api_repr() for f in bigquery_schema(MILESTONE_CHANGES.name)] == MILESTONE_CHANGES_SCHEMA
    beam_fields = beam_table_schema(MILESTONE_CHANGES.name).fields
    assert [(f.name, f.type, f.mode) for f in beam_fields] == [
        (f["name"], f["type"], f["mode"]) for f in MILESTONE_CHANGES_SCHEMA
    ]
    assert {f["name"]: f["type"] for f in json_schema(EVENTS.name)}["properties"] == "JSON"
    for name, table in TABLES.items():
        assert [f["name"] for f in json_schema(name)] == list(table.column_names)


def test_tables_are_partitioned_by_day_and_clustered_by_organisation():
    assert table_options(EVENTS.name) == {
        "timePartitioning": {"type": "DAY", "field": "event_time"},
        "clustering": {"fields": ["org_id"]},
    }
    assert table_options(DEAD_LETTERS.name)["timePartitioning"] == {"type": "DAY", "field": "recorded_at"}
    resource = bigquery_table(MILESTONE_CHANGES.name, "p", "d").to_api_repr()
    assert resource["tableReference"] == {"projectId": "p", "datasetId": "d", "tableId": MILESTONE_CHANGES.name}
    assert resource["timePartitioning"] == {"type": "DAY", "field": "changed_at"}
    assert resource["clustering"] == {"fields": ["org_id"]}
    assert resource["schema"] == {"fields": MILESTONE_CHANGES_SCHEMA}


def test_rows_are_converted_to_what_insert_all_takes():
    assert to_bigquery_row(EVENTS.name, event("m1", anonymous_id=None)) == {
        "org_id": "org_a",
        "message_id": "m1",
        "connection_id": "con_web",
        "connection_name": "web",
        "type": "track",
        "kind": "Action",
        "name": "Invited User",
        "event_time": "2024-05-01T00:00:00.001500Z",
        "received_at": "2024-05-01T00:00:02.000Z",
        "user_id": "u1",
        "properties": '{"role": "admin"}',
        "raw": '{"type": "track", "messageId": "m1"}',
        "recorded_at": "2024-05-01T00:00:03.000Z",
    }


# -- Beam ----------------------------------------------------------------------------------


def insert_all(table: str, rows: list[dict]) -> dict:
    """The insertAll body BigQuery should receive for ``rows``."""
    spec = TABLES[table]
    return {
        "rows": [{"insertId": row_key(spec, row), "json": to_bigquery_row(spec, row)} for row in rows],
        "skipInvalidRows": True,
        "ignoreUnknownValues": False,
    }


def test_beam_creates_the_table_and_inserts_with_row_keys_as_insert_ids(fake, dataset):
    rows = [change("c1"), change("c2", status="retracted")]
    with TestPipeline(runner=RUNNER) as p:
        result = (
            p
            | beam.Create(rows)
            | WriteTableToBigQuery(MILESTONE_CHANGES.name, PROJECT, dataset, test_client=BeamTestClient(fake.url))
        )
        assert_that(result[DEAD_LETTERS.name], equal_to([]), label="NoDeadLetters")

    assert fake.tables[f"{PROJECT}.{dataset}.milestone_changes"] == {
        "tableReference": {"projectId": PROJECT, "datasetId": dataset, "tableId": MILESTONE_CHANGES.name},
        "schema": {"fields": MILESTONE_CHANGES_SCHEMA},
        "timePartitioning": {"type": "DAY", "field": "changed_at"},
        "clustering": {"fields": ["org_id"]},
    }
    [body] = fake.inserts(MILESTONE_CHANGES.name)
    assert body == insert_all(MILESTONE_CHANGES.name, rows)
    assert body["rows"][0]["insertId"] == row_key(TABLES[MILESTONE_CHANGES.name], change("c1"))


def test_a_row_sent_twice_keeps_its_insert_id(fake, dataset):
    with TestPipeline(runner=RUNNER) as p:
        _ = (
            p
            | beam.Create([change("c1")])
            | WriteTableToBigQuery(MILESTONE_CHANGES.name, PROJECT, dataset, test_client=BeamTestClient(fake.url))
        )
    with TestPipeline(runner=RUNNER) as p:
        _ = (
            p
            | beam.Create([change("c1")])
            | WriteTableToBigQuery(MILESTONE_CHANGES.name, PROJECT, dataset, test_client=BeamTestClient(fake.url))
        )
    ids = [r["insertId"] for body in fake.inserts(MILESTONE_CHANGES.name) for r in body["rows"]]
    assert ids == [row_key(TABLES[MILESTONE_CHANGES.name], change("c1"))] * 2


def test_rejected_rows_become_dead_letters_and_transient_errors_are_retried(fake, dataset):
    fake.reject["m_bad"] = "invalid"
    fake.flaky.add("m_flaky")
    rows = [event("m_ok"), event("m_bad"), event("m_flaky"), event("m_no_org", org_id=None)]
    with TestPipeline(runner=RUNNER) as p:
        result = (
            p
            | beam.Create(rows)
            | WriteTableToBigQuery(EVENTS.name, PROJECT, dataset, test_client=BeamTestClient(fake.url))
        )
        letters = result[DEAD_LETTERS.name] | beam.Map(lambda r: (r["stage"], r["message_id"], r["reason"]))
        assert_that(
            letters,
            equal_to(
                [
                    ("warehouse", "m_bad", "events: BigQuery rejected the row (invalid): no such field"),
                    ("warehouse", "m_no_org", "events: column org_id is required"),
                ]
            ),
            label="DeadLetters",
        )
        failed = result["failed_rows"] | beam.Map(lambda f: (f[0], f[1]["message_id"], f[2][0]["reason"]))
        assert_that(failed, equal_to([(f"{PROJECT}:{dataset}.events", "m_bad", "invalid")]), label="Failed")

    first, retry = fake.inserts(EVENTS.name)
    assert first == insert_all(EVENTS.name, [event("m_ok"), event("m_bad"), event("m_flaky")])
    assert retry == insert_all(EVENTS.name, [event("m_bad"), event("m_flaky")])  # Beam retries the failed rows


def test_the_pipeline_sink_routes_each_table_and_dead_letters_rejected_rows(fake, dataset):
    fake.reject["m_bad"] = "invalid"
    settings = Settings(GOOGLE_CLOUD_PROJECT=PROJECT, VARIANCE_BIGQUERY_DATASET=dataset)
    elements = [
        (EVENTS.name, event("m1")),
        (EVENTS.name, event("m_bad")),
        (MILESTONE_CHANGES.name, change("c1")),
        ("ack", {"ack_id": "a1"}),  # not a warehouse table: ignored
    ]
    with TestPipeline(runner=RUNNER) as p:
        _ = p | beam.Create(elements) | WriteWarehouseToBigQuery(settings, test_client=BeamTestClient(fake.url))

    assert sorted(name.rsplit(".", 1)[1] for name in fake.tables) == [
        DEAD_LETTERS.name,
        EVENTS.name,
        MILESTONE_CHANGES.name,
    ]
    assert [r["json"]["message_id"] for body in fake.inserts(EVENTS.name) for r in body["rows"]] == ["m1", "m_bad"]
    assert fake.inserts(MILESTONE_CHANGES.name) == [insert_all(MILESTONE_CHANGES.name, [change("c1")])]
    [letters] = fake.inserts(DEAD_LETTERS.name)
    [letter] = letters["rows"]
    assert letter["insertId"] == row_key(TABLES[DEAD_LETTERS.name], letter["json"])
    assert (letter["json"]["stage"], letter["json"]["reason"]) == (
        "warehouse",
        "events: BigQuery rejected the row (invalid): no such field",
    )
    assert json.loads(letter["json"]["payload"])["row"] == to_bigquery_row(EVENTS.name, event("m_bad"))


# -- outside Beam --------------------------------------------------------------------------


def test_the_writer_creates_tables_inserts_with_row_keys_and_acks_after(fake, dataset):
    acked = []
    writer = BigQueryWriter(client_for(fake), dataset, flush_seconds=3600, on_durable=acked.extend)
    assert fake.datasets == {f"{PROJECT}.{dataset}"}
    assert set(fake.tables) == {f"{PROJECT}.{dataset}.{name}" for name in TABLES}
    assert fake.tables[f"{PROJECT}.{dataset}.events"]["timePartitioning"] == {"type": "DAY", "field": "event_time"}

    writer.append([(EVENTS.name, event("m1")), (MILESTONE_CHANGES.name, change("c1"))], tokens=["a1"])
    assert acked == []
    writer.flush()
    writer.close()

    assert acked == ["a1"]
    assert fake.inserts(EVENTS.name) == [insert_all(EVENTS.name, [event("m1")])]
    assert fake.inserts(MILESTONE_CHANGES.name) == [insert_all(MILESTONE_CHANGES.name, [change("c1")])]


def test_the_writer_retries_transient_failures_and_dead_letters_permanent_ones(fake, dataset):
    fake.flaky.add("m_flaky")
    fake.reject["m_bad"] = "invalid"
    acked = []
    writer = BigQueryWriter(client_for(fake), dataset, flush_seconds=3600, on_durable=acked.extend)
    writer.append(
        [(EVENTS.name, event("m_ok")), (EVENTS.name, event("m_flaky")), (EVENTS.name, event("m_bad"))], ["a1"]
    )

    with pytest.raises(Exception, match="1 rows are not durable yet"):
        writer.flush()
    assert acked == []
    writer.flush()
    writer.close()

    assert acked == ["a1"]
    sent = [[r["json"]["message_id"] for r in body["rows"]] for body in fake.inserts(EVENTS.name)]
    assert sent == [["m_ok", "m_flaky", "m_bad"], ["m_flaky"]]
    [letters] = fake.inserts(DEAD_LETTERS.name)
    assert [(r["json"]["message_id"], r["json"]["reason"]) for r in letters["rows"]] == [
        ("m_bad", "events: BigQuery rejected the row: no such field")
    ]


def test_the_reader_asks_for_the_newest_row_per_key_and_returns_the_row_format(fake, dataset):
    fake.query_response = {
        "kind": "bigquery#queryResponse",
        "jobComplete": True,
        "totalRows": "1",
        "schema": {"fields": json_schema(DEAD_LETTERS.name)},
        "rows": [
            {
                "f": [
                    {"v": "org_a"},
                    {"v": "d1"},
                    {"v": "parse"},
                    {"v": "bad json"},
                    {"v": None},
                    {"v": "{"},
                    {"v": '{"type":"track"}'},
                    {"v": "1714521600000001"},
                ]
            }
        ],
    }
    reader = BigQueryReader(client_for(fake), dataset)
    rows = reader.current(DEAD_LETTERS.name, where="org_id = @org", params={"org": "org_a"})

    assert rows == [
        {
            "org_id": "org_a",
            "dead_letter_id": "d1",
            "stage": "parse",
            "reason": "bad json",
            "message_id": None,
            "payload": "{",
            "attributes": '{"type":"track"}',
            "recorded_at": T0 + 1,
        }
    ]
    [(_, _, body)] = [r for r in fake.requests if r[1].endswith("/queries")]
    assert re.sub(r"\s+", " ", body["query"]) == (
        "select * except (_rank) from (select *, row_number() over (partition by `dead_letter_id` "
        f"order by recorded_at desc) as _rank from `{PROJECT}.{dataset}.dead_letters` where org_id = @org) "
        "where _rank = 1 order by `dead_letter_id`"
    )
    assert body["queryParameters"] == [
        {"name": "org", "parameterType": {"type": "STRING"}, "parameterValue": {"value": "org_a"}}
    ]
