"""Video banks: the frames of banked vPDQ signals and per-bank video thresholds.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of models.BigId, as in 0001.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "video_frames",
        sa.Column("id", BigId, nullable=False),
        sa.Column("entry_id", BigId, nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("pdq", sa.String(length=64), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.Column("duplicate", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["bank_entries.id"],
            name=op.f("fk_video_frames_entry_id_bank_entries"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"],
            name=op.f("fk_video_frames_bank_id_banks"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_video_frames")),
    )
    op.create_index(op.f("ix_video_frames_entry_id"), "video_frames", ["entry_id"])
    op.create_index(op.f("ix_video_frames_bank_id"), "video_frames", ["bank_id"])
    op.create_table(
        "video_bank_settings",
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("query_match_pct", sa.Float(), nullable=False),
        sa.Column("bank_match_pct", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"],
            name=op.f("fk_video_bank_settings_bank_id_banks"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("bank_id", name=op.f("pk_video_bank_settings")),
    )


def downgrade() -> None:
    op.drop_table("video_bank_settings")
    op.drop_table("video_frames")
