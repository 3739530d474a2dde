"""Initial schema: banks, bank entries, scan runs, scan items, item matches.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the types in models.py: a migration must keep meaning the
# same thing even after the models move on.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "banks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("pdq_threshold", sa.Integer(), nullable=False),
        sa.Column("pdq_quality_min", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint("kind IN ('match', 'allow')", name=op.f("ck_banks_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_banks")),
        sa.UniqueConstraint("name", name=op.f("uq_banks_name")),
    )
    op.create_table(
        "bank_entries",
        sa.Column("id", BigId, nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("signal_type", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("added_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"],
            name=op.f("fk_bank_entries_bank_id_banks"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_entries")),
        sa.UniqueConstraint(
            "bank_id", "signal_type", "value",
            name=op.f("uq_bank_entries_bank_id_signal_type_value"),
        ),
    )
    op.create_index(
        "ix_bank_entries_signal_type_value", "bank_entries", ["signal_type", "value"]
    )
    op.create_table(
        "scan_runs",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("args", JSONDoc, nullable=False),
        sa.Column("out_dir", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("counts", JSONDoc, nullable=True),
        sa.Column("started_at", Timestamp, nullable=False),
        sa.Column("finished_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_runs")),
    )
    op.create_table(
        "scan_items",
        sa.Column("id", BigId, nullable=False),
        sa.Column("run_id", sa.String(length=255), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("media_type", sa.Text(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("md5", sa.String(length=32), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("pdq", sa.String(length=64), nullable=True),
        sa.Column("pdq_quality", sa.Integer(), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("provenance", JSONDoc, nullable=True),
        sa.Column("record", JSONDoc, nullable=False),
        sa.Column("recorded_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["scan_runs.id"],
            name=op.f("fk_scan_items_run_id_scan_runs"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_items")),
        sa.UniqueConstraint("run_id", "key_hash", name=op.f("uq_scan_items_run_id_key_hash")),
    )
    op.create_index(op.f("ix_scan_items_md5"), "scan_items", ["md5"])
    op.create_index(op.f("ix_scan_items_sha256"), "scan_items", ["sha256"])
    op.create_index(op.f("ix_scan_items_pdq"), "scan_items", ["pdq"])
    op.create_table(
        "item_matches",
        sa.Column("id", BigId, nullable=False),
        sa.Column("item_id", BigId, nullable=False),
        sa.Column("bank", sa.String(length=64), nullable=False),
        sa.Column("bank_kind", sa.String(length=16), nullable=False),
        sa.Column("signal_type", sa.String(length=32), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("distance", sa.Integer(), nullable=True),
        sa.Column("variant", sa.Text(), nullable=True),
        sa.Column("suppressed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["scan_items.id"],
            name=op.f("fk_item_matches_item_id_scan_items"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_matches")),
    )
    op.create_index(op.f("ix_item_matches_item_id"), "item_matches", ["item_id"])


def downgrade() -> None:
    op.drop_table("item_matches")
    op.drop_table("scan_items")
    op.drop_table("scan_runs")
    op.drop_table("bank_entries")
    op.drop_table("banks")
