"""``variance tags``: smart tags of an organisation, and what ``variance views`` shares
with it: reading a definition from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from variance.cli.common import CliError, choice, collect, db_session, emit, request_body
from variance.core.vocabulary import EntityType
from variance.workspace import tags as service
from variance.workspace.orgs import act_as
from variance.workspace.principals import require_admin
from variance.workspace.schemas.tags import TagCreate

app = typer.Typer(help="Smart tags: saved filters that accounts or contacts carry.", no_args_is_help=True)

ORG = typer.Option(..., "--org", help="Organisation id")
ENTITY_FILTER = choice(EntityType, None, "--entity", help="Only account or only contact ones")
DEFINITION = typer.Option(
    None,
    "--definition",
    help='Definition JSON, e.g. {"type":"group","match":"all","conditions":'
    '[{"type":"trait","filter":{"path":"plan","op":"equals","value":"pro"}}]}',
)
DEFINITION_FILE = typer.Option(None, "--definition-file", help="A file holding the definition JSON ('-': stdin)")


def read_definition(text: str | None, path: str | None) -> Any:
    """The definition given by exactly one of ``--definition`` and ``--definition-file``."""
    if (text is None) == (path is None):
        raise CliError("give the definition with either --definition JSON or --definition-file PATH")
    flag = "--definition"
    if path is not None:
        flag = "--definition-file"
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"--definition-file: cannot read {path} ({exc.strerror})") from None
    try:
        return json.loads(text or "")
    except json.JSONDecodeError as exc:
        raise CliError(f"{flag}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


@app.command("create")
def create(
    org: str = ORG,
    name: str = typer.Option(..., "--name"),
    entity: EntityType = choice(EntityType, ..., "--entity", help="The tag is carried by contacts or by accounts"),
    definition: str = DEFINITION,
    definition_file: str = DEFINITION_FILE,
) -> None:
    """Define a smart tag (as the organisation's admins do); prints it."""
    body = request_body(TagCreate, name=name, entity=entity, definition=read_definition(definition, definition_file))
    with db_session() as session:
        admin = require_admin(act_as(session, org))
        emit(service.describe(session, service.create_tag(session, admin.org_id, body)))


@app.command("list")
def list_(org: str = ORG, entity: EntityType | None = ENTITY_FILTER) -> None:
    """The organisation's smart tags in creation order."""
    with db_session() as session:
        principal = act_as(session, org)
        emit(collect(lambda limit, cursor: service.list_tags(session, principal.org_id, limit, cursor, entity)))
