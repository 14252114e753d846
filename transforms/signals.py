"""ComputeSignals: each organisation's events through its engine, in event time.

Keyed by organisation, so tenants never share state. Milestone changes are emitted on
an event-time timer: the engine knows the next instant at which a change can happen
(an arrival, or the expiry that brings a count below its threshold), and a change is a
fact at its time, so nothing is emitted before the watermark passes it. A timer set in
the past (an out-of-order event that corrects emitted history) fires at once.

Outputs (tagged): ``rows`` (warehouse rows), ``activity`` (the engine's activity rows, for
the daily activity counts) and ``acks`` (``Ack``: a message to acknowledge, with the
warehouse rows it produced, which then are not on ``rows``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Timestamp

from variance.core.engine.config import MilestoneSpec, OrgConfig
from variance.core.engine.engine import OrgEngine
from variance.core.events import SignalEvent
from variance.core.rows import ACTIVITY as ACTIVITY_ROWS
from variance.core.vocabulary import WarehouseTable
from variance.core.warehouse import Row
from variance.transforms.messages import ACKS, ACTIVITY, ROWS, Ack, Envelope
from variance.transforms.state_coders import engine_state_coder

ConfigProvider = Callable[[str], OrgConfig]
# Past events for evaluating a new or changed milestone (the warehouse, in pipelines/).
HistoryProvider = Callable[[str, MilestoneSpec], Iterable[SignalEvent]]
# Engines rebuilt from the warehouse when the pipeline starts (None: start empty).
InitialEngines = Callable[[str], "OrgEngine | None"]


def tag_outputs(rows: Iterable[Row], ack_id: str | None = None) -> Iterator[Row | TaggedOutput]:
    """The engine's rows on their outputs: activity rows on ``ACTIVITY``, warehouse rows on
    the main output or, for a message to acknowledge (``ack_id``), with it on ``ACKS``."""
    warehouse: list[Row] = []
    for row in rows:
        if row[0] == ACTIVITY_ROWS:
            yield TaggedOutput(ACTIVITY, row[1])
        elif ack_id is None:
            yield row
        else:
            warehouse.append(row)
    if ack_id is not None:
        yield TaggedOutput(ACKS, Ack(ack_id, tuple(warehouse)))


class _OrgSignalsBase(beam.DoFn):
    """The work; subclasses below bind the state spec with the runner's coder (Beam reads
    state and timer specs from the parameter defaults of process and the timer callback)."""

    def __init__(
        self,
        config_provider: ConfigProvider,
        lateness_us: int,
        dedupe_us: int,
        history: HistoryProvider | None = None,
        initial_engines: InitialEngines | None = None,
        refresh_s: float = 30.0,
    ):
        self._refresh_s = refresh_s
        self._config_provider = config_provider
        self._lateness_us = lateness_us
        self._dedupe_us = dedupe_us
        self._history = history
        self._initial_engines = initial_engines
        # Named after the tables they land in (events counts every event processed, duplicates too).
        self.events = Metrics.counter("variance", WarehouseTable.events.value)
        self.changes = Metrics.counter("variance", WarehouseTable.milestone_changes.value)
        self.matches = Metrics.counter("variance", WarehouseTable.stream_matches.value)

    def _engine(self, org_id: str, state) -> tuple[OrgEngine, list]:
        """The organisation's engine, configured with the current snapshot; rows from
        evaluating new or changed milestones over history come with it."""
        engine = state.read()
        if engine is None and self._initial_engines is not None:
            engine = self._initial_engines(org_id)
        if engine is None:
            engine = OrgEngine(org_id, lateness_us=self._lateness_us, dedupe_us=self._dedupe_us)
        config = self._config_provider(org_id)
        rows: list = []
        if config is not engine.config:
            changed = engine.configure(config)
            if changed and self._history is not None and engine.as_of is not None:
                for spec in changed:
                    rows += engine.restore_milestone(spec, self._history(org_id, spec), engine.as_of)
        return engine, rows

    def _count(self, rows) -> None:
        for table, _ in rows:
            if table == WarehouseTable.milestone_changes:
                self.changes.inc()
            elif table == WarehouseTable.stream_matches:
                self.matches.inc()

    def _arm(self, engine: OrgEngine, timer, event_time: int | None = None) -> None:
        """Fire at the next instant a change can happen; and, for an event newer than the
        engine's as-of, at its time, so the as-of (and with it the lateness check) follows
        the watermark as long as events arrive."""
        candidates = [engine.next_due()]
        if event_time is not None and (engine.as_of is None or event_time > engine.as_of):
            candidates.append(event_time)
        due = [c for c in candidates if c is not None]
        if due:
            timer.set(Timestamp(micros=min(due)))

    def _process(self, element, state, timer, refresh):
        org_id, envelope = element
        engine, recomputed = self._engine(org_id, state)
        rows = recomputed
        if envelope.event is not None:  # None: a wake-up, so timers are armed for this key
            rows = rows + engine.process(envelope.event)
            self.events.inc()
        self._count(rows)
        yield from tag_outputs(rows, envelope.ack_id or None)
        self._arm(engine, timer, envelope.event.event_time if envelope.event is not None else None)
        if engine.wake_at is None:
            engine.wake_at = time.time() + self._refresh_s
            refresh.set(Timestamp.of(engine.wake_at))
        state.write(engine)

    def _refresh(self, org_id, state, timer, refresh):
        engine, recomputed = self._engine(org_id, state)
        self._count(recomputed)
        yield from tag_outputs(recomputed)
        self._arm(engine, timer)
        engine.wake_at = time.time() + self._refresh_s
        refresh.set(Timestamp.of(engine.wake_at))
        state.write(engine)

    def _advance(self, org_id, fired_at, state, timer):
        engine, recomputed = self._engine(org_id, state)
        rows = recomputed + engine.advance(fired_at.micros)
        self._count(rows)
        yield from tag_outputs(rows)
        self._arm(engine, timer)
        state.write(engine)


def _signals_fn(in_process_state: bool) -> type[_OrgSignalsBase]:
    engine_spec = ReadModifyWriteStateSpec("engine", engine_state_coder(in_process_state))
    timer_spec = TimerSpec("advance", TimeDomain.WATERMARK)
    # In processing time: a configuration change (a new milestone) is picked up within
    # the refresh interval even when no event of the organisation arrives.
    refresh_spec = TimerSpec("refresh", TimeDomain.REAL_TIME)

    @beam.typehints.with_input_types(tuple[str, Envelope])
    @beam.typehints.with_output_types(Row)
    class SignalsFn(_OrgSignalsBase):
        def process(
            self,
            element,
            state=beam.DoFn.StateParam(engine_spec),
            timer=beam.DoFn.TimerParam(timer_spec),
            refresh=beam.DoFn.TimerParam(refresh_spec),
        ):
            yield from self._process(element, state, timer, refresh)

        @on_timer(timer_spec)
        def on_advance(
            self,
            key=beam.DoFn.KeyParam,
            fired_at=beam.DoFn.TimestampParam,
            state=beam.DoFn.StateParam(engine_spec),
            timer=beam.DoFn.TimerParam(timer_spec),
        ):
            yield from self._advance(key, fired_at, state, timer)

        @on_timer(refresh_spec)
        def on_refresh(
            self,
            key=beam.DoFn.KeyParam,
            state=beam.DoFn.StateParam(engine_spec),
            timer=beam.DoFn.TimerParam(timer_spec),
            refresh=beam.DoFn.TimerParam(refresh_spec),
        ):
            yield from self._refresh(key, state, timer, refresh)

    SignalsFn.__name__ = SignalsFn.__qualname__ = "InProcessSignalsFn" if in_process_state else "PickledSignalsFn"
    return SignalsFn


InProcessSignalsFn = _signals_fn(True)
PickledSignalsFn = _signals_fn(False)


@beam.typehints.with_input_types(tuple[str, Envelope])
class ComputeSignals(beam.PTransform):
    """(org_id, Envelope) -> tagged outputs ``rows`` (warehouse rows, the main output),
    ``activity`` (activity rows) and ``acks`` (``Ack``s, each with its message's rows).

    ``in_process_state`` keeps each engine as a live object (Beam's local runners);
    otherwise it is pickled into Beam state (Dataflow)."""

    def __init__(
        self,
        config_provider: ConfigProvider,
        lateness_us: int,
        dedupe_us: int,
        in_process_state: bool,
        history: HistoryProvider | None = None,
        initial_engines: InitialEngines | None = None,
        refresh_s: float = 30.0,
    ):
        super().__init__()
        fn_class = InProcessSignalsFn if in_process_state else PickledSignalsFn
        self._fn = fn_class(config_provider, lateness_us, dedupe_us, history, initial_engines, refresh_s)

    def expand(self, keyed_events):
        return keyed_events | "OrgEngine" >> beam.ParDo(self._fn).with_outputs(ACTIVITY, ACKS, main=ROWS)
