"""Grouping decided records for summaries and reports, most urgent first."""

from __future__ import annotations

from collections.abc import Iterable

from tripline.policy.evaluate import decision_label, decision_sort_key


def group_by_decision(records: Iterable[dict]) -> list[tuple[str, list[dict]]]:
    """``[(label, records)]`` with labels like "block P0 +report", ordered
    block > review > allow, then P0..P3; records keep their input order."""
    groups: dict[str, tuple[tuple, list[dict]]] = {}
    for rec in records:
        d = rec.get("decision")
        label = decision_label(d)
        if label not in groups:
            groups[label] = (decision_sort_key(d), [])
        groups[label][1].append(rec)
    return [(label, recs) for label, (_, recs) in sorted(groups.items(), key=lambda kv: (kv[1][0], kv[0]))]


def decision_counts(records: Iterable[dict]) -> dict:
    """For summary.json: item counts by decision label (ordered as above),
    by action, by priority, and by fired rule; plus how many are queued for a
    report (a human confirms each before anything is filed)."""
    groups = group_by_decision(records)
    by_action: dict[str, int] = {}
    by_priority: dict[str, int] = {}
    by_rule: dict[str, int] = {}
    report_queue = 0
    for _, recs in groups:
        for rec in recs:
            d = rec.get("decision") or {}
            action = d.get("action") or "undecided"
            by_action[action] = by_action.get(action, 0) + 1
            if d.get("priority"):
                by_priority[d["priority"]] = by_priority.get(d["priority"], 0) + 1
            report_queue += bool(d.get("report_queue"))
            for f in d.get("fired") or []:
                by_rule[f["rule"]] = by_rule.get(f["rule"], 0) + 1
    return {
        "by_decision": {label: len(recs) for label, recs in groups},
        "by_action": dict(sorted(by_action.items())),
        "by_priority": dict(sorted(by_priority.items())),
        "by_rule": dict(sorted(by_rule.items())),
        "report_queue": report_queue,
    }
