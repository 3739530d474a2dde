"""Tables of legal reporting and the evidence vault.

Shares ``models.Base``; migration ``0004_report_vault`` creates them.

- ``vault_items``: one row per stored blob (content-addressed by the SHA-256
  of the plaintext); the per-item data key is kept wrapped by the master key.
- ``vault_preservations``: why an item is kept (what, why, which report, when)
  and until when, per jurisdiction.
- ``vault_holds``: legal holds; the purge job never deletes a held item.
- ``vault_custody``: hash-chained chain-of-custody log.
- ``report_submissions``: one legal report per (destination, item) and its
  submission state, visible to the console.
- ``report_credentials``: destination credentials, encrypted; never returned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, BigId


class VaultItem(Base):
    __tablename__ = "vault_items"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    md5: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(BigInteger)
    key_id: Mapped[str] = mapped_column(String(64))
    wrapped_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    # Set when the purge job removed the encrypted blob.
    purged_at: Mapped[datetime | None]


class VaultPreservation(Base):
    __tablename__ = "vault_preservations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)
    report_ref: Mapped[str | None] = mapped_column(String(128), index=True)
    jurisdiction: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    reported_at: Mapped[datetime | None]
    content_until: Mapped[datetime]
    reference_until: Mapped[datetime]


class VaultHold(Base):
    __tablename__ = "vault_holds"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    released_by: Mapped[str | None] = mapped_column(String(128))
    released_at: Mapped[datetime | None]


class VaultCustody(Base):
    __tablename__ = "vault_custody"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    detail: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ReportSubmission(Base):
    __tablename__ = "report_submissions"
    __table_args__ = (UniqueConstraint("destination", "item_ref"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    destination: Mapped[str] = mapped_column(String(32))
    environment: Mapped[str] = mapped_column(String(16))
    item_ref: Mapped[str] = mapped_column(String(128))
    # built | submitting | finished | failed
    status: Mapped[str] = mapped_column(String(16), index=True)
    incident: Mapped[dict[str, Any]]
    document: Mapped[str] = mapped_column(Text)
    state: Mapped[dict[str, Any]]
    remote_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class ReportCredential(Base):
    __tablename__ = "report_credentials"

    destination: Mapped[str] = mapped_column(String(32), primary_key=True)
    environment: Mapped[str] = mapped_column(String(16))
    base_url: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(64))
    ciphertext: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]
