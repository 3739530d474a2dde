"""Batch backfills: the scan pipeline (hash, provenance, match, policy) as a
sharded, resumable job, run locally or on Ray Data. See docs/backfill.md."""

from tripline.batch.engine import (
    DEFAULT_SHARD_SIZE,
    BackfillError,
    BackfillProgress,
    BackfillResult,
    plan_rematch,
    plan_scan,
    ray_init,
    run_backfill,
)
from tripline.batch.sink import Sink, read_records
from tripline.batch.snapshot import BankSnapshot
from tripline.batch.sources import list_units, read_manifest

__all__ = [
    "DEFAULT_SHARD_SIZE",
    "BackfillError",
    "BackfillProgress",
    "BackfillResult",
    "BankSnapshot",
    "Sink",
    "list_units",
    "plan_rematch",
    "plan_scan",
    "ray_init",
    "read_manifest",
    "read_records",
    "run_backfill",
]
