"""Backfill output: Parquet files partitioned by decision, and the checkpoint.

Layout under the sink (a local folder or any fsspec URL)::

    decision=block/part-000012-1a2b3c4d.parquet
    decision=review/part-000012-1a2b3c4d.parquet
    decision=allow/part-000012-1a2b3c4d.parquet
    _checkpoint.json      finished shards with their counts (the resume point)
    _summary.json         the final summary

Each shard writes one file per decision it produced, named after the shard,
so redoing a shard overwrites its files instead of adding to them. A file is
written under a temporary name and renamed into place (local folders: fsync +
os.replace; object stores: a single PUT is atomic), so a killed shard leaves no
partial file that a reader would count.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tripline.durable import atomic_write

SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("stamp", pa.string()),
        ("size", pa.int64()),
        ("media_type", pa.string()),
        ("width", pa.int64()),
        ("height", pa.int64()),
        ("md5", pa.string()),
        ("sha256", pa.string()),
        ("pdq", pa.string()),
        ("pdq_quality", pa.int64()),
        ("flagged", pa.bool_()),
        ("action", pa.string()),
        ("priority", pa.string()),
        ("banks", pa.list_(pa.string())),
        ("error_code", pa.string()),
        ("shard", pa.string()),
        ("record", pa.string()),  # the full record as JSON, exactly as tripline scan's results.jsonl line
    ]
)

ACTIONS = ("block", "review", "allow")
CHECKPOINT = "_checkpoint.json"
SUMMARY = "_summary.json"


def action_of(rec: dict) -> str:
    return (rec.get("decision") or {}).get("action") or "allow"


def to_row(rec: dict, shard: str) -> dict:
    d = rec.get("decision") or {}
    return {
        "key": rec["key"],
        "stamp": rec.get("stamp"),
        "size": rec.get("size"),
        "media_type": rec.get("media_type"),
        "width": rec.get("width"),
        "height": rec.get("height"),
        "md5": rec.get("md5"),
        "sha256": rec.get("sha256"),
        "pdq": rec.get("pdq"),
        "pdq_quality": rec.get("pdq_quality"),
        "flagged": bool(rec.get("flagged")),
        "action": action_of(rec),
        "priority": d.get("priority"),
        "banks": sorted({m["bank"] for m in rec.get("matches") or [] if not m.get("suppressed")}),
        "error_code": (rec.get("error") or {}).get("code"),
        "shard": shard,
        "record": json.dumps(rec, separators=(",", ":"), sort_keys=True),
    }


class Sink:
    def __init__(self, url: str):
        import fsspec

        self.url = url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        self.local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def makedirs(self) -> None:
        self.fs.makedirs(self.root, exist_ok=True)

    # -- atomic writes ---------------------------------------------------
    def write_bytes(self, rel: str, data: bytes) -> None:
        final = self.path(rel)
        parent = final.rsplit("/", 1)[0]
        if self.local:
            atomic_write(Path(final), data)
        else:
            self.fs.makedirs(parent, exist_ok=True)
            self.fs.pipe_file(final, data)  # one PUT: the object appears whole or not at all

    def read_json(self, rel: str) -> dict | None:
        p = self.path(rel)
        if not self.fs.exists(p):
            return None
        with self.fs.open(p, "rb") as f:
            return json.loads(f.read())

    def write_json(self, rel: str, obj: dict) -> None:
        self.write_bytes(rel, json.dumps(obj, indent=1, sort_keys=True).encode())

    # -- shard output ----------------------------------------------------
    def shard_files(self, shard: str) -> list[str]:
        return [p for p in self._data_files() if p.rsplit("/", 1)[1] == f"part-{shard}.parquet"]

    def write_shard(self, shard: str, records: list[dict]) -> dict[str, int]:
        """Write one shard's records, one Parquet file per decision; returns counts by decision."""
        by_action: dict[str, list[dict]] = {}
        for rec in records:
            by_action.setdefault(action_of(rec), []).append(to_row(rec, shard))
        # Files an earlier attempt of this shard left for decisions it no longer has.
        for action in ACTIONS:
            stale = self.path(f"decision={action}/part-{shard}.parquet")
            if action not in by_action and self.fs.exists(stale):
                self.fs.rm(stale)
        for action, rows in sorted(by_action.items()):
            buf = io.BytesIO()
            pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), buf, compression="zstd")
            self.write_bytes(f"decision={action}/part-{shard}.parquet", buf.getvalue())
        return {a: len(r) for a, r in sorted(by_action.items())}

    def _data_files(self) -> list[str]:
        if not self.fs.exists(self.root):
            return []
        return sorted(
            p
            for p in self.fs.find(self.root)
            if p.endswith(".parquet") and "/decision=" in p and not p.rsplit("/", 1)[1].startswith(".")
        )

    def data_files(self) -> list[str]:
        return [self.fs.unstrip_protocol(p) if not self.local else p for p in self._data_files()]

    def clear(self) -> None:
        for p in self._data_files():
            self.fs.rm(p)
        for rel in (CHECKPOINT, SUMMARY):
            if self.fs.exists(self.path(rel)):
                self.fs.rm(self.path(rel))


def read_records(sink_url: str) -> Iterator[dict]:
    """Every record in a backfill sink (any decision), in file order."""
    sink = Sink(sink_url)
    for p in sink._data_files():
        yield from records_of_file(sink.fs, p)


def records_of_file(fs, path: str) -> Iterator[dict]:
    with fs.open(path, "rb") as f:
        table = pq.read_table(f, columns=["record"])
    for s in table.column("record").to_pylist():
        yield json.loads(s)
