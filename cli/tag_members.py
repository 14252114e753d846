"""``variance tags refresh``: bring ``tag_members`` up to date (serving/tags.py).

Membership also changes with the clock alone ("achieved within 7 days", "3 events in
30 days"), so run it on a schedule (``--every SECONDS``, Ctrl-C stops) as well as after
a change of definitions. The pipeline's serving sink does the same by itself (after each
batch, and on timers); this stays for a manual run. Entries and exits it finds are
Tag events, written once whoever finds them."""

from __future__ import annotations

import time

import typer
from sqlalchemy import select

from variance.appdb.models import Organisation
from variance.cli.common import db_session, emit, say
from variance.pipelines.config_source import load_org_config
from variance.pipelines.sinks.serving import evaluate_tags


def refresh(
    org: str = typer.Option(None, "--org", help="Organisation id (default: every organisation)"),
    every: float = typer.Option(0, "--every", min=0, help="Repeat every this many seconds (0: once)"),
) -> None:
    """Evaluate every smart tag over the serving tables and write who entered and left."""
    while True:
        totals = {"entered": 0, "left": 0}
        with db_session() as session:
            orgs = [org] if org else list(session.scalars(select(Organisation.id).order_by(Organisation.id)))
            for org_id in orgs:
                # Entries and exits are Tag events here too, as when the pipeline finds them.
                result = evaluate_tags(session, org_id, lambda o: load_org_config(session, o))
                totals["entered"] += result.entered
                totals["left"] += result.left
        if not every:
            emit({"orgs_refreshed": len(orgs), **totals})
            return
        say(f"tag members: {totals['entered']} entered, {totals['left']} left")
        time.sleep(every)


def register(tags_app: typer.Typer) -> None:
    tags_app.command("refresh")(refresh)
