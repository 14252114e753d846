"""``variance users|streams|follows|milestones``: what the demo and scripts configure.

Each command prints JSON on stdout; ``--user`` chooses who acts (default: the
organisation's first admin), with the same permissions as the API.
"""

from __future__ import annotations

import typer

from variance.cli.common import choice, collect, db_session, emit, json_option, request_body
from variance.core.events import EventKind
from variance.core.vocabulary import EntityType, Role, StreamType, Visibility
from variance.workspace import follows as follow_service
from variance.workspace import milestones as milestone_service
from variance.workspace import streams as stream_service
from variance.workspace import users as user_service
from variance.workspace.orgs import act_as
from variance.workspace.principals import require_admin
from variance.workspace.schemas.milestones import MilestoneCreate
from variance.workspace.schemas.streams import FollowCreate, StreamCreate
from variance.workspace.schemas.users import UserCreate

ORG = typer.Option(..., "--org", help="Organisation id")
USER = typer.Option(None, "--user", help="Act as this user (default: the first admin)")

users_app = typer.Typer(help="Users of an organisation.", no_args_is_help=True)
streams_app = typer.Typer(help="Streams.", no_args_is_help=True)
follows_app = typer.Typer(help="Follow accounts and contacts into streams.", no_args_is_help=True)
milestones_app = typer.Typer(help="Milestones.", no_args_is_help=True)


@users_app.command("create")
def users_create(
    org: str = ORG,
    name: str = typer.Option(..., "--name"),
    email: str = typer.Option(..., "--email"),
    role: Role = choice(Role, Role.member, "--role"),
) -> None:
    """Invite a user; prints the user with their API token (shown only now)."""
    body = request_body(UserCreate, name=name, email=email, role=role)
    with db_session() as session:
        admin = require_admin(act_as(session, org))
        emit(user_service.create_user(session, admin.org_id, body))


@users_app.command("list")
def users_list(org: str = ORG) -> None:
    with db_session() as session:
        principal = act_as(session, org)
        rows = collect(lambda limit, cursor: user_service.list_users(session, principal.org_id, limit, cursor))
        emit([user_service.to_out(session, r) for r in rows])


@streams_app.command("create")
def streams_create(
    org: str = ORG,
    user: str = USER,
    name: str = typer.Option(..., "--name"),
    type_: StreamType = choice(StreamType, StreamType.accounts_contacts, "--type"),
    visibility: Visibility = choice(Visibility, Visibility.personal, "--visibility", help="team: admins only"),
    selectors: str = typer.Option(
        None,
        "--selectors",
        help='JSON list, e.g. [{"kind":"Page","filters":[{"path":"path","op":"starts_with","value":"/pricing"}]}]',
    ),
    slack_channel_id: str = typer.Option(None, "--slack-channel-id"),
    slack_channel_name: str = typer.Option(None, "--slack-channel-name", help="Default: the channel id"),
) -> None:
    """Create a stream; prints it."""
    channel = {"id": slack_channel_id, "name": slack_channel_name or slack_channel_id} if slack_channel_id else None
    body = request_body(
        StreamCreate,
        name=name,
        type=type_,
        visibility=visibility,
        selectors=json_option(selectors, "--selectors"),
        slack_channel=channel,
    )
    with db_session() as session:
        principal = act_as(session, org, user)
        emit(stream_service.describe(session, principal, stream_service.create_stream(session, principal, body)))


@streams_app.command("list")
def streams_list(org: str = ORG, user: str = USER) -> None:
    """The streams the user sees, favorites first."""
    with db_session() as session:
        principal = act_as(session, org, user)
        emit(collect(lambda limit, cursor: stream_service.list_streams(session, principal, limit, cursor)))


@follows_app.command("add")
def follows_add(
    org: str = ORG,
    user: str = USER,
    entity_type: EntityType = choice(EntityType, ..., "--entity-type"),
    entity_id: str = typer.Option(..., "--entity-id"),
    stream: list[str] = typer.Option(
        None, "--stream", help="Stream id (repeatable); default: the user's default stream"
    ),
    new_stream: str = typer.Option(None, "--new-stream", help="Create a stream of this name and follow into it"),
) -> None:
    body = request_body(
        FollowCreate,
        entity_type=entity_type,
        entity_id=entity_id,
        stream_ids=stream or [],
        new_stream={"name": new_stream} if new_stream else None,
    )
    with db_session() as session:
        emit(follow_service.follow(session, act_as(session, org, user), body))


@follows_app.command("list")
def follows_list(org: str = ORG, user: str = USER, stream: str = typer.Option(..., "--stream")) -> None:
    """What a stream follows."""
    with db_session() as session:
        principal = act_as(session, org, user)
        emit(collect(lambda limit, cursor: follow_service.stream_follows(session, principal, stream, limit, cursor)))


@milestones_app.command("create")
def milestones_create(
    org: str = ORG,
    name: str = typer.Option(..., "--name"),
    entity: EntityType = choice(EntityType, ..., "--entity", help="Counted per contact or per account"),
    kind: EventKind = choice(EventKind, ..., "--kind", help="The kind of event counted"),
    event: str = typer.Option(None, "--event", help="Event name (required for Action and Milestone)"),
    filters: str = typer.Option(
        None, "--filters", help='JSON list, e.g. [{"path":"role","op":"equals","value":"admin"}]'
    ),
    threshold: int = typer.Option(..., "--threshold"),
    window: str = typer.Option(None, "--window", help="e.g. 30d; omit for no window"),
) -> None:
    """Define a milestone; prints it."""
    body = request_body(
        MilestoneCreate,
        name=name,
        entity=entity,
        event={"kind": kind, "name": event} if event else {"kind": kind},
        filters=json_option(filters, "--filters"),
        threshold=threshold,
        window=window,
    )
    with db_session() as session:
        admin = require_admin(act_as(session, org))
        emit(milestone_service.describe(session, milestone_service.create_milestone(session, admin.org_id, body)))


@milestones_app.command("list")
def milestones_list(org: str = ORG) -> None:
    with db_session() as session:
        principal = act_as(session, org)
        emit(collect(lambda limit, cursor: milestone_service.list_milestones(session, principal.org_id, limit, cursor)))
