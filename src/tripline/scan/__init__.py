"""Scanning folders and archives against hash banks."""

from tripline.scan.pipeline import ScanOptions, process_item, safe_thumbnail
from tripline.scan.runner import Progress, RunResult, run_scan
from tripline.scan.walker import ArchiveLimits, Item, walk

__all__ = [
    "ArchiveLimits",
    "Item",
    "Progress",
    "RunResult",
    "ScanOptions",
    "process_item",
    "run_scan",
    "safe_thumbnail",
    "walk",
]
