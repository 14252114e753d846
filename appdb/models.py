"""SQLAlchemy models of the app database. Alembic migrations under ``migrations/``
create exactly these tables; a test compares the two.

Table names and the words the configuration columns hold come from the core's vocabulary
(``variance.core.vocabulary``): a ``Choice`` column refuses, when written, any value that is
not a member of its enum."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from variance.appdb.types import Choice, UTCDateTime, utcnow
from variance.core.events import EventKind
from variance.core.vocabulary import (
    AccountMapping,
    AppTable,
    EntityType,
    FavoriteTargetType,
    Role,
    ServingTable,
    SlackDelivery,
    SlackStatus,
    StreamType,
    Visibility,
)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime}


class Organisation(Base):
    __tablename__ = AppTable.organisations.value

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # an IANA name: the web app shows times in it (variance.workspace.org_settings)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")


class User(Base):
    __tablename__ = AppTable.users.value
    __table_args__ = (UniqueConstraint("org_id", "email", name="uq_users_org_email"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey(Organisation.id, ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(Choice(Role))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """Bearer tokens. Only a SHA-256 digest is stored (see ``variance.core.secrets``)."""

    __tablename__ = AppTable.api_tokens.value

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey(Organisation.id, ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Connection(Base):
    """A Segment source (or destination) delivering into one organisation."""

    __tablename__ = AppTable.connections.value
    __table_args__ = (
        UniqueConstraint("org_id", "name", name="uq_connections_org_name"),
        Index("ix_connections_org_id_id", "org_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey(Organisation.id, ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    secret_digest: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hint: Mapped[str] = mapped_column(String(16))
    mapping: Mapped[str] = mapped_column(Choice(AccountMapping, 32))
    account_id_trait: Mapped[str | None] = mapped_column(String(200))
    account_name_trait: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    secret_rotated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChangeStamp(Base):
    """A counter per kind of change that other processes must notice (``connections``: a secret
    rotated, a connection renamed or deleted), bumped in the same transaction as the change, so
    every API process can drop its cached write keys within a second of reading a new value."""

    __tablename__ = AppTable.change_stamps.value

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


# --- Workspace: what users configure -------------------------------------------------


class Stream(Base):
    """A feed of events. Personal streams belong to ``owner_user_id``; team streams to
    the organisation (admins manage them, everyone sees them)."""

    __tablename__ = AppTable.streams.value
    __table_args__ = (Index("ix_streams_org_id_id", "org_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey(Organisation.id, ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(Choice(StreamType, 32))
    visibility: Mapped[str] = mapped_column(Choice(Visibility))
    owner_user_id: Mapped[str | None] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"), index=True)
    is_default: Mapped[bool] = mapped_column(default=False)
    slack_channel_id: Mapped[str | None] = mapped_column(String(64))
    slack_channel_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class StreamSelector(Base):
    """One event type an Event Type stream carries, optionally narrowed by property
    filters (JSON list of PropertyFilter) and a connection name."""

    __tablename__ = AppTable.stream_selectors.value

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey(Organisation.id, ondelete="CASCADE"), index=True)
    stream_id: Mapped[str] = mapped_column(ForeignKey(Stream.id, ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    kind: Mapped[str] = mapped_column(Choice(EventKind))
    name: Mapped[str | None] = mapped_column(String(1024))
    filters: Mapped[str] = mapped_column(Text, default="[]")
    connection_name: Mapped[str | None] = mapped_column(String(200))


class Follow(Base):
    __tablename__ = AppTable.follows.value
    __table_args__ = (
        UniqueConstraint("stream_id", "entity_type", "entity_id", name="uq_follows_stream_entity"),
        Index("ix_follows_org_entity", "org_id", "entity_type", "entity_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey(Organisation.id, ondelete="CASCADE"))
    stream_id: Mapped[str] = mapped_column(ForeignKey(Stream.id, ondelete="CASCADE"))
    entity_type: Mapped[str] = mapped_column(Choice(EntityType))
    entity_id: Mapped[str] = mapped_column(String(1024))
    created_by_user_id: Mapped[str | None] = mapped_column(ForeignKey(User.id, ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Milestone(Base):
    """Event type + property filters + threshold + optional window, per contact or
    account. ``version`` grows with every change of meaning, so history computed under
    an older definition can be told apart and recomputed."""

    __tablename__ = AppTable.milestones.value
    __table_args__ = (
        UniqueConstraint("org_id", "name", name="uq_milestones_org_name"),
        Index("ix_milestones_org_id_id", "org_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey(Organisation.id, ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    entity: Mapped[str] = mapped_column(Choice(EntityType))
    event_kind: Mapped[str] = mapped_column(Choice(EventKind))
    event_name: Mapped[str | None] = mapped_column(String(1024))
    filters: Mapped[str] = mapped_column(Text, default="[]")
    threshold: Mapped[int] = mapped_column()
    window: Mapped[str | None] = mapped_column(String(16))
    window_seconds: Mapped[int | None] = mapped_column()
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SmartTag(Base):
    """A saved filter tree over accounts or contacts (JSON ``definition``)."""

    __tablename__ = AppTable.smart_tags.value
    __table_args__ = (
        UniqueConstraint("org_id", "name", name="uq_smart_tags_org_name"),
        Index("ix_smart_tags_org_id_id", "org_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey(Organisation.id, ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    entity: Mapped[str] = mapped_column(Choice(EntityType))
    definition: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class View(Base):
    """Like a smart tag, may use smart tags; personal or team; shown in the sidebar."""

    __tablename__ = AppTable.views.value
    __table_args__ = (Index("ix_views_org_id_id", "org_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey(Organisation.id, ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    entity: Mapped[str] = mapped_column(Choice(EntityType))
    definition: Mapped[str] = mapped_column(Text)
    visibility: Mapped[str] = mapped_column(Choice(Visibility))
    owner_user_id: Mapped[str | None] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Favorite(Base):
    __tablename__ = AppTable.favorites.value
    __table_args__ = (UniqueConstraint("user_id", "target_type", "target_id", name="uq_favorites_user_target"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey(Organisation.id, ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"), index=True)
    target_type: Mapped[str] = mapped_column(Choice(FavoriteTargetType))
    target_id: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- Serving tables: filled by the pipeline, read by the API ---------------------------


def search_key(text: str | None) -> str:
    """What ``search_name`` holds and what searches compare with: case-folded, trimmed."""
    return (text or "").strip().casefold()


# Keys are the natural keys of what they hold, so the pipeline can upsert them. Their
# kind and entity_type columns hold the same words as the configuration's but stay plain
# strings: the pipeline writes them in bulk, from rows the core has already built.


class ContactRow(Base):
    __tablename__ = ServingTable.contacts.value
    __table_args__ = (
        # Each list order has an index ending in the id, so keyset pages are index scans.
        Index("ix_contacts_org_name", "org_id", "search_name", "contact_id"),
        Index("ix_contacts_org_email", "org_id", "email"),
        Index("ix_contacts_org_account", "org_id", "account_id", "search_name", "contact_id"),
        Index("ix_contacts_org_last_seen", "org_id", "last_seen_at", "contact_id"),
    )

    org_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    contact_id: Mapped[str] = mapped_column(String(1024), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(400))
    search_name: Mapped[str] = mapped_column(String(400))  # case-folded name, else email/domain, else id
    email: Mapped[str | None] = mapped_column(String(320))
    account_id: Mapped[str | None] = mapped_column(String(1024))
    traits: Mapped[str] = mapped_column(Text, default="{}")
    first_seen_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccountRow(Base):
    __tablename__ = ServingTable.accounts.value
    __table_args__ = (
        Index("ix_accounts_org_name", "org_id", "search_name", "account_id"),
        Index("ix_accounts_org_domain", "org_id", "domain"),
        Index("ix_accounts_org_last_seen", "org_id", "last_seen_at", "account_id"),
    )

    org_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(1024), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(400))
    search_name: Mapped[str] = mapped_column(String(400))  # case-folded name, else email/domain, else id
    domain: Mapped[str | None] = mapped_column(String(253))
    traits: Mapped[str] = mapped_column(Text, default="{}")
    first_seen_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MilestoneStatusRow(Base):
    """Each entity's current status for each milestone."""

    __tablename__ = ServingTable.milestone_status.value
    __table_args__ = (Index("ix_milestone_status_entity", "org_id", "entity_id"),)

    org_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    milestone_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(1024), primary_key=True)
    achieved: Mapped[bool] = mapped_column()
    count: Mapped[int] = mapped_column()
    changed_at: Mapped[datetime] = mapped_column()
    achieved_at: Mapped[datetime | None] = mapped_column()
    version: Mapped[int] = mapped_column(default=1)


class StreamItemRow(Base):
    """Recent events of a stream (bounded retention), newest first when read."""

    __tablename__ = ServingTable.stream_items.value
    __table_args__ = (Index("ix_stream_items_feed", "org_id", "stream_id", "event_time"),)

    org_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    stream_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(1024), primary_key=True)
    event_time: Mapped[datetime] = mapped_column()
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(1024))
    contact_id: Mapped[str | None] = mapped_column(String(1024))
    account_id: Mapped[str | None] = mapped_column(String(1024))
    connection_name: Mapped[str | None] = mapped_column(String(200))
    properties: Mapped[str] = mapped_column(Text, default="{}")


class EventTypeRow(Base):
    """The catalog of event types seen per organisation."""

    __tablename__ = ServingTable.event_types.value

    org_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(1024), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column()
    count: Mapped[int] = mapped_column(BigInteger)


class DailyActivityRow(Base):
    """Events per entity, event type and UTC day (Beam's one-day event-time windows)."""

    __tablename__ = ServingTable.daily_activity.value

    org_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(1024), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(1024), primary_key=True)
    count: Mapped[int] = mapped_column()


class TagMemberRow(Base):
    """Which entities carry which smart tag, and since when. The pipeline's serving sink
    keeps it current (``variance.serving.tags.refresh_tag_members``, after each batch and
    on its timers); the workspace reads it (tag counts, an entity's tags) and clears a
    deleted tag's rows."""

    __tablename__ = ServingTable.tag_members.value
    __table_args__ = (Index("ix_tag_members_entity", "org_id", "entity_id"),)

    org_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tag_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(1024), primary_key=True)
    since: Mapped[datetime | None] = mapped_column()


# --- Sign-in for people (the web app) -------------------------------------------------
# API tokens stay what scripts use; these let a person sign in with an email and a
# password and hold a browser session. Secrets (link tokens, session ids) are stored as
# SHA-256 digests like API tokens; passwords as argon2id hashes (variance.workspace.passwords).


class UserPassword(Base):
    """A user's password hash, in a table of its own: most users of the API never set one."""

    __tablename__ = AppTable.user_passwords.value

    user_id: Mapped[str] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)


class SignInLink(Base):
    """An invite or reset link an admin passes on (there is no mail server): one use, expires."""

    __tablename__ = AppTable.sign_in_links.value

    token_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey(Organisation.id, ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # "invite" or "reset" (workspace.sign_in)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class WebSession(Base):
    """A signed-in browser. The cookie holds the id; only its digest is stored, so a leaked
    database cannot be replayed as cookies. ``csrf_token`` is per session (synchronizer token)."""

    __tablename__ = AppTable.web_sessions.value

    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey(Organisation.id, ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class SignInFailure(Base):
    """Wrong passwords per email, to slow down guessing: a fixed window from the first failure."""

    __tablename__ = AppTable.sign_in_failures.value

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    first_failed_at: Mapped[datetime] = mapped_column(default=utcnow)


# Timelines read an account's or a contact's recent items across streams: these make
# that an index range scan (declared here, beside the models this issue adds).
Index("ix_stream_items_account", StreamItemRow.org_id, StreamItemRow.account_id, StreamItemRow.event_time)
Index("ix_stream_items_contact", StreamItemRow.org_id, StreamItemRow.contact_id, StreamItemRow.event_time)


# --- Slack (variance.slack) ------------------------------------------------------------
# The pipeline records what is to be posted (slack_outbox, keyed like the stream match it
# comes from, so a redelivered match adds nothing); one sender posts it at each channel's
# rate and keeps the row as the sent-log until it is pruned.


class SlackOutboxRow(Base):
    """One stream match to post (or posted) to one channel. ``key`` is the SHA-256 of the
    match's key (organisation, stream, message id), fixed length whatever the ids are."""

    __tablename__ = AppTable.slack_outbox.value
    __table_args__ = (
        Index("ix_slack_outbox_due", "state", "next_attempt_at"),
        Index("ix_slack_outbox_channel", "org_id", "channel_id", "state", "created_at"),
        Index("ix_slack_outbox_done", "state", "done_at"),
    )

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40))
    stream_id: Mapped[str] = mapped_column(String(40))
    message_id: Mapped[str] = mapped_column(String(1024))
    channel_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)  # the match, as JSON, with what the message needs
    state: Mapped[str] = mapped_column(Choice(SlackDelivery))
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column()
    claim_id: Mapped[str | None] = mapped_column(String(32))  # names the post in its Slack metadata
    done_at: Mapped[datetime | None] = mapped_column()  # sent, digested or dead
    message_ts: Mapped[str | None] = mapped_column(String(32))  # Slack's ts, or "outbox"
    last_error: Mapped[str | None] = mapped_column(String(300))


class SlackStreamStatus(Base):
    """A stream's Slack status: ok, or Slack's error code and since when."""

    __tablename__ = AppTable.slack_stream_status.value

    stream_id: Mapped[str] = mapped_column(ForeignKey(Stream.id, ondelete="CASCADE"), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(Choice(SlackStatus))
    error: Mapped[str | None] = mapped_column(String(100))
    since: Mapped[datetime] = mapped_column(default=utcnow)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlackInstallation(Base):
    """An organisation's Slack workspace: the bot token Fernet-encrypted (never returned or
    logged), and when Slack said it was revoked or uninstalled."""

    __tablename__ = AppTable.slack_installations.value

    org_id: Mapped[str] = mapped_column(ForeignKey(Organisation.id, ondelete="CASCADE"), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32), index=True)
    team_name: Mapped[str | None] = mapped_column(String(200))
    bot_user_id: Mapped[str | None] = mapped_column(String(32))
    bot_token_encrypted: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(Text, default="")
    installed_by: Mapped[str | None] = mapped_column(String(40))
    installed_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
    owner_email_trait: Mapped[str | None] = mapped_column(String(200))  # account trait naming its owner


class SlackOAuthState(Base):
    """An "Add to Slack" in progress: the state's digest, the organisation and the admin who
    started it; used once, and only before it expires."""

    __tablename__ = AppTable.slack_oauth_states.value

    state_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey(Organisation.id, ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


# --- Deleting a contact's data (variance.workspace.contact_deletion) -------------------
# A request stays in force: the serving tables lose the contact at once, every lake
# rewrite (`variance warehouse compact`) and BigQuery build removes its rows, and every
# rebuild of the pipeline's state leaves its events out.


class ContactDeletion(Base):
    """One request to delete a contact's data: who asked and when, the anonymousIds learnt
    to be linked to it (kept once the lake's links are gone), and when the lake was last
    rewritten without it."""

    __tablename__ = AppTable.contact_deletions.value
    __table_args__ = (UniqueConstraint("org_id", "contact_id", name="uq_contact_deletions_org_contact"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey(Organisation.id, ondelete="CASCADE"), index=True)
    contact_id: Mapped[str] = mapped_column(String(1024))
    requested_by_user_id: Mapped[str | None] = mapped_column(ForeignKey(User.id, ondelete="SET NULL"))
    requested_by_email: Mapped[str] = mapped_column(String(320))  # still says who once the user is removed
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    known_ids: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of linked anonymousIds
    lake_rewritten_at: Mapped[datetime | None] = mapped_column()


# --- Each connection's recent calls (variance.workspace.connection_calls) --------------
# The API counts calls in memory and writes one row per connection and minute every few
# seconds, off the request path; the rows are kept two days and the errors 20 per
# connection, so both tables stay small whatever the traffic.


class ConnectionCalls(Base):
    """Calls a connection delivered in one minute: accepted, rejected, and the last one's time."""

    __tablename__ = AppTable.connection_calls.value

    connection_id: Mapped[str] = mapped_column(ForeignKey(Connection.id, ondelete="CASCADE"), primary_key=True)
    minute: Mapped[datetime] = mapped_column(primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40))
    accepted: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    last_received_at: Mapped[datetime] = mapped_column()


class ConnectionRejection(Base):
    """One rejected call: when, its messageId if it had one, and the field and rule it broke."""

    __tablename__ = AppTable.connection_errors.value
    __table_args__ = (Index("ix_connection_errors_connection_at", "connection_id", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey(Connection.id, ondelete="CASCADE"))
    org_id: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column()
    message_id: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(1000))
