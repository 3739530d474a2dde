"""What a report may say about classifiers: only *that* one flagged the file.

A legal report never carries a vendor's name, model, labels or scores
(they are the operator's commercial terms and a model's internals, and a
score is not a finding); the confirmed human review is the finding.
"""

from __future__ import annotations

FLAGGED_STATEMENT = (
    "An automated image classifier flagged this file for human review; "
    "the classification was made by the ESP's human reviewer."
)


def flagged_by_classifier(decision: dict | None) -> bool:
    """A review/block rule fired on a classifier score (its explanation
    cites a ``classifier(...)`` fact)."""
    for fired in (decision or {}).get("fired") or []:
        if fired.get("action") in ("review", "block") and any(
            "classifier(" in str(b) for b in fired.get("because") or []
        ):
            return True
    return False
