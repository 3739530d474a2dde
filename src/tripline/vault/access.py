"""Who may touch evidence and reports.

Functions of the vault and the reporting side take a ``principal``: any
object with ``name`` and ``roles`` (the service's authenticated principal
fits). Evidence is limited to child-safety roles. The local CLI runs as the
operator (``LOCAL_OPERATOR``): whoever can read the database URL and the
master key file already has everything, so a role check would add nothing;
through the service, the service's principal is passed instead.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass

OPERATOR_ROLE = "operator"

PERMISSIONS: dict[str, frozenset[str]] = {
    "vault.put": frozenset({"child-safety-reviewer", "integration", OPERATOR_ROLE}),
    "vault.get": frozenset({"child-safety-reviewer", OPERATOR_ROLE}),
    "vault.hold": frozenset({"child-safety-reviewer", OPERATOR_ROLE}),
    "vault.release": frozenset({"child-safety-reviewer", OPERATOR_ROLE}),
    "vault.purge": frozenset({OPERATOR_ROLE}),
    "vault.export": frozenset({"child-safety-reviewer", OPERATOR_ROLE}),
    "vault.read_meta": frozenset({"child-safety-reviewer", "auditor", OPERATOR_ROLE}),
    "report.build": frozenset({"child-safety-reviewer", OPERATOR_ROLE}),
    "report.submit": frozenset({"child-safety-reviewer", OPERATOR_ROLE}),
    "report.status": frozenset({"child-safety-reviewer", "auditor", "admin", OPERATOR_ROLE}),
    "report.credentials": frozenset({"admin", OPERATOR_ROLE}),
}


class AccessDenied(PermissionError):
    pass


@dataclass(frozen=True)
class Principal:
    name: str
    roles: tuple[str, ...]


def local_operator() -> Principal:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001
        user = "unknown"
    return Principal(f"operator:{user}", (OPERATOR_ROLE,))


def require(principal, permission: str) -> str:
    """Return the principal's name, or raise AccessDenied."""
    roles = set(getattr(principal, "roles", ()) or ())
    if not PERMISSIONS[permission].intersection(roles):
        raise AccessDenied(f"{getattr(principal, 'name', '?')} lacks permission {permission}")
    return str(principal.name)
