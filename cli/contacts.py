"""``variance contacts``: deleting a contact's data on request."""

from __future__ import annotations

import typer

from variance.cli.common import db_session, emit, say, settings
from variance.core.settings import WarehouseTarget
from variance.workspace.contact_deletion import delete_contact
from variance.workspace.orgs import act_as

app = typer.Typer(help="Contacts: delete one's data on request.", no_args_is_help=True)


@app.command("delete")
def delete(
    contact_id: str = typer.Argument(..., help="The contact's id (its Segment userId, or anonymousId)"),
    org: str = typer.Option(..., "--org", help="Organisation id"),
    user: str = typer.Option(None, "--user", help="The admin asking (default: the first admin)"),
) -> None:
    """Delete a contact's data: gone from the app now, from the warehouse at the next
    `variance warehouse compact` or `variance dbt build`, from milestone counts at the
    pipeline's next start. Prints the request as JSON; asking again is harmless."""
    config = settings()
    lake_dir = config.lake_dir if config.warehouse == WarehouseTarget.local else None
    with db_session() as session:
        result = delete_contact(session, act_as(session, org, user), contact_id, lake_dir=lake_dir)
    emit(result)
    removed = result.removed_now
    say(
        f"{'already requested; ' if result.already_requested else ''}removed now: {removed.contacts} contact row, "
        f"{removed.follows} follows, {removed.stream_items} feed items, {removed.slack_outbox} unsent Slack posts"
    )
    for step in result.later:
        say(f"  later: {step}")
