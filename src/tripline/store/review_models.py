"""Tables of the HTTP service and review console: people, API keys, sessions,
the review queue, reveals and breaks (the exposure budget), organisation
settings and the hash-chained audit log.

They share ``models.Base`` so one metadata (and one Alembic history) covers the
whole store; migration ``0003_review_audit`` creates them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, BigId


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    # Space-separated role names; few and fixed, so no join table.
    roles: Mapped[str] = mapped_column(Text)
    # Blur strength override for this reviewer (None: the organisation's).
    blur_strength: Mapped[int | None] = mapped_column(Integer)
    disabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # Public part shown in listings; the secret is only ever stored hashed.
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    roles: Mapped[str] = mapped_column(Text)
    revoked: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]


class WebSession(Base):
    __tablename__ = "web_sessions"

    # sha256 of the cookie's token: a database leak yields no usable session.
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class ReviewItem(Base):
    __tablename__ = "review_items"
    __table_args__ = (Index("ix_review_items_status_rank_created", "status", "priority_rank", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    media_type: Mapped[str | None] = mapped_column(Text)
    # open | escalated | decided
    status: Mapped[str] = mapped_column(String(16))
    # default | child-safety: child-safety items are only shown to that role.
    queue: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str | None] = mapped_column(String(8))
    priority_rank: Mapped[int] = mapped_column(Integer)
    record: Mapped[dict[str, Any]]
    decision: Mapped[dict[str, Any]]
    context: Mapped[dict[str, Any] | None]
    assigned_to: Mapped[str | None] = mapped_column(String(64))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claim_expires_at: Mapped[datetime | None]
    outcome: Mapped[dict[str, Any] | None]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class ReviewReveal(Base):
    __tablename__ = "review_reveals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("review_items.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime]
    # Counted exposure; set when the reviewer hides the item again (or the
    # default per-reveal allowance if they never do).
    seconds: Mapped[int | None] = mapped_column(Integer)


class ReviewerBreak(Base):
    __tablename__ = "reviewer_breaks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class OrgSetting(Base):
    __tablename__ = "org_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
