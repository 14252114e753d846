"""``variance views``: views in users' sidebars. ``--user`` chooses who acts (default:
the organisation's first admin), with the same permissions as the API."""

from __future__ import annotations

import typer

from variance.cli.common import db_session, emit
from variance.cli.tags import DEFINITION, DEFINITION_FILE, ENTITY_FILTER, ORG, build, entity_option, read_definition

app = typer.Typer(help="Views: saved filters in a user's sidebar, personal or team.", no_args_is_help=True)

USER = typer.Option(None, "--user", help="Act as this user (default: the first admin)")


@app.command("create")
def create(
    org: str = ORG,
    user: str = USER,
    name: str = typer.Option(..., "--name"),
    entity: str = typer.Option(..., "--entity", help="contact | account"),
    visibility: str = typer.Option("personal", "--visibility", help="personal | team (admins)"),
    definition: str = DEFINITION,
    definition_file: str = DEFINITION_FILE,
) -> None:
    """Create a view; prints it."""
    from variance.cli.acting import principal_for
    from variance.workspace import views as service
    from variance.workspace.schemas.tags import ViewCreate

    body = build(
        ViewCreate,
        name=name,
        entity=entity,
        visibility=visibility,
        definition=read_definition(definition, definition_file),
    )
    with db_session() as session:
        principal = principal_for(session, org, user)
        emit(service.describe(session, principal, service.create_view(session, principal, body)))


@app.command("list")
def list_(org: str = ORG, user: str = USER, entity: str = ENTITY_FILTER) -> None:
    """The user's sidebar: the views they see, favorites first."""
    from variance.cli.acting import principal_for
    from variance.workspace import views as service

    kind = entity_option(entity)
    with db_session() as session:
        principal = principal_for(session, org, user)
        items, cursor = [], None
        while True:
            page, cursor = service.list_views(session, principal, 200, cursor, kind)
            items += page
            if cursor is None:
                break
        emit(items)
