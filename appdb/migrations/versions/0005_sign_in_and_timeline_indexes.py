"""sign-in for people (passwords, invite/reset links, web sessions, failed attempts) and
the indexes account and contact timelines read stream items through

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
# 0004 is the Slack work's migration, written at the same time; this one follows it.
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_passwords",
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "sign_in_links",
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_digest"),
    )
    op.create_index("ix_sign_in_links_org_id", "sign_in_links", ["org_id"], unique=False)
    op.create_index("ix_sign_in_links_user_id", "sign_in_links", ["user_id"], unique=False)
    op.create_table(
        "web_sessions",
        sa.Column("id_digest", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id_digest"),
    )
    op.create_index("ix_web_sessions_org_id", "web_sessions", ["org_id"], unique=False)
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"], unique=False)
    op.create_table(
        "sign_in_failures",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("email"),
    )
    op.create_index("ix_stream_items_account", "stream_items", ["org_id", "account_id", "event_time"], unique=False)
    op.create_index("ix_stream_items_contact", "stream_items", ["org_id", "contact_id", "event_time"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_stream_items_contact", table_name="stream_items")
    op.drop_index("ix_stream_items_account", table_name="stream_items")
    op.drop_table("sign_in_failures")
    op.drop_index("ix_web_sessions_user_id", table_name="web_sessions")
    op.drop_index("ix_web_sessions_org_id", table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_index("ix_sign_in_links_user_id", table_name="sign_in_links")
    op.drop_index("ix_sign_in_links_org_id", table_name="sign_in_links")
    op.drop_table("sign_in_links")
    op.drop_table("user_passwords")
