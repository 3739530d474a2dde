"""Roles and the permissions each grants (least privilege: no role can do
everything; an admin manages people and settings but does not review media)."""

from __future__ import annotations

ROLES = ("admin", "policy-manager", "reviewer", "child-safety-reviewer", "auditor", "integration")

PERMISSIONS: dict[str, frozenset[str]] = {
    # Machine endpoints.
    "scan": frozenset({"integration"}),
    "lookup": frozenset({"integration"}),
    "hash": frozenset({"integration"}),
    # Banks.
    "bank.read": frozenset({"admin", "policy-manager", "integration"}),
    "bank.write": frozenset({"policy-manager"}),
    # Review console.
    "review": frozenset({"reviewer", "child-safety-reviewer"}),
    "review.child-safety": frozenset({"child-safety-reviewer"}),
    "review.manage": frozenset({"policy-manager"}),  # reassign anyone's items
    "lead.verify": frozenset({"reviewer", "child-safety-reviewer", "policy-manager"}),  # `tripline leads verify`
    "wellbeing.view": frozenset({"admin", "policy-manager"}),
    # Administration and oversight.
    "settings.write": frozenset({"admin"}),
    "users.manage": frozenset({"admin"}),
    "audit.read": frozenset({"auditor"}),
    "metrics": frozenset({"admin", "auditor", "integration"}),
    # Legal reports and the evidence vault: the same sets as
    # tripline.vault.access.PERMISSIONS minus "operator" (purge and
    # credentials stay with the local operator CLI).
    "report.build": frozenset({"child-safety-reviewer"}),
    "report.submit": frozenset({"child-safety-reviewer"}),
    "report.status": frozenset({"child-safety-reviewer", "auditor", "admin"}),
    "vault.put": frozenset({"child-safety-reviewer", "integration"}),
    "vault.get": frozenset({"child-safety-reviewer"}),
    "vault.hold": frozenset({"child-safety-reviewer"}),
    "vault.release": frozenset({"child-safety-reviewer"}),
    "vault.read_meta": frozenset({"child-safety-reviewer", "auditor"}),
    # Any authenticated principal.
    "health": frozenset(ROLES),
}


def parse_roles(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    parts = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    bad = [p for p in parts if p not in ROLES]
    if bad:
        raise ValueError(f"unknown role(s) {', '.join(bad)}; roles: {', '.join(ROLES)}")
    if not parts:
        raise ValueError(f"give at least one role: {', '.join(ROLES)}")
    return tuple(dict.fromkeys(parts))


def allowed(roles: tuple[str, ...] | frozenset[str], permission: str) -> bool:
    return bool(PERMISSIONS[permission].intersection(roles))


def review_queues(roles) -> list[str]:
    queues = []
    if allowed(roles, "review"):
        queues.append("default")
    if allowed(roles, "review.child-safety"):
        queues.append("child-safety")
    return queues
