"""Persistent storage for Tripline: hash banks and scan results.

SQLite (the embedded default) or PostgreSQL (production), chosen by URL::

    store = Store("sqlite:///var/tripline.db")
    store = Store("postgresql://tripline@db/tripline")
"""

from .store import (
    AddResult,
    BankNotFound,
    BankRow,
    ChangeRow,
    EntryRow,
    RunNotFound,
    Store,
    VideoFrameRow,
    clean_text,
    log_bank_change,
)

__all__ = [
    "AddResult",
    "BankNotFound",
    "BankRow",
    "ChangeRow",
    "EntryRow",
    "RunNotFound",
    "Store",
    "VideoFrameRow",
    "clean_text",
    "log_bank_change",
]
