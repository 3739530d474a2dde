"""The scan's durable result log: one JSON line per item, appended and fsynced
per batch. A kill mid-write can only leave a partial last line, which the next
open cuts off; the item it described is then simply scanned again."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path


class ResultLog:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._fh = None

    def load(self) -> dict[str, dict]:
        """Records by key (the last line for a key wins), after repairing a torn tail."""
        records: dict[str, dict] = {}
        if not self.path.exists():
            return records
        good_end = 0
        with open(self.path, "rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    break
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    break
                records[rec["key"]] = rec
                good_end += len(line)
        if good_end != self.path.stat().st_size:
            with open(self.path, "r+b") as f:
                f.truncate(good_end)
                f.flush()
                os.fsync(f.fileno())
        return records

    def append(self, records: list[dict]) -> None:
        if not records:
            return
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "ab")
        payload = b"".join(json.dumps(r, separators=(",", ":"), sort_keys=True).encode() + b"\n" for r in records)
        start = self._fh.tell()
        try:
            self._fh.write(payload)
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError:
            # Disk full or gone read-only mid-batch: cut back to the last
            # whole batch so the log never holds a half line, then let the
            # scan stop (a rerun resumes from here).
            self._discard(start)
            raise

    def _discard(self, start: int) -> None:
        fh, self._fh = self._fh, None
        try:
            fh.close()
        except OSError:
            pass  # the unflushed buffer could not be written either
        try:
            with open(self.path, "r+b") as f:
                f.truncate(start)
        except OSError:
            pass  # load() repairs a torn tail on the next run

    def reset(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def iter_records(path: Path) -> Iterator[dict]:
    """Records of a finished log in file order (last line per key wins)."""
    yield from ResultLog(path).load().values()
