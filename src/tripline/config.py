"""Where Tripline keeps its state, overridable per command or by environment.

TRIPLINE_HOME holds the embedded SQLite database and the PDQ index files;
TRIPLINE_DB points at another database (PostgreSQL in production). The index
files are always local: each instance rebuilds them from the database, which
is the source of truth.
"""
from __future__ import annotations

import os
from pathlib import Path


def home_dir(override: str | os.PathLike | None = None) -> Path:
    if override:
        return Path(override).expanduser()
    if os.environ.get("TRIPLINE_HOME"):
        return Path(os.environ["TRIPLINE_HOME"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "tripline"


def db_url(override: str | None = None, home: Path | None = None) -> str:
    if override:
        return override
    if os.environ.get("TRIPLINE_DB"):
        return os.environ["TRIPLINE_DB"]
    return f"sqlite:///{(home or home_dir()) / 'tripline.db'}"
