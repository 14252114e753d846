"""workspace and serving tables

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=1024), nullable=False),
        sa.Column("name", sa.String(length=400), nullable=True),
        sa.Column("search_name", sa.String(length=400), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=True),
        sa.Column("traits", sa.Text(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "account_id"),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index("ix_accounts_org_domain", ["org_id", "domain"], unique=False)
        batch_op.create_index("ix_accounts_org_last_seen", ["org_id", "last_seen_at", "account_id"], unique=False)
        batch_op.create_index("ix_accounts_org_name", ["org_id", "search_name", "account_id"], unique=False)

    op.create_table(
        "contacts",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("contact_id", sa.String(length=1024), nullable=False),
        sa.Column("name", sa.String(length=400), nullable=True),
        sa.Column("search_name", sa.String(length=400), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("account_id", sa.String(length=1024), nullable=True),
        sa.Column("traits", sa.Text(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "contact_id"),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contacts_org_account", ["org_id", "account_id", "search_name", "contact_id"], unique=False
        )
        batch_op.create_index("ix_contacts_org_email", ["org_id", "email"], unique=False)
        batch_op.create_index("ix_contacts_org_last_seen", ["org_id", "last_seen_at", "contact_id"], unique=False)
        batch_op.create_index("ix_contacts_org_name", ["org_id", "search_name", "contact_id"], unique=False)

    op.create_table(
        "daily_activity",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("entity_type", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.String(length=1024), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "entity_type", "entity_id", "day", "kind", "name"),
    )
    op.create_table(
        "event_types",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "kind", "name"),
    )
    op.create_table(
        "milestone_status",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("milestone_id", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.String(length=1024), nullable=False),
        sa.Column("achieved", sa.Boolean(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("achieved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "milestone_id", "entity_id"),
    )
    with op.batch_alter_table("milestone_status", schema=None) as batch_op:
        batch_op.create_index("ix_milestone_status_entity", ["org_id", "entity_id"], unique=False)

    op.create_table(
        "stream_items",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("stream_id", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.String(length=1024), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=True),
        sa.Column("contact_id", sa.String(length=1024), nullable=True),
        sa.Column("account_id", sa.String(length=1024), nullable=True),
        sa.Column("connection_name", sa.String(length=200), nullable=True),
        sa.Column("properties", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "stream_id", "message_id"),
    )
    with op.batch_alter_table("stream_items", schema=None) as batch_op:
        batch_op.create_index("ix_stream_items_feed", ["org_id", "stream_id", "event_time"], unique=False)

    op.create_table(
        "tag_members",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("tag_id", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.String(length=1024), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("org_id", "tag_id", "entity_id"),
    )
    with op.batch_alter_table("tag_members", schema=None) as batch_op:
        batch_op.create_index("ix_tag_members_entity", ["org_id", "entity_id"], unique=False)

    op.create_table(
        "milestones",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("event_kind", sa.String(length=16), nullable=False),
        sa.Column("event_name", sa.String(length=1024), nullable=True),
        sa.Column("filters", sa.Text(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("window", sa.String(length=16), nullable=True),
        sa.Column("window_seconds", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "name", name="uq_milestones_org_name"),
    )
    with op.batch_alter_table("milestones", schema=None) as batch_op:
        batch_op.create_index("ix_milestones_org_id_id", ["org_id", "id"], unique=False)

    op.create_table(
        "smart_tags",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "name", name="uq_smart_tags_org_name"),
    )
    with op.batch_alter_table("smart_tags", schema=None) as batch_op:
        batch_op.create_index("ix_smart_tags_org_id_id", ["org_id", "id"], unique=False)

    op.create_table(
        "favorites",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "target_type", "target_id", name="uq_favorites_user_target"),
    )
    with op.batch_alter_table("favorites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_favorites_user_id"), ["user_id"], unique=False)

    op.create_table(
        "streams",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("owner_user_id", sa.String(length=40), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("slack_channel_id", sa.String(length=64), nullable=True),
        sa.Column("slack_channel_name", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("streams", schema=None) as batch_op:
        batch_op.create_index("ix_streams_org_id_id", ["org_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_streams_owner_user_id"), ["owner_user_id"], unique=False)

    op.create_table(
        "views",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("owner_user_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("views", schema=None) as batch_op:
        batch_op.create_index("ix_views_org_id_id", ["org_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_views_owner_user_id"), ["owner_user_id"], unique=False)

    op.create_table(
        "follows",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("stream_id", sa.String(length=40), nullable=False),
        sa.Column("entity_type", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.String(length=1024), nullable=False),
        sa.Column("created_by_user_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by_user_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["stream_id"], ["streams.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("stream_id", "entity_type", "entity_id", name="uq_follows_stream_entity"),
    )
    with op.batch_alter_table("follows", schema=None) as batch_op:
        batch_op.create_index("ix_follows_org_entity", ["org_id", "entity_type", "entity_id"], unique=False)

    op.create_table(
        "stream_selectors",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("stream_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=True),
        sa.Column("filters", sa.Text(), nullable=False),
        sa.Column("connection_name", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["stream_id"], ["streams.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("stream_selectors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stream_selectors_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_stream_selectors_stream_id"), ["stream_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("stream_selectors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stream_selectors_stream_id"))
        batch_op.drop_index(batch_op.f("ix_stream_selectors_org_id"))

    op.drop_table("stream_selectors")
    with op.batch_alter_table("follows", schema=None) as batch_op:
        batch_op.drop_index("ix_follows_org_entity")

    op.drop_table("follows")
    with op.batch_alter_table("views", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_views_owner_user_id"))
        batch_op.drop_index("ix_views_org_id_id")

    op.drop_table("views")
    with op.batch_alter_table("streams", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_streams_owner_user_id"))
        batch_op.drop_index("ix_streams_org_id_id")

    op.drop_table("streams")
    with op.batch_alter_table("favorites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_favorites_user_id"))

    op.drop_table("favorites")
    with op.batch_alter_table("smart_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_smart_tags_org_id_id")

    op.drop_table("smart_tags")
    with op.batch_alter_table("milestones", schema=None) as batch_op:
        batch_op.drop_index("ix_milestones_org_id_id")

    op.drop_table("milestones")
    with op.batch_alter_table("tag_members", schema=None) as batch_op:
        batch_op.drop_index("ix_tag_members_entity")

    op.drop_table("tag_members")
    with op.batch_alter_table("stream_items", schema=None) as batch_op:
        batch_op.drop_index("ix_stream_items_feed")

    op.drop_table("stream_items")
    with op.batch_alter_table("milestone_status", schema=None) as batch_op:
        batch_op.drop_index("ix_milestone_status_entity")

    op.drop_table("milestone_status")
    op.drop_table("event_types")
    op.drop_table("daily_activity")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_org_name")
        batch_op.drop_index("ix_contacts_org_last_seen")
        batch_op.drop_index("ix_contacts_org_email")
        batch_op.drop_index("ix_contacts_org_account")

    op.drop_table("contacts")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_accounts_org_name")
        batch_op.drop_index("ix_accounts_org_last_seen")
        batch_op.drop_index("ix_accounts_org_domain")

    op.drop_table("accounts")
