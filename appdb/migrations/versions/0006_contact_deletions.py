"""contact deletion requests: who asked to delete which contact's data, and how far it has gone

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contact_deletions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("contact_id", sa.String(length=1024), nullable=False),
        sa.Column("requested_by_user_id", sa.String(length=40), nullable=True),
        sa.Column("requested_by_email", sa.String(length=320), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("known_ids", sa.Text(), nullable=False),
        sa.Column("lake_rewritten_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["requested_by_user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "contact_id", name="uq_contact_deletions_org_contact"),
    )
    op.create_index("ix_contact_deletions_org_id", "contact_deletions", ["org_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_contact_deletions_org_id", table_name="contact_deletions")
    op.drop_table("contact_deletions")
