"""Scan summary (JSON) and HTML report. The report shows matched items only as
heavily blurred grayscale thumbnails made by the worker; it never embeds or
links the original file."""

from __future__ import annotations

import base64
import html
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tripline.durable import atomic_write
from tripline.hashing import VARIANT_DESCRIPTIONS
from tripline.policy import decision_counts, group_by_decision
from tripline.scan.results import iter_records


def summarise(records: list[dict]) -> dict:
    errors = Counter(r["error"]["code"] for r in records if r.get("error"))
    by_bank: Counter[str] = Counter()
    suppressed = 0
    for r in records:
        for bank in {
            m["bank"] for m in r.get("matches") or [] if not m.get("suppressed") and m["bank_kind"] == "match"
        }:
            by_bank[bank] += 1
        if any(m.get("suppressed") for m in r.get("matches") or []):
            suppressed += 1
    synthetic = Counter((r.get("provenance") or {}).get("synthetic") for r in records if r.get("provenance"))
    return {
        "items": len(records),
        "flagged": sum(1 for r in records if r.get("flagged")),
        "allow_listed": suppressed,
        "errors": sum(errors.values()),
        "errors_by_code": dict(sorted(errors.items())),
        "flagged_by_bank": dict(sorted(by_bank.items())),
        "media_types": dict(sorted(Counter(r.get("media_type") or "unknown" for r in records).items())),
        "synthetic": {k: v for k, v in sorted(synthetic.items()) if k},
    }


def write_reports(out_dir: Path, run_id: str, progress, thumb_name: Callable[[str], str], policy: dict) -> dict:
    records = list(iter_records(out_dir / "results.jsonl"))
    counts = summarise(records)
    elapsed = time.monotonic() - progress.started
    scanned_now = progress.done - progress.skipped
    summary = {
        "run_id": run_id,
        "policy": policy,
        "counts": counts,
        "decisions": decision_counts(records),
        "this_invocation": {
            "scanned": scanned_now,
            "skipped_already_done": progress.skipped,
            "seconds": round(elapsed, 2),
            "items_per_second": round(scanned_now / elapsed, 1) if elapsed > 0 else None,
        },
    }
    atomic_write(out_dir / "summary.json", json.dumps(summary, indent=2).encode())
    atomic_write(out_dir / "report.html", _html(records, summary, out_dir / "thumbs", thumb_name).encode())
    return summary


def _thumb_uri(path: Path) -> str:
    if not path.exists():
        return ""
    return "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode()


def _evidence(rec: dict) -> str:
    prov = rec.get("provenance") or {}
    items = [f"{e.get('strength')}: {e.get('kind')} — {e.get('detail')}" for e in prov.get("evidence") or []]
    return "<br>".join(html.escape(str(x)) for x in items) or "none"


def _matches_html(r: dict) -> str:
    return (
        "<br>".join(
            html.escape(
                f"{m['bank']} ({m['bank_kind']}) {m['signal_type']} distance {m['distance']}"
                + _how(m)
                + (" — suppressed by an allow-list" if m.get("suppressed") else "")
            )
            for m in r.get("matches") or []
        )
        or "none"
    )


def _how(m: dict) -> str:
    """How the upload had to be turned, trimmed or cut to line up with the bank."""
    how = m.get("explanation") or VARIANT_DESCRIPTIONS.get(m.get("variant"), m.get("variant"))
    return "" if how in (None, "", "as is") else f", matched {how}"


def _rules_html(r: dict) -> str:
    fired = (r.get("decision") or {}).get("fired") or []
    return (
        "<br>".join(
            f"<b>{html.escape(f['rule'])}</b>: {html.escape(f['reason'])}"
            + "".join(f"<br>&nbsp;&nbsp;· {html.escape(b)}" for b in f.get("because") or [])
            for f in fired
        )
        or "no rule fired"
    )


def _html(records: list[dict], summary: dict, thumbs: Path, thumb_name) -> str:
    e = html.escape
    c = summary["counts"]
    sections = []
    # Everything a person should look at, grouped by decision and priority,
    # most urgent first; allowed items with no match are only counted.
    shown = [r for r in records if r.get("matches") or (r.get("decision") or {}).get("action") not in (None, "allow")]
    for label, group in group_by_decision(shown):
        rows = []
        for r in sorted(group, key=lambda r: r["key"]):
            uri = _thumb_uri(thumbs / thumb_name(r["key"]))
            img = f'<img alt="blurred thumbnail" src="{uri}">' if uri else "<span>no thumbnail</span>"
            rows.append(
                f"<tr><td>{img}</td><td>{e(r['key'])}<br><small>{e(r.get('sha256') or '')}</small></td>"
                f"<td>{_rules_html(r)}</td><td>{_matches_html(r)}</td><td>{_evidence(r)}</td></tr>"
            )
        sections.append(
            f"<h3>{e(label)} — {len(group)} item{'s' if len(group) != 1 else ''}</h3>"
            "<table><tr><th>thumbnail</th><th>item</th><th>why (policy rules)</th><th>matches</th>"
            f"<th>provenance evidence</th></tr>{''.join(rows)}</table>"
        )
    errors = "".join(f"<li>{e(k)}: {v}</li>" for k, v in c["errors_by_code"].items()) or "<li>none</li>"
    banks = "".join(f"<li>{e(k)}: {v}</li>" for k, v in c["flagged_by_bank"].items()) or "<li>none</li>"
    decisions = "".join(f"<li>{e(k)}: {v}</li>" for k, v in summary["decisions"].get("by_decision", {}).items())
    pol = summary.get("policy") or {}
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>Tripline scan report</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse;margin-bottom:1.5em}} td,th{{border:1px solid #ccc;padding:6px;vertical-align:top;text-align:left}}
img{{width:96px;filter:grayscale(1) blur(4px)}}
.note{{background:#fff6d5;padding:8px;border:1px solid #e0c870}}
</style></head><body>
<h1>Tripline scan report</h1>
<p class="note">Thumbnails are reduced, grayscale and heavily blurred by design. Original files are never
embedded or linked here: review them only in the review console, with its protections. A report
to a hotline is never filed from this page: a person confirms each item first.</p>
<p>Run <code>{e(summary["run_id"])}</code>, policy <code>{e(str(pol.get("name")))} {e(str(pol.get("version")))}</code>:
{c["items"]} items, <b>{c["flagged"]} matched a bank</b>, {c["allow_listed"]} allow-listed, {c["errors"]} errors.</p>
<h2>Decisions</h2><ul>{decisions or "<li>none</li>"}</ul>
<h2>Matched by bank</h2><ul>{banks}</ul>
<h2>Errors by code</h2><ul>{errors}</ul>
<h2>Items to review, most urgent first</h2>
{"".join(sections) or "<p>nothing to review</p>"}
</body></html>
"""
