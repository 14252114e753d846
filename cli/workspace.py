"""``variance users|streams|follows|milestones``: what the demo and scripts configure.

Each command prints JSON on stdout; ``--user`` chooses who acts (default: the
organisation's first admin), with the same permissions as the API.
"""

from __future__ import annotations

import json

import typer
from pydantic import BaseModel, ValidationError

from variance.cli.common import CliError, db_session, emit

ORG = typer.Option(..., "--org", help="Organisation id")
USER = typer.Option(None, "--user", help="Act as this user (default: the first admin)")

users_app = typer.Typer(help="Users of an organisation.", no_args_is_help=True)
streams_app = typer.Typer(help="Streams.", no_args_is_help=True)
follows_app = typer.Typer(help="Follow accounts and contacts into streams.", no_args_is_help=True)
milestones_app = typer.Typer(help="Milestones.", no_args_is_help=True)


def _model(model: type[BaseModel], **values) -> BaseModel:
    try:
        return model(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "input"
        raise CliError(f"{field}: {first['msg']}") from None


def _json_option(text: str | None, name: str):
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"--{name}: not valid JSON ({exc.msg})") from None


@users_app.command("create")
def users_create(
    org: str = ORG,
    name: str = typer.Option(..., "--name"),
    email: str = typer.Option(..., "--email"),
    role: str = typer.Option("member", "--role", help="admin | member"),
) -> None:
    """Invite a user; prints the user with their API token (shown only now)."""
    from variance.workspace.orgs import get_org
    from variance.workspace.schemas.users import UserCreate
    from variance.workspace.users import create_user

    body = _model(UserCreate, name=name, email=email, role=role)
    with db_session() as session:
        get_org(session, org)
        emit(create_user(session, org, body))


@users_app.command("list")
def users_list(org: str = ORG) -> None:
    from variance.workspace.orgs import get_org
    from variance.workspace.users import list_users, to_out

    with db_session() as session:
        get_org(session, org)
        items, cursor = [], None
        while True:
            rows, cursor = list_users(session, org, 200, cursor)
            items += [to_out(session, r) for r in rows]
            if cursor is None:
                break
        emit(items)


@streams_app.command("create")
def streams_create(
    org: str = ORG,
    user: str = USER,
    name: str = typer.Option(..., "--name"),
    type_: str = typer.Option("accounts_contacts", "--type", help="accounts_contacts | event_type"),
    visibility: str = typer.Option("personal", "--visibility", help="personal | team"),
    selectors: str = typer.Option(
        None,
        "--selectors",
        help='JSON list, e.g. [{"kind":"Page","filters":[{"path":"path","op":"starts_with","value":"/pricing"}]}]',
    ),
    slack_channel_id: str = typer.Option(None, "--slack-channel-id"),
    slack_channel_name: str = typer.Option(None, "--slack-channel-name"),
) -> None:
    """Create a stream; prints it."""
    from variance.cli.acting import principal_for
    from variance.workspace import streams as service
    from variance.workspace.schemas.streams import StreamCreate

    channel = {"id": slack_channel_id, "name": slack_channel_name or slack_channel_id} if slack_channel_id else None
    body = _model(
        StreamCreate,
        name=name,
        type=type_,
        visibility=visibility,
        selectors=_json_option(selectors, "selectors"),
        slack_channel=channel,
    )
    with db_session() as session:
        principal = principal_for(session, org, user)
        emit(service.describe(session, principal, service.create_stream(session, principal, body)))


@streams_app.command("list")
def streams_list(org: str = ORG, user: str = USER) -> None:
    """The streams the user sees, favorites first."""
    from variance.cli.acting import principal_for
    from variance.workspace import streams as service

    with db_session() as session:
        principal = principal_for(session, org, user)
        items, cursor = [], None
        while True:
            page, cursor = service.list_streams(session, principal, 200, cursor)
            items += page
            if cursor is None:
                break
        emit(items)


@follows_app.command("add")
def follows_add(
    org: str = ORG,
    user: str = USER,
    entity_type: str = typer.Option(..., "--entity-type", help="account | contact"),
    entity_id: str = typer.Option(..., "--entity-id"),
    stream: list[str] = typer.Option(
        None, "--stream", help="Stream id (repeatable); default: the user's default stream"
    ),
    new_stream: str = typer.Option(None, "--new-stream", help="Create a stream of this name and follow into it"),
) -> None:
    from variance.cli.acting import principal_for
    from variance.workspace.follows import follow
    from variance.workspace.schemas.streams import FollowCreate

    body = _model(
        FollowCreate,
        entity_type=entity_type,
        entity_id=entity_id,
        stream_ids=stream or [],
        new_stream={"name": new_stream} if new_stream else None,
    )
    with db_session() as session:
        emit(follow(session, principal_for(session, org, user), body))


@follows_app.command("list")
def follows_list(org: str = ORG, user: str = USER, stream: str = typer.Option(..., "--stream")) -> None:
    """What a stream follows."""
    from variance.cli.acting import principal_for
    from variance.workspace.follows import stream_follows

    with db_session() as session:
        principal = principal_for(session, org, user)
        items, cursor = [], None
        while True:
            page, cursor = stream_follows(session, principal, stream, 200, cursor)
            items += page
            if cursor is None:
                break
        emit(items)


@milestones_app.command("create")
def milestones_create(
    org: str = ORG,
    name: str = typer.Option(..., "--name"),
    entity: str = typer.Option(..., "--entity", help="contact | account"),
    kind: str = typer.Option(..., "--kind", help="Page | Screen | Action | Identify | Group | Milestone"),
    event: str = typer.Option(None, "--event", help="Event name (required for Action and Milestone)"),
    filters: str = typer.Option(
        None, "--filters", help='JSON list, e.g. [{"path":"role","op":"equals","value":"admin"}]'
    ),
    threshold: int = typer.Option(..., "--threshold"),
    window: str = typer.Option(None, "--window", help="e.g. 30d; omit for no window"),
) -> None:
    """Define a milestone; prints it."""
    from variance.workspace import milestones as service
    from variance.workspace.orgs import get_org
    from variance.workspace.schemas.milestones import MilestoneCreate

    body = _model(
        MilestoneCreate,
        name=name,
        entity=entity,
        event={"kind": kind, "name": event} if event else {"kind": kind},
        filters=_json_option(filters, "filters"),
        threshold=threshold,
        window=window,
    )
    with db_session() as session:
        get_org(session, org)
        emit(service.describe(session, service.create_milestone(session, org, body)))


@milestones_app.command("list")
def milestones_list(org: str = ORG) -> None:
    from variance.workspace import milestones as service
    from variance.workspace.orgs import get_org

    with db_session() as session:
        get_org(session, org)
        items, cursor = [], None
        while True:
            page, cursor = service.list_milestones(session, org, 200, cursor)
            items += page
            if cursor is None:
                break
        emit(items)
