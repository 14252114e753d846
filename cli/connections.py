"""``variance connections``: Segment sources and destinations of an organisation."""

from __future__ import annotations

import typer

from variance.cli.common import db_session, emit, settings

app = typer.Typer(help="Connections (Segment sources and destinations).", no_args_is_help=True)

ORG = typer.Option(..., "--org", help="Organisation id")


@app.command("create")
def create(
    org: str = ORG,
    name: str = typer.Option(..., "--name", help="Connection name (usable as an event filter)"),
    mapping: str = typer.Option(..., "--mapping", help="group | identify_traits | email_domain"),
    account_id_trait: str = typer.Option(None, "--account-id-trait", help="e.g. company.id (identify_traits)"),
    account_name_trait: str = typer.Option(None, "--account-name-trait", help="e.g. company.name (identify_traits)"),
) -> None:
    """Create a connection; prints it with its secret (shown only now) and webhook URL."""
    from pydantic import ValidationError

    from variance.cli.common import CliError
    from variance.workspace.connections import create_connection
    from variance.workspace.orgs import get_org
    from variance.workspace.schemas.connections import ConnectionCreate

    try:
        body = ConnectionCreate(
            name=name, mapping=mapping, account_id_trait=account_id_trait, account_name_trait=account_name_trait
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CliError(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from None
    with db_session() as session:
        get_org(session, org)
        emit(create_connection(session, org, body, settings().public_url))


@app.command("list")
def list_(org: str = ORG) -> None:
    """List an organisation's connections (without secrets)."""
    from variance.workspace.connections import list_connections, to_out
    from variance.workspace.orgs import get_org

    with db_session() as session:
        get_org(session, org)
        items, cursor = [], None
        while True:
            rows, cursor = list_connections(session, org, 200, cursor)
            items.extend(to_out(r, settings().public_url) for r in rows)
            if cursor is None:
                break
        emit(items)


@app.command("get")
def get(connection_id: str, org: str = ORG) -> None:
    from variance.workspace.connections import get_connection, to_out

    with db_session() as session:
        emit(to_out(get_connection(session, org, connection_id), settings().public_url))


@app.command("rotate-secret")
def rotate(connection_id: str, org: str = ORG) -> None:
    """Replace the secret; prints the new one (shown only now)."""
    from variance.workspace.connections import rotate_secret

    with db_session() as session:
        emit(rotate_secret(session, org, connection_id, settings().public_url))


@app.command("delete")
def delete(connection_id: str, org: str = ORG) -> None:
    from variance.workspace.connections import delete_connection

    with db_session() as session:
        delete_connection(session, org, connection_id)
        emit({"deleted": connection_id})
