"""Policy: declarative rules that turn detector signals into a decision
(block, review at P0-P3, report queue, allow) with an explanation, and the
prompt gate for image-generation services. See docs/policy.md."""

from tripline.policy.errors import PolicyError
from tripline.policy.evaluate import (
    Decision,
    Fired,
    decide,
    decision_label,
    decision_sort_key,
    evaluate_signals,
)
from tripline.policy.gate import PromptCheck, check_prompt
from tripline.policy.grouping import decision_counts, group_by_decision
from tripline.policy.loader import (
    GateRule,
    Policy,
    Rule,
    default_policy,
    load_policy,
    load_policy_bytes,
)
from tripline.policy.signals import from_record as signals_from_record

__all__ = [
    "Decision",
    "Fired",
    "GateRule",
    "Policy",
    "PolicyError",
    "PromptCheck",
    "Rule",
    "check_prompt",
    "decide",
    "decision_counts",
    "decision_label",
    "decision_sort_key",
    "default_policy",
    "evaluate_signals",
    "group_by_decision",
    "load_policy",
    "load_policy_bytes",
    "signals_from_record",
]
