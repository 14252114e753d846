"""Connections: create, read, update, rotate, delete, and authenticate a secret."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from variance.appdb import stamps
from variance.appdb.models import Connection
from variance.appdb.types import utcnow
from variance.core import credentials
from variance.core.bus import Source
from variance.core.ids import new_id
from variance.core.vocabulary import AccountMapping
from variance.workspace.errors import Conflict, InvalidInput, NotFound
from variance.workspace.pagination import paginate
from variance.workspace.schemas.connections import (
    ConnectionCreate,
    ConnectionOut,
    ConnectionUpdate,
    ConnectionWithSecret,
)


def webhook_url(public_url: str, connection_id: str) -> str:
    return f"{public_url.rstrip('/')}/v1/webhooks/{connection_id}"


def to_out(connection: Connection, public_url: str) -> ConnectionOut:
    return ConnectionOut(
        id=connection.id,
        org_id=connection.org_id,
        name=connection.name,
        mapping=AccountMapping(connection.mapping),
        account_id_trait=connection.account_id_trait,
        account_name_trait=connection.account_name_trait,
        webhook_url=webhook_url(public_url, connection.id),
        secret_hint=connection.secret_hint,
        created_at=connection.created_at,
        updated_at=connection.updated_at,
        secret_rotated_at=connection.secret_rotated_at,
    )


def _with_secret(connection: Connection, secret: str, public_url: str) -> ConnectionWithSecret:
    return ConnectionWithSecret(**to_out(connection, public_url).model_dump(), secret=secret)


def _check_mapping(mapping: str, id_trait: str | None, name_trait: str | None) -> None:
    if mapping == AccountMapping.identify_traits.value:
        if not id_trait:
            raise InvalidInput("account_id_trait", "is required when mapping is identify_traits (e.g. company.id)")
    elif id_trait or name_trait:
        field = "account_id_trait" if id_trait else "account_name_trait"
        raise InvalidInput(field, "is only used when mapping is identify_traits")


def _set_secret(connection: Connection) -> str:
    secret = credentials.new_secret(credentials.SECRET_PREFIX)
    connection.secret_digest = credentials.digest(secret)
    connection.secret_hint = credentials.hint(secret)
    connection.secret_rotated_at = utcnow()
    return secret


def _flush_unique_name(session: Session, name: str) -> None:
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"a connection named {name!r} already exists in this organisation", field="name") from None


def create_connection(session: Session, org_id: str, body: ConnectionCreate, public_url: str) -> ConnectionWithSecret:
    _check_mapping(body.mapping.value, body.account_id_trait, body.account_name_trait)
    name = body.name.strip()
    if not name:
        raise InvalidInput("name", "must not be empty")
    connection = Connection(
        id=new_id("con"),
        org_id=org_id,
        name=name,
        mapping=body.mapping.value,
        account_id_trait=body.account_id_trait,
        account_name_trait=body.account_name_trait,
    )
    secret = _set_secret(connection)
    with session.begin_nested():
        session.add(connection)
        _flush_unique_name(session, name)
    return _with_secret(connection, secret, public_url)


def get_connection(session: Session, org_id: str, connection_id: str) -> Connection:
    connection = session.get(Connection, connection_id)
    # Another organisation's connection is "not found", so ids never leak across tenants.
    if connection is None or connection.org_id != org_id:
        raise NotFound(f"no connection {connection_id!r} in this organisation")
    return connection


def list_connections(
    session: Session, org_id: str, limit: int, cursor: str | None
) -> tuple[list[Connection], str | None]:
    rows, next_cursor = paginate(
        session, select(Connection).where(Connection.org_id == org_id), Connection.id, limit, cursor
    )
    return list(rows), next_cursor


def update_connection(session: Session, org_id: str, connection_id: str, body: ConnectionUpdate) -> Connection:
    connection = get_connection(session, org_id, connection_id)
    changes = body.model_dump(exclude_unset=True)
    mapping = changes.get("mapping", connection.mapping)
    mapping = mapping.value if isinstance(mapping, AccountMapping) else mapping
    if mapping is None:
        raise InvalidInput("mapping", "must be one of group, identify_traits, email_domain")
    id_trait = changes.get("account_id_trait", connection.account_id_trait)
    name_trait = changes.get("account_name_trait", connection.account_name_trait)
    if mapping != AccountMapping.identify_traits.value and "mapping" in changes:
        # switching away from trait mapping drops the trait paths unless the caller set them
        id_trait = changes.get("account_id_trait")
        name_trait = changes.get("account_name_trait")
    _check_mapping(mapping, id_trait, name_trait)
    if "name" in changes:
        name = (changes["name"] or "").strip()
        if not name:
            raise InvalidInput("name", "must not be empty")
        connection.name = name
        stamps.bump(session, stamps.CONNECTIONS)  # cached write keys carry the connection's name
    connection.mapping = mapping
    connection.account_id_trait = id_trait
    connection.account_name_trait = name_trait
    connection.updated_at = utcnow()
    with session.begin_nested():
        _flush_unique_name(session, connection.name)
    return connection


def rotate_secret(session: Session, org_id: str, connection_id: str, public_url: str) -> ConnectionWithSecret:
    """A new secret replaces the old one at once; the old one stops working."""
    connection = get_connection(session, org_id, connection_id)
    secret = _set_secret(connection)
    connection.updated_at = utcnow()
    session.flush()
    stamps.bump(session, stamps.CONNECTIONS)
    return _with_secret(connection, secret, public_url)


def delete_connection(session: Session, org_id: str, connection_id: str) -> None:
    """The connection and its write key are gone; every API process refuses the key within a second."""
    session.delete(get_connection(session, org_id, connection_id))
    session.flush()
    stamps.bump(session, stamps.CONNECTIONS)


@dataclass(frozen=True)
class AuthenticatedConnection:
    source: Source
    secret_digest: str


def authenticate_secret(session: Session, secret: str) -> AuthenticatedConnection | None:
    """The connection whose secret this is, or None. Constant-time on the digest."""
    if not secret:
        return None
    expected = credentials.digest(secret)
    row = session.execute(
        select(Connection.id, Connection.org_id, Connection.name, Connection.secret_digest).where(
            Connection.secret_digest == expected
        )
    ).first()
    if row is None or not credentials.matches(secret, row[3]):
        return None
    return AuthenticatedConnection(Source(org_id=row[1], connection_id=row[0], connection_name=row[2]), row[3])
