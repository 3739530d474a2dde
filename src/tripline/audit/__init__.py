"""Append-only, hash-chained audit log.

Every entry's hash covers its own fields and the previous entry's hash, so
editing or deleting any entry breaks the chain from that point on; the
current head (sequence number and hash) is also kept in ``org_settings`` and
printed by ``tripline audit verify`` so it can be anchored outside the
database, which catches truncation of the newest entries too. With the vault key
configured the recorded head carries an HMAC, so a database writer cannot
re-chain the log and forge a matching head (docs/security.md).
"""

from tripline.audit.log import GENESIS, AuditLog, VerifyResult, entry_hash, parse_anchor

__all__ = ["GENESIS", "AuditLog", "VerifyResult", "entry_hash", "parse_anchor"]
