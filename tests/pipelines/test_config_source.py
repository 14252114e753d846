"""The pipeline's configuration from the app database: a connection created after the
snapshot was read is known at once (the snapshot is read again on a miss, at most once a
second per organisation), and an unchanged snapshot keeps its identity."""

from __future__ import annotations

import time

from variance.core.settings import Settings
from variance.pipelines.config_source import AppDatabaseConfig
from variance.samples.workspace import Workspace


def test_a_connection_newer_than_the_snapshot_is_known_and_unknown_ones_cost_one_read_a_second(tmp_path):
    env = {"VARIANCE_DATA_DIR": str(tmp_path / "data")}
    workspace = Workspace.create(env, "Acme")
    first = workspace.add_connection("web")
    provider = AppDatabaseConfig(Settings(**env).resolved_database_url, refresh_s=60)
    snapshot = provider(workspace.org_id)
    assert provider.knows_connection(workspace.org_id, first["id"])
    time.sleep(1.1)  # past the recheck interval
    second = workspace.add_connection("ios")
    assert provider(workspace.org_id) is snapshot  # within refresh_s: the old snapshot
    assert provider.knows_connection(workspace.org_id, second["id"])
    assert provider(workspace.org_id) is not snapshot
    assert not provider.knows_connection(workspace.org_id, "con_nope")
    assert not provider.knows_connection("org_nope", "con_nope")
    # within a second of a re-read, a miss reads nothing more: a connection made now is
    # known only once the second has passed
    third = workspace.add_connection("android")
    assert not provider.knows_connection(workspace.org_id, third["id"])
    time.sleep(1.1)
    assert provider.knows_connection(workspace.org_id, third["id"])
