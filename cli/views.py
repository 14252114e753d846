"""``variance views``: views in users' sidebars. ``--user`` chooses who acts (default:
the organisation's first admin), with the same permissions as the API."""

from __future__ import annotations

import typer

from variance.cli.common import choice, collect, db_session, emit, request_body
from variance.cli.tags import DEFINITION, DEFINITION_FILE, ENTITY_FILTER, ORG, read_definition
from variance.core.vocabulary import EntityType, Visibility
from variance.workspace import views as service
from variance.workspace.orgs import act_as
from variance.workspace.schemas.tags import ViewCreate

app = typer.Typer(help="Views: saved filters in a user's sidebar, personal or team.", no_args_is_help=True)

USER = typer.Option(None, "--user", help="Act as this user (default: the first admin)")


@app.command("create")
def create(
    org: str = ORG,
    user: str = USER,
    name: str = typer.Option(..., "--name"),
    entity: EntityType = choice(EntityType, ..., "--entity", help="The view lists contacts or accounts"),
    visibility: Visibility = choice(Visibility, Visibility.personal, "--visibility", help="team: admins only"),
    definition: str = DEFINITION,
    definition_file: str = DEFINITION_FILE,
) -> None:
    """Create a view; prints it."""
    body = request_body(
        ViewCreate,
        name=name,
        entity=entity,
        visibility=visibility,
        definition=read_definition(definition, definition_file),
    )
    with db_session() as session:
        principal = act_as(session, org, user)
        emit(service.describe(session, principal, service.create_view(session, principal, body)))


@app.command("list")
def list_(org: str = ORG, user: str = USER, entity: EntityType | None = ENTITY_FILTER) -> None:
    """The user's sidebar: the views they see, favorites first."""
    with db_session() as session:
        principal = act_as(session, org, user)
        emit(collect(lambda limit, cursor: service.list_views(session, principal, limit, cursor, entity)))
