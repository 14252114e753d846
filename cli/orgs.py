"""``variance orgs``: organisations."""

from __future__ import annotations

import typer

from variance.cli.common import db_session, emit
from variance.workspace.orgs import create_org

app = typer.Typer(help="Organisations.", no_args_is_help=True)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="The organisation's name"),
    admin_name: str = typer.Option("Admin", help="Name of the first admin user"),
    admin_email: str = typer.Option("admin@localhost", help="Email of the first admin user"),
) -> None:
    """Create an organisation and its first admin; prints the org id and the admin's API token."""
    with db_session() as session:
        created = create_org(session, name, admin_name, admin_email)
        emit(
            {
                "org_id": created.org.id,
                "name": created.org.name,
                "admin_user_id": created.admin.id,
                "admin_token": created.token,
            }
        )
