"""When the emulator restarts empty, the pipeline recreates its subscription, says in its
log what that means, and carries on."""

from __future__ import annotations

import pytest
from segment.analytics import Client

from tests.support.waiting import wait_for
from variance.clients.pubsub import subscriber_client
from variance.core.settings import Settings
from variance.core.vocabulary import WarehouseTable
from variance.samples.workspace import Workspace
from variance.stack.local import LocalStack
from variance.warehouse.local import LakeReader

pytestmark = pytest.mark.slow
EVENTS = WarehouseTable.events.value
WARNING = "anything published while no subscription existed is gone"


def test_pipeline_recreates_its_subscription_after_the_emulator_restarts(tmp_path):
    with LocalStack(tmp_path, env={"VARIANCE_PUBLISH_TIMEOUT": "2"}) as stack:
        emulator = stack.start_emulator()
        workspace = Workspace.create(stack.env, "Acme")
        connection = workspace.add_connection("web", mapping="group")
        stack.start_api()
        pipeline = stack.start_pipeline()
        reader = LakeReader(stack.lake_dir)
        client = Client(write_key=connection["secret"], host=stack.api.url, sync_mode=True, max_retries=30)
        client.identify(user_id="u1", message_id="before")
        pipeline.wait_until_acked(1)
        # at start the API (ensuring topic and subscription) or the pipeline created it
        warned = pipeline.log().count(WARNING)
        assert warned <= 1

        emulator.stop()
        stack.start_emulator(emulator.port)  # the same port, nothing in it
        settings = Settings(**stack.env)
        subscriber = subscriber_client(settings)

        def subscription_exists() -> bool:
            try:
                subscriber.get_subscription(subscription=settings.subscription_path, timeout=5)
            except Exception:
                return False
            return True

        wait_for(subscription_exists, what="the pipeline to recreate its subscription")
        client.identify(user_id="u1", message_id="after")
        pipeline.wait_until_acked(2)
        # nothing was published while no subscription existed, but the pipeline cannot
        # know: the warning comes before the pull that read "after"
        assert pipeline.log().count(WARNING) == warned + 1
    assert sorted(e["message_id"] for e in reader.current(EVENTS)) == ["after", "before"]
