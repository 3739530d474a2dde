"""Distribution signals move into the main database: accounts, posts, their
media's scan records, lead state and metadata (formerly distribution.sqlite,
read by tripline.distribution.import_legacy).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the model type, as in 0001.
JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "dist_accounts",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("handle", sa.Text(), nullable=True),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("bio", sa.Text(), nullable=True),
        sa.Column("links", JSONDoc, nullable=False),
        sa.Column("created", sa.Text(), nullable=True),
        sa.Column("extracted", JSONDoc, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dist_accounts")),
    )
    op.create_table(
        "dist_posts",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("account_id", sa.String(length=255), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("hashtags", JSONDoc, nullable=False),
        sa.Column("links", JSONDoc, nullable=False),
        sa.Column("media", JSONDoc, nullable=False),
        sa.Column("created", sa.Text(), nullable=True),
        sa.Column("extracted", JSONDoc, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dist_posts")),
    )
    op.create_index(op.f("ix_dist_posts_account_id"), "dist_posts", ["account_id"], unique=False)
    op.create_table(
        "dist_media",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("md5", sa.String(length=32), nullable=True),
        sa.Column("record", JSONDoc, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_dist_media")),
    )
    op.create_index(op.f("ix_dist_media_md5"), "dist_media", ["md5"], unique=False)
    op.create_index(op.f("ix_dist_media_sha256"), "dist_media", ["sha256"], unique=False)
    op.create_table(
        "dist_lead_state",
        sa.Column("lead_id", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("by", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("lead_id", name=op.f("pk_dist_lead_state")),
    )
    op.create_table(
        "dist_meta",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_dist_meta")),
    )


def downgrade() -> None:
    op.drop_table("dist_meta")
    op.drop_table("dist_lead_state")
    op.drop_index(op.f("ix_dist_media_sha256"), table_name="dist_media")
    op.drop_index(op.f("ix_dist_media_md5"), table_name="dist_media")
    op.drop_table("dist_media")
    op.drop_index(op.f("ix_dist_posts_account_id"), table_name="dist_posts")
    op.drop_table("dist_posts")
    op.drop_table("dist_accounts")
