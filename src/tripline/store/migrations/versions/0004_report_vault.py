"""Legal reporting and the evidence vault: vault items, preservation records,
legal holds, chain of custody, report submissions, destination credentials.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model types, as in 0001.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "vault_items",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("wrapped_key", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("purged_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_vault_items")),
    )
    op.create_table(
        "vault_preservations",
        sa.Column("id", BigId, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("report_ref", sa.String(length=128), nullable=True),
        sa.Column("jurisdiction", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("reported_at", Timestamp, nullable=True),
        sa.Column("content_until", Timestamp, nullable=False),
        sa.Column("reference_until", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_preservations")),
    )
    op.create_index(op.f("ix_vault_preservations_sha256"), "vault_preservations", ["sha256"])
    op.create_index(op.f("ix_vault_preservations_report_ref"), "vault_preservations", ["report_ref"])
    op.create_table(
        "vault_holds",
        sa.Column("id", BigId, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("released_by", sa.String(length=128), nullable=True),
        sa.Column("released_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_holds")),
    )
    op.create_index(op.f("ix_vault_holds_sha256"), "vault_holds", ["sha256"])
    op.create_table(
        "vault_custody",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("detail", JSONDoc, nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_vault_custody")),
    )
    op.create_index(op.f("ix_vault_custody_sha256"), "vault_custody", ["sha256"])
    op.create_table(
        "report_submissions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("destination", sa.String(length=32), nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("item_ref", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("incident", JSONDoc, nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("state", JSONDoc, nullable=False),
        sa.Column("remote_id", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("finished_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_submissions")),
        sa.UniqueConstraint("destination", "item_ref", name=op.f("uq_report_submissions_destination_item_ref")),
    )
    op.create_index(op.f("ix_report_submissions_status"), "report_submissions", ["status"])
    op.create_table(
        "report_credentials",
        sa.Column("destination", sa.String(length=32), nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("base_url", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("destination", name=op.f("pk_report_credentials")),
    )


def downgrade() -> None:
    for table in ("report_credentials", "report_submissions", "vault_custody", "vault_holds",
                  "vault_preservations", "vault_items"):
        op.drop_table(table)
