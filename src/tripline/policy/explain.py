"""Human-readable and JSON explanations of a decision: every rule the
policy evaluated, which fired and the facts that made them fire. The output
is deterministic so golden files can pin it."""

from __future__ import annotations

from tripline.policy.evaluate import Decision, decision_label


def _signal_summary(signals: dict) -> list[str]:
    lines = []
    prov = (signals.get("provenance") or ({},))[0]
    item = (signals.get("item") or ({},))[0]
    lines.append(
        f"item: media_type={item.get('media_type') or '-'} error={item.get('error') or '-'} "
        f"flagged={item.get('flagged')}"
    )
    lines.append(
        f"provenance: synthetic={prov.get('synthetic')} available={prov.get('available')} "
        f"generator={prov.get('generator') or '-'}"
    )
    for name in ("match", "evidence", "model", "watermark", "text", "link", "link_list"):
        facts = signals.get(name) or ()
        lines.append(f"{name}: {len(facts)}")
    return lines


def explain_dict(decision: Decision, key: str | None = None) -> dict:
    return {
        "item": key,
        "decision": decision.to_dict(),
        "rules": [
            {
                "rule": r.rule.name,
                "when": r.rule.when,
                "action": r.rule.action,
                "priority": r.rule.priority,
                "fired": r.fired,
                "because": list(r.because),
            }
            for r in decision.results
        ],
    }


def explain_text(decision: Decision, key: str | None = None) -> str:
    p = decision.policy
    out = []
    if key is not None:
        out.append(f"item: {key}")
    out.append(f"policy: {p['name']} {p['version']} (sha256 {p['sha256'][:16]})")
    out.append(f"decision: {decision_label(decision.to_dict())}")
    if decision.report_queue:
        out.append("  report queue: yes (a human confirms before any report is filed)")
    out.append("")
    out.append("signals:")
    out.extend(f"  {line}" for line in _signal_summary(decision.signals))
    out.append("")
    n_fired = sum(r.fired for r in decision.results)
    out.append(f"rules: {len(decision.results)} evaluated, {n_fired} fired")
    fired_by_name = {f.rule: f for f in decision.fired}
    for r in decision.results:
        rule = r.rule
        outcome = rule.action + (f" {rule.priority}" if rule.priority else "")
        if rule.action == "escalate":
            outcome += f" by {rule.by}"
        if rule.report:
            outcome += " +report"
        mark = "FIRED" if r.fired else "  -  "
        out.append(f"  [{mark}] {rule.name}: {outcome}")
        if r.fired:
            out.append(f"      reason: {rule.reason}")
            out.append(f"      when: {rule.when}")
            for line in fired_by_name[rule.name].because:
                out.append(f"      because: {line}")
    return "\n".join(out) + "\n"
