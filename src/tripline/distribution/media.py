"""Posts' media and their scan records.

Design: the distribution layer never hashes or matches images itself. Media
go through the normal scan (hashes, bank matches, provenance, and the policy's
``decision`` once that lands), whose ``results.jsonl`` records are loaded into
the repository and found again by path or by content hash. Either run
:func:`scan_post_media` (which calls ``tripline.scan.run_scan`` on the posts'
media paths), or load an existing scan's results with :func:`load_scan_results`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from tripline.distribution.repository import DistributionRepository

HIT_ACTIONS = ("block", "review")
SYNTHETIC_EVIDENCE = ("verified", "declared", "likely")


def media_hit(record: dict | None) -> dict | None:
    """Why this scan record counts as "media drew policy hits", or None.

    The policy's decision is authoritative when present; before the policy
    runs, a non-suppressed match against a match bank is the fallback."""
    if not record:
        return None
    hits = [m for m in record.get("matches") or [] if m.get("bank_kind") == "match" and not m.get("suppressed")]
    banks = sorted({str(m.get("bank")) for m in hits})
    decision = record.get("decision")
    if isinstance(decision, dict):
        if decision.get("action") not in HIT_ACTIONS:
            return None
        fired = [f for f in decision.get("fired") or [] if isinstance(f, dict)]
        reasons = [f.get("reason") or f.get("rule") for f in fired]
        return {
            "kind": "policy",
            "action": decision["action"],
            "priority": decision.get("priority"),
            "reason": "; ".join(r for r in reasons if r) or f"policy {decision['action']}",
            "rules": [f.get("rule") for f in fired],
            "banks": banks,
        }
    if hits:
        m = hits[0]
        return {
            "kind": "hash_match",
            "action": None,
            "priority": None,
            "reason": f"{m.get('signal_type')} match in bank {m.get('bank')} (distance {m.get('distance')})",
            "rules": [],
            "banks": banks,
        }
    return None


def policy_context(post, account=None, links: list[dict] | None = None) -> dict:
    """The policy engine's context for one post's media: the caption, the
    author's bio, the hashtags and (optionally) the link findings."""
    ctx = {"caption": post.text, "hashtags": list(post.hashtags)}
    if account is not None and account.bio:
        ctx["bio"] = account.bio
    if links is not None:
        ctx["links"] = links
    return ctx


def decide_with_policy(policy, record: dict, context: dict) -> dict:
    """``record`` with the policy's decision for it in this post's context.
    Imported lazily so that distribution works without the policy module."""
    from tripline.policy import decide

    return {**record, "decision": decide(policy, record, context).to_dict()}


def synthetic_strength(record: dict | None) -> str | None:
    s = ((record or {}).get("provenance") or {}).get("synthetic")
    return s if s in SYNTHETIC_EVIDENCE else None


def _file_sha256(path: str) -> str | None:
    try:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    except OSError:
        return None


def resolve(repo: DistributionRepository, ref: dict) -> dict | None:
    """The scan record of one media reference. A path that the scan saw under
    another name is still found through its content hash."""
    record = repo.media_record(ref)
    if record is None and ref["kind"] == "path" and os.path.isfile(ref["value"]):
        digest = _file_sha256(ref["value"])
        if digest:
            record = repo.media_record({"kind": "sha256", "value": digest})
    return record


def load_scan_results(repo: DistributionRepository, results_jsonl: str | Path) -> int:
    """Load a scan's ``results.jsonl`` (later lines win, as on resume)."""
    records = []
    with open(results_jsonl, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a torn last line after a crash
    return repo.put_media_records(records)


def unresolved_media_paths(repo: DistributionRepository) -> list[str]:
    out: dict[str, None] = {}
    for post, _ in repo.posts():
        for ref in post.media:
            if ref["kind"] == "path" and repo.media_record(ref) is None:
                out[ref["value"]] = None
    return list(out)


def scan_post_media(
    repo: DistributionRepository,
    *,
    out_dir: str | Path,
    store,
    banks,
    bank_names=None,
    options=None,
    workers: int | None = 0,
    **scan_kwargs,
) -> int:
    """Scan every post media path that has no record yet, through the normal
    scan pipeline (hashes, bank matches, provenance, the scan's policy), and
    load the results. Extra keyword arguments (e.g. ``policy=``) go to
    ``run_scan``. Returns the number of records loaded."""
    from tripline.scan import ScanOptions, run_scan

    paths = [p for p in unresolved_media_paths(repo) if os.path.exists(p)]
    if not paths:
        return 0
    run_scan(
        paths,
        out_dir=Path(out_dir),
        store=store,
        banks=banks,
        bank_names=bank_names,
        options=options or ScanOptions(),
        workers=workers,
        **scan_kwargs,
    )
    return load_scan_results(repo, Path(out_dir) / "results.jsonl")
