"""``variance connections``: Segment sources and destinations of an organisation."""

from __future__ import annotations

import typer

from variance.cli.common import choice, collect, db_session, emit, request_body, settings
from variance.core.vocabulary import AccountMapping
from variance.workspace import connections as service
from variance.workspace.orgs import act_as
from variance.workspace.principals import require_admin
from variance.workspace.schemas.connections import ConnectionCreate

app = typer.Typer(help="Connections (Segment sources and destinations).", no_args_is_help=True)

ORG = typer.Option(..., "--org", help="Organisation id")


@app.command("create")
def create(
    org: str = ORG,
    name: str = typer.Option(..., "--name", help="Connection name (usable as an event filter)"),
    mapping: AccountMapping = choice(AccountMapping, ..., "--mapping", help="How contacts are mapped to accounts"),
    account_id_trait: str = typer.Option(None, "--account-id-trait", help="e.g. company.id (identify_traits)"),
    account_name_trait: str = typer.Option(None, "--account-name-trait", help="e.g. company.name (identify_traits)"),
) -> None:
    """Create a connection; prints it with its secret (shown only now) and webhook URL."""
    body = request_body(
        ConnectionCreate,
        as_flags=True,
        name=name,
        mapping=mapping,
        account_id_trait=account_id_trait,
        account_name_trait=account_name_trait,
    )
    with db_session() as session:
        admin = require_admin(act_as(session, org))
        emit(service.create_connection(session, admin.org_id, body, settings().public_url))


@app.command("list")
def list_(org: str = ORG) -> None:
    """List an organisation's connections (without secrets)."""
    with db_session() as session:
        admin = require_admin(act_as(session, org))
        rows = collect(lambda limit, cursor: service.list_connections(session, admin.org_id, limit, cursor))
        emit([service.to_out(r, settings().public_url) for r in rows])


@app.command("get")
def get(connection_id: str, org: str = ORG) -> None:
    with db_session() as session:
        emit(service.to_out(service.get_connection(session, org, connection_id), settings().public_url))


@app.command("rotate-secret")
def rotate(connection_id: str, org: str = ORG) -> None:
    """Replace the secret; prints the new one (shown only now)."""
    with db_session() as session:
        emit(service.rotate_secret(session, org, connection_id, settings().public_url))


@app.command("delete")
def delete(connection_id: str, org: str = ORG) -> None:
    with db_session() as session:
        service.delete_connection(session, org, connection_id)
        emit({"deleted": connection_id})
