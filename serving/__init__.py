"""The serving writer: the pipeline's rows into the app database's serving tables, which
the API reads (contacts, accounts, milestone status, stream items, the event type catalog
and daily activity).

- :func:`apply_rows` takes what the signals engine emits, call after call.
- :func:`rebuild` replaces one organisation's serving rows from its current warehouse
  rows (after a restart).

Modules: ``fold`` (rows -> what each serving row needs, no I/O), ``entities``,
``milestones``, ``feeds`` (one per group of serving tables), ``sql`` (the portable
upsert), ``writer`` and ``rebuild``.

Known limits of ``apply_rows`` with today's schema (``rebuild`` has none of them):

- Across calls, a profile (name, email or domain, trait keys) or a contact's account
  from an older call arriving in a later call wins until a newer one arrives: the rows
  keep no profile or link time. Within a call the order never matters.
- Catalog counts count each call's events: a call applied twice counts its events twice.
- A retraction of the milestone change in force falls back to what the call and the
  stored row know (see ``milestones``); exact in every case needs the change history.
"""

from variance.serving.fold import SERVED_WAREHOUSE_TABLES, SERVING_INPUTS, EventSummary
from variance.serving.rebuild import rebuild
from variance.serving.writer import DEFAULT_STREAM_RETENTION, ServingStats, apply_rows

__all__ = [
    "DEFAULT_STREAM_RETENTION",
    "SERVED_WAREHOUSE_TABLES",
    "SERVING_INPUTS",
    "EventSummary",
    "ServingStats",
    "apply_rows",
    "rebuild",
]
