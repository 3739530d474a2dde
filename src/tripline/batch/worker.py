"""What one worker does with one shard: read its units, hash them (the scan's
``process_item``), match and decide (the scan's ``finish_records``), and write
the shard's Parquet files. The same class runs in-process, in the local
engine's worker processes and as a Ray Data actor."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from tripline.batch.sink import Sink
from tripline.batch.snapshot import BankSnapshot
from tripline.batch.sources import UnitReader
from tripline.classifiers.runtime import open_stage, with_classifier_input
from tripline.policy import Policy
from tripline.scan.pipeline import ScanOptions, process_item
from tripline.scan.runner import finish_records

# Keys of a stored record that matching and policy produce; a rematch drops
# them and computes them afresh from the stored hashes.
DERIVED = ("matches", "flagged", "decision", "scanned_at")


def shard_summary(shard_id: str, records: list[dict], by_action: dict[str, int], seconds: float) -> dict:
    errors: dict[str, int] = {}
    for r in records:
        if r.get("error"):
            code = r["error"].get("code", "unknown")
            errors[code] = errors.get(code, 0) + 1
    flagged = [r for r in records if r.get("flagged")]
    by_bank: dict[str, int] = {}
    for r in flagged:
        for b in {
            m["bank"] for m in r.get("matches") or [] if m.get("bank_kind") == "match" and not m.get("suppressed")
        }:
            by_bank[b] = by_bank.get(b, 0) + 1
    return {
        "shard": shard_id,
        "items": len(records),
        "by_decision": by_action,
        "errors_by_code": errors,
        "flagged": len(flagged),
        "flagged_by_bank": by_bank,
        "seconds": round(seconds, 4),
    }


class ShardProcessor:
    """Holds the opened banks (built once per worker) and processes shards."""

    def __init__(
        self,
        snapshot: BankSnapshot,
        policy: Policy,
        options: ScanOptions,
        sink_url: str,
        on_item: Callable[[dict], None] | None = None,
    ):
        self.opened = snapshot.open()
        if options.keypoints and not self.opened.matcher.uses_keypoints:
            options = replace(options, keypoints=False)  # ~8 ms an item, and no bank to compare with
        # Classifiers (docs/classifiers.md): None unless the policy configures some.
        self.classifiers = open_stage(policy)
        self.policy, self.options = policy, with_classifier_input(options, self.classifiers)
        self.sink = Sink(sink_url)
        self.reader = UnitReader(max_bytes=options.limits.max_bytes)
        self.on_item = on_item  # test hook: called with each finished record before it is written

    def close(self) -> None:
        self.opened.close()
        if self.classifiers is not None:
            self.classifiers.close()

    def records(self, shard: dict) -> list[dict]:
        if shard["kind"] == "scan":
            records = [
                process_item(item, self.options)[0]
                for unit in shard["units"]
                for item in self.reader.items(unit, shard.get("cwd"))
            ]
        elif shard["kind"] == "rematch":
            records = list(_stored_records(shard))
            for r in records:
                for k in DERIVED:
                    r.pop(k, None)
        else:
            raise ValueError(f"unknown shard kind {shard['kind']!r}")
        # One record per key: a key listed twice (or a member repeated in an archive) is kept once, last wins.
        records = list({r["key"]: r for r in records}.values())
        finish_records(
            records, self.opened.matcher, self.opened.video_matcher, self.policy, classifiers=self.classifiers
        )
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for r in records:
            r["scanned_at"] = now
            if self.on_item is not None:
                self.on_item(r)
        return records

    def __call__(self, shard: dict) -> dict:
        t0 = time.monotonic()
        records = self.records(shard)
        by_action = self.sink.write_shard(shard["id"], records)
        summary = shard_summary(shard["id"], records, by_action, time.monotonic() - t0)
        # Flagged records go back to the driver for the database (small: flagged items only).
        summary["flagged_records"] = [r for r in records if r.get("flagged")]
        return summary


def _stored_records(shard: dict):
    """Records a rematch shard refers to: inline JSON lines, or one Parquet file of an earlier sink."""
    if "records" in shard:
        for line in shard["records"]:
            yield json.loads(line)
    else:
        import fsspec

        from tripline.batch.sink import records_of_file

        fs, path = fsspec.core.url_to_fs(shard["file"])
        yield from records_of_file(fs, path)
