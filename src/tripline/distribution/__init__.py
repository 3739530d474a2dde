"""Distribution signals: find accounts that promote flagged media and send
buyers to paywalls or invite groups elsewhere, and package what the
destination side needs to act.

    repo = DistributionRepository("dist.sqlite")
    ingest_jsonl(repo, "platform.jsonl")              # accounts and posts
    load_scan_results(repo, "scan-out/results.jsonl")  # their media's scan records
    analysis = analyze(repo, lists, registry)
    packets = signal_packets(analysis, source_platform="ExampleArt")
"""

from tripline.distribution.cluster import Cluster
from tripline.distribution.detect import Analysis, DetectOptions, Lead, analyze
from tripline.distribution.export import (
    associated_account_xml,
    associated_accounts,
    lead_signals,
    signal_packets,
)
from tripline.distribution.ingest import IngestResult, ingest_jsonl, ingest_records
from tripline.distribution.keywords import load_keywords
from tripline.distribution.media import load_scan_results, media_hit, scan_post_media
from tripline.distribution.model import Account, Post, RecordError
from tripline.distribution.repository import DistributionRepository, default_path, import_legacy, is_legacy_file

__all__ = [
    "Account",
    "Analysis",
    "Cluster",
    "DetectOptions",
    "DistributionRepository",
    "IngestResult",
    "Lead",
    "Post",
    "RecordError",
    "analyze",
    "associated_account_xml",
    "associated_accounts",
    "default_path",
    "import_legacy",
    "ingest_jsonl",
    "ingest_records",
    "is_legacy_file",
    "lead_signals",
    "load_keywords",
    "load_scan_results",
    "media_hit",
    "scan_post_media",
    "signal_packets",
]
