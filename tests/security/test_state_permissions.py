"""15.10: the SQLite database and the folders created for it are private."""

from __future__ import annotations

import os
import stat

from tripline.store import Store


def test_sqlite_state_is_private(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "home" / "state" / "tripline.db"
        store = Store(f"sqlite:///{path}")
        store.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for d in (path.parent, path.parent.parent):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    for side in path.parent.glob("tripline.db-*"):
        assert stat.S_IMODE(side.stat().st_mode) & 0o077 == 0, side
