"""Schema of the Tripline store.

The models only describe tables; ``store.py`` talks to them through SQLAlchemy
Core, because bulk loads of millions of hash rows are far cheaper without ORM
identity tracking.  The Alembic migrations in ``migrations/versions`` are the
source of truth for the live schema; ``tests/test_store_schema.py`` checks the
two agree on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names: Alembic needs them to drop or alter
# constraints later, and SQLite batch migrations need them to rebuild tables.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-assigns ids to a column declared exactly INTEGER PRIMARY
# KEY; BIGINT would need explicit ids.  SQLite integers are 64-bit anyway.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# JSONB on PostgreSQL so records can be queried and indexed; plain JSON text
# elsewhere.
JSONDoc = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no timezone type and SQLAlchemy drops ``tzinfo`` when storing,
    so values are normalised to UTC going in and tagged UTC coming out.
    PostgreSQL returns ``timestamptz`` in the session zone; that is converted
    to UTC too so callers never see a mix of zones.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store only accepts aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONDoc,
    }


class Bank(Base):
    __tablename__ = "banks"
    __table_args__ = (
        # Guarded in the database too: a typo that turned a match bank into
        # an allow bank would silently suppress matches.
        CheckConstraint("kind IN ('match', 'allow')", name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean)
    pdq_threshold: Mapped[int] = mapped_column(Integer)
    pdq_quality_min: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    # Bumped by every change to the bank or its entries, so matchers can tell
    # when an in-memory index is stale.
    updated_at: Mapped[datetime]


class BankEntry(Base):
    __tablename__ = "bank_entries"
    __table_args__ = (
        # Also serves lookups by bank (leading column), so no separate bank_id index.
        UniqueConstraint("bank_id", "signal_type", "value"),
        Index("ix_bank_entries_signal_type_value", "signal_type", "value"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"))
    # Free-form string rather than an enum: new signal types (vpdq, ...) must
    # not need a schema change.
    signal_type: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean)
    added_at: Mapped[datetime]


class ScanRun(Base):
    __tablename__ = "scan_runs"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    args: Mapped[dict[str, Any]]
    out_dir: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    counts: Mapped[dict[str, Any] | None]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class ScanItem(Base):
    __tablename__ = "scan_items"
    __table_args__ = (
        # Uniqueness is on a digest of the key, not the key itself: keys are
        # paths (possibly nested archive members) and PostgreSQL refuses
        # btree entries over ~2.7 kB.
        UniqueConstraint("run_id", "key_hash"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("scan_runs.id", ondelete="CASCADE"))
    key_hash: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int | None] = mapped_column(BigInteger)
    media_type: Mapped[str | None] = mapped_column(Text)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    md5: Mapped[str | None] = mapped_column(String(32), index=True)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    pdq: Mapped[str | None] = mapped_column(String(64), index=True)
    pdq_quality: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    provenance: Mapped[dict[str, Any] | None]
    # The whole record as given, so run_items() returns exactly what was
    # recorded; the columns above exist for querying.
    record: Mapped[dict[str, Any]]
    recorded_at: Mapped[datetime]


class ItemMatch(Base):
    __tablename__ = "item_matches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("scan_items.id", ondelete="CASCADE"), index=True)
    # Bank name and kind are copied, not referenced: a match is a historical
    # fact that must survive the bank (or entry) being deleted or renamed.
    bank: Mapped[str] = mapped_column(String(64))
    bank_kind: Mapped[str] = mapped_column(String(16))
    signal_type: Mapped[str] = mapped_column(String(32))
    entry_id: Mapped[int | None] = mapped_column(BigInteger)
    value: Mapped[str | None] = mapped_column(Text)
    distance: Mapped[int | None] = mapped_column(Integer)
    variant: Mapped[str | None] = mapped_column(Text)
    suppressed: Mapped[bool] = mapped_column(Boolean)


class VideoFrame(Base):
    """One sampled frame of a banked video (a ``vpdq`` bank entry).

    The entry row carries the video's identity; its frames live here so each
    frame PDQ can go into the bank's frame index under its own id, and a hit
    can be turned back into a video and a timestamp.
    """

    __tablename__ = "video_frames"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(BigId, ForeignKey("bank_entries.id", ondelete="CASCADE"), index=True)
    # Denormalised from the entry so a bank's frames load without a join.
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    pdq: Mapped[str] = mapped_column(String(64))
    quality: Mapped[int] = mapped_column(Integer)
    timestamp: Mapped[float] = mapped_column(Float)
    # The same hash already occurs earlier in this video: vPDQ match
    # percentages count distinct frame hashes, as python-threatexchange does.
    duplicate: Mapped[bool] = mapped_column(Boolean)


class VideoBankSettings(Base):
    """Per-bank video match thresholds; a bank without a row uses the defaults."""

    __tablename__ = "video_bank_settings"

    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), primary_key=True)
    query_match_pct: Mapped[float] = mapped_column(Float)
    bank_match_pct: Mapped[float] = mapped_column(Float)


class BankChange(Base):
    """One change to a bank, numbered in the order changes commit
    (docs/consistency.md): serving processes apply every change after the
    last one they applied. Not a foreign key: a deleted bank's changes stay."""

    __tablename__ = "bank_changes"
    __table_args__ = {"sqlite_autoincrement": True}  # never reuse a seq after pruning

    seq: Mapped[int] = mapped_column(BigId, primary_key=True)
    bank_id: Mapped[int] = mapped_column(Integer)
    bank: Mapped[str] = mapped_column(String(64))
    # create, update, delete, add, remove, enable, disable, features, frames,
    # video_settings, reindex
    op: Mapped[str] = mapped_column(String(16))
    signal_type: Mapped[str | None] = mapped_column(String(32))
    entry_ids: Mapped[Any | None] = mapped_column(JSONDoc)
    detail: Mapped[dict[str, Any] | None]
    at: Mapped[datetime]


class BankEntryFeatures(Base):
    """What an entry banked from an image carries beyond its PDQ: its region
    hashes (tripline.normalise) and keypoint record (tripline.banks.keypoints)."""

    __tablename__ = "bank_entry_features"

    entry_id: Mapped[int] = mapped_column(BigId, ForeignKey("bank_entries.id", ondelete="CASCADE"), primary_key=True)
    regions: Mapped[bytes | None] = mapped_column(LargeBinary)
    keypoints: Mapped[bytes | None] = mapped_column(LargeBinary)


# The service's tables live in their own module but share this metadata, so
# Alembic and the schema test see one schema.  Imported last: it needs Base.
# Keep the registration order of the tables in the shared metadata.
# isort: off
from . import review_models  # noqa: E402,F401
from . import report_models  # noqa: E402,F401  (reporting and evidence vault tables)
from . import secret_models  # noqa: E402,F401  (named secrets and classifier usage)
from . import distribution_models  # noqa: E402,F401  (tripline.distribution's tables)
# isort: on
