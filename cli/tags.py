"""``variance tags``: smart tags of an organisation, and what ``variance views`` shares
with it: reading a definition from the command line and building request bodies."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel, ValidationError

from variance.cli.common import CliError, db_session, emit

app = typer.Typer(help="Smart tags: saved filters that accounts or contacts carry.", no_args_is_help=True)

ORG = typer.Option(..., "--org", help="Organisation id")
ENTITY_FILTER = typer.Option(None, "--entity", help="Only account or only contact ones")
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


def build(model: type[BaseModel], **values: Any) -> BaseModel:
    """A request body, or a one-line error naming the first field that breaks a rule."""
    try:
        return model(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "input"
        raise CliError(f"{field}: {first['msg']}") from None


@app.command("create")
def create(
    org: str = ORG,
    name: str = typer.Option(..., "--name"),
    entity: str = typer.Option(..., "--entity", help="contact | account"),
    definition: str = DEFINITION,
    definition_file: str = DEFINITION_FILE,
) -> None:
    """Define a smart tag (as the organisation's admins do); prints it."""
    from variance.workspace import tags as service
    from variance.workspace.orgs import get_org
    from variance.workspace.schemas.tags import TagCreate

    body = build(TagCreate, name=name, entity=entity, definition=read_definition(definition, definition_file))
    with db_session() as session:
        get_org(session, org)
        emit(service.describe(session, service.create_tag(session, org, body)))


@app.command("list")
def list_(org: str = ORG, entity: str = ENTITY_FILTER) -> None:
    """The organisation's smart tags in creation order."""
    from variance.workspace import tags as service
    from variance.workspace.orgs import get_org

    kind = entity_option(entity)
    with db_session() as session:
        get_org(session, org)
        items, cursor = [], None
        while True:
            page, cursor = service.list_tags(session, org, 200, cursor, kind)
            items += page
            if cursor is None:
                break
        emit(items)


def entity_option(value: str | None):
    from variance.appdb.models import EntityType

    if value is None:
        return None
    try:
        return EntityType(value)
    except ValueError:
        raise CliError(f"--entity: must be account or contact, not {value!r}") from None
