"""Tables of tripline.distribution: ingested accounts and posts, their media's
scan records, lead verification state and a small key/value table.

They share ``models.Base`` (one metadata, one Alembic history); migration
``0006_distribution`` creates them. Prefixed ``dist_`` because ``accounts``
and ``posts`` would read as the service's own users.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, JSONDoc


class DistAccount(Base):
    __tablename__ = "dist_accounts"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    handle: Mapped[str | None] = mapped_column(Text)
    display_name: Mapped[str | None] = mapped_column(Text)
    bio: Mapped[str | None] = mapped_column(Text)
    links: Mapped[list[Any]] = mapped_column(JSONDoc)
    created: Mapped[str | None] = mapped_column(Text)
    extracted: Mapped[list[Any]] = mapped_column(JSONDoc)


class DistPost(Base):
    __tablename__ = "dist_posts"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(255), index=True)
    text: Mapped[str | None] = mapped_column(Text)
    hashtags: Mapped[list[Any]] = mapped_column(JSONDoc)
    links: Mapped[list[Any]] = mapped_column(JSONDoc)
    media: Mapped[list[Any]] = mapped_column(JSONDoc)
    created: Mapped[str | None] = mapped_column(Text)
    extracted: Mapped[list[Any]] = mapped_column(JSONDoc)


class DistMedia(Base):
    __tablename__ = "dist_media"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    md5: Mapped[str | None] = mapped_column(String(32), index=True)
    record: Mapped[dict[str, Any]] = mapped_column(JSONDoc)


class DistLeadState(Base):
    __tablename__ = "dist_lead_state"

    lead_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    by: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[str] = mapped_column(String(32))  # ISO 8601, as shown to the user


class DistMeta(Base):
    __tablename__ = "dist_meta"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)
