"""Apply a policy to one item: every rule is evaluated, and the decision is
the strongest action that fired, at the highest priority, raised by any
escalate rule. Same record, context and policy give the same decision."""

from __future__ import annotations

from dataclasses import dataclass, field

from tripline.policy.loader import Policy, Rule
from tripline.policy.schema import ACTION_RANK, PRIORITIES
from tripline.policy.signals import Signals, from_record


@dataclass(frozen=True)
class Fired:
    rule: str
    action: str
    priority: str | None
    reason: str
    because: tuple[str, ...]

    def to_dict(self) -> dict:
        return {
            "rule": self.rule,
            "action": self.action,
            "priority": self.priority,
            "reason": self.reason,
            "because": list(self.because),
        }


@dataclass(frozen=True)
class RuleResult:
    rule: Rule
    fired: bool
    because: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    action: str  # block | review | allow
    report_queue: bool  # a human confirms before any report is filed
    priority: str | None
    fired: tuple[Fired, ...]
    policy: dict
    results: tuple[RuleResult, ...] = field(default=(), repr=False, compare=False)
    signals: Signals = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict:
        return {
            "action": self.action,
            "report_queue": self.report_queue,
            "priority": self.priority,
            "fired": [f.to_dict() for f in self.fired],
            "policy": dict(self.policy),
        }


def evaluate_signals(policy: Policy, signals: Signals) -> Decision:
    results = []
    for rule in policy.rules:
        ok, because = rule.node.evaluate(signals)
        results.append(RuleResult(rule, ok, tuple(because)))
    fired_rules = [r for r in results if r.fired]

    action, priority, report = "allow", None, False
    for r in fired_rules:
        rule = r.rule
        if rule.action == "escalate":
            continue
        if ACTION_RANK[rule.action] > ACTION_RANK[action]:
            action = rule.action
        if rule.priority is not None and (
            priority is None or PRIORITIES.index(rule.priority) < PRIORITIES.index(priority)
        ):
            priority = rule.priority
        report = report or rule.report

    fired = []
    for r in fired_rules:
        rule, because = r.rule, r.because
        if rule.action == "escalate":
            # Escalations raise what the other rules decided; they never turn
            # an allow into a review on their own (a separate rule does that).
            if priority is None:
                because = because + ("no effect: no block or review rule fired",)
            else:
                raised = PRIORITIES[max(0, PRIORITIES.index(priority) - rule.by)]
                because = because + (f"priority raised by {rule.by}: {priority} -> {raised}",)
        fired.append(Fired(rule.name, rule.action, rule.priority, rule.reason, because))

    # All escalations apply to the base priority, not to each other, so
    # their order in the file cannot change the outcome.
    raise_by = max((r.rule.by for r in fired_rules if r.rule.action == "escalate"), default=0)
    if priority is not None and raise_by:
        priority = PRIORITIES[max(0, PRIORITIES.index(priority) - raise_by)]
    return Decision(action, report, priority, tuple(fired), policy.meta, tuple(results), signals)


def decide(policy: Policy, record: dict, context: dict | None = None) -> Decision:
    """The policy's decision for one scan record (and its post/account context)."""
    return evaluate_signals(policy, from_record(record, context, policy.text_rules))


def decision_label(decision: dict | None) -> str:
    """Group name for summaries and reports: "block P0 +report", "review P2", "allow"."""
    if not decision:
        return "undecided"
    parts = [decision.get("action") or "allow"]
    if decision.get("priority"):
        parts.append(decision["priority"])
    if decision.get("report_queue"):
        parts.append("+report")
    return " ".join(parts)


def decision_sort_key(decision: dict | None) -> tuple:
    """Most urgent first: block before review before allow, then P0..P3,
    then report-queued items."""
    if not decision:
        return (9, 9, 1)
    action = decision.get("action") or "allow"
    prio = decision.get("priority")
    return (
        -ACTION_RANK.get(action, 0),
        PRIORITIES.index(prio) if prio in PRIORITIES else len(PRIORITIES),
        0 if decision.get("report_queue") else 1,
    )
