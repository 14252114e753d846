"""The local streaming pipeline's three sinks as one step.

Beam's local streaming runner runs every step of the graph separately: each bundle
costs a step a fixed start, and each element is copied into the next step's bundle. The
sinks were seven steps (three Flattens, a FlatMap of the acks' rows and the three
writers), about a sixth of the local pipeline's CPU for work that is mostly handing rows
to writers that batch them anyway (measured per step at 800 events/s). Dataflow and
FnApiRunner fuse adjacent steps themselves, so they keep the sinks as separate steps.
"""

from __future__ import annotations

import apache_beam as beam

from variance.core.vocabulary import ServingTable
from variance.core.warehouse import Row
from variance.pipelines.sinks.serving import WriteServingTables
from variance.pipelines.sinks.slack import RecordSlackPosts
from variance.pipelines.sinks.warehouse import WriteToLocalWarehouse
from variance.transforms.messages import Ack

_DAILY_ACTIVITY = ServingTable.daily_activity.value


@beam.typehints.with_input_types(Row | Ack)
class WriteLocally(beam.DoFn):
    """Warehouse rows, ``Ack``s (each with its message's rows) and daily activity rows, to
    where each goes: every warehouse row to the serving tables, the Slack outbox (when a
    Slack sink is given) and the lake; an ``Ack`` to the lake after its rows; daily activity
    to the serving tables only. At the end of a bundle the outbox is recorded first, then
    the serving tables are handed their rows, then the lake's: a message is acknowledged
    only after its Slack posts are in the outbox."""

    def __init__(self, lake: WriteToLocalWarehouse, serving: WriteServingTables, slack: RecordSlackPosts | None):
        self.lake = lake
        self.serving = serving
        self.slack = slack

    def _sinks(self) -> list[beam.DoFn]:
        return [s for s in (self.slack, self.serving, self.lake) if s is not None]

    def setup(self):
        for sink in self._sinks():
            sink.setup()

    def start_bundle(self):
        for sink in self._sinks():
            sink.start_bundle()

    def process(self, element: Row | Ack):
        if isinstance(element, Ack):
            rows: tuple[Row, ...] = element.rows
        elif element[0] == _DAILY_ACTIVITY:
            self.serving.process(element)
            return
        else:
            rows = (element,)
        for row in rows:
            self.serving.process(row)
            if self.slack is not None:
                self.slack.process(row)
        self.lake.process(element)  # an Ack after its rows, which it carries

    def finish_bundle(self):
        for sink in self._sinks():
            sink.finish_bundle()

    def teardown(self):
        for sink in self._sinks():
            sink.teardown()
