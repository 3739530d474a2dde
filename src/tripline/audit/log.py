"""The audit log over the store's ``audit_log`` table."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Table, func, insert, select, text, update
from sqlalchemy.engine import Engine

from tripline.store.engine import write_transaction
from tripline.store.models import utcnow
from tripline.store.review_models import AuditEntry, OrgSetting

audit: Table = AuditEntry.__table__
settings_t: Table = OrgSetting.__table__

GENESIS = "0" * 64
HEAD_KEY = "audit_head"
# Serialises appends on PostgreSQL (SQLite writers are serialised by BEGIN IMMEDIATE).
_PG_AUDIT_LOCK = 0x7472_6175_6469_7400  # "tr audit"


def _canonical(seq: int, at: datetime, actor: str, action: str, target: str | None, detail: dict) -> bytes:
    at_s = at.isoformat(timespec="microseconds")
    return json.dumps(
        [seq, at_s, actor, action, target, detail],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    ).encode()


def entry_hash(
    prev_hash: str, seq: int, at: datetime, actor: str, action: str, target: str | None, detail: dict
) -> str:
    h = hashlib.sha256(prev_hash.encode())
    h.update(_canonical(seq, at, actor, action, target, detail))
    return h.hexdigest()


def head_mac(key: bytes, seq: int, h: str) -> str:
    return hmac.new(key, f"tripline-audit-head:{seq}:{h}".encode(), hashlib.sha256).hexdigest()


@dataclass
class VerifyResult:
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    problems: list[str] = field(default_factory=list)
    # Whether the recorded head was checked against the vault-derived key.
    keyed: bool = False

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "problems": self.problems,
            "keyed": self.keyed,
        }


def parse_anchor(text: str) -> tuple[int, str]:
    """``SEQ:HASH`` as printed by ``tripline audit verify``."""
    seq, sep, h = text.strip().partition(":")
    h = h.strip().lower()
    if not sep or not seq.isdigit() or int(seq) < 1 or len(h) != 64 or not set(h) <= set("0123456789abcdef"):
        raise ValueError("an anchor is SEQ:HASH (a positive entry number and its 64-hex-digit hash)")
    return int(seq), h


def _normalise_detail(detail: dict | None) -> dict:
    # Round-trip through JSON so what is hashed is exactly what the database
    # will give back (tuples become lists, keys become strings, ...).
    return json.loads(json.dumps(detail or {}, default=str))


class AuditLog:
    """``head_key`` (bytes, or a callable returning bytes or None) keys the
    recorded head with an HMAC, so someone who can write the database but
    does not hold the vault key cannot re-chain the log and forge its head."""

    def __init__(self, engine: Engine, head_key=None):
        self.engine = engine
        self._head_key = head_key

    def head_key(self) -> bytes | None:
        k = self._head_key
        return k() if callable(k) else k

    def append(
        self, actor: str, action: str, target: str | None = None, detail: dict | None = None, *, conn=None
    ) -> dict:
        """Append one entry. With ``conn`` the entry joins the caller's write
        transaction, so the audited change and its entry commit together."""
        if conn is not None:
            return self._append(conn, actor, action, target, detail)
        with write_transaction(self.engine) as c:
            return self._append(c, actor, action, target, detail)

    def _append(self, conn, actor, action, target, detail) -> dict:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
        last = conn.execute(select(audit.c.seq, audit.c.hash).order_by(audit.c.seq.desc()).limit(1)).first()
        seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
        # Microsecond precision survives both backends unchanged.
        at = utcnow()
        detail = _normalise_detail(detail)
        target = None if target is None else str(target)
        h = entry_hash(prev, seq, at, actor, action, target, detail)
        conn.execute(
            insert(audit).values(
                seq=seq, at=at, actor=actor, action=action, target=target, detail=detail, prev_hash=prev, hash=h
            )
        )
        head = {"seq": seq, "hash": h}
        key = self.head_key()
        if key:
            head["mac"] = head_mac(key, seq, h)
        done = conn.execute(
            update(settings_t).where(settings_t.c.key == HEAD_KEY).values(value=head, updated_at=at)
        ).rowcount
        if not done:
            conn.execute(insert(settings_t).values(key=HEAD_KEY, value=head, updated_at=at))
        return {
            "seq": seq,
            "at": at.isoformat(),
            "actor": actor,
            "action": action,
            "target": target,
            "detail": detail,
            "prev_hash": prev,
            "hash": h,
        }

    def entries(self, *, since_seq: int = 0, action: str | None = None, limit: int | None = None) -> Iterator[dict]:
        q = select(audit).where(audit.c.seq > since_seq).order_by(audit.c.seq)
        if action:
            q = q.where(audit.c.action == action)
        if limit:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            for r in conn.execute(q):
                yield {
                    "seq": r.seq,
                    "at": r.at.isoformat(timespec="microseconds"),
                    "actor": r.actor,
                    "action": r.action,
                    "target": r.target,
                    "detail": r.detail,
                    "prev_hash": r.prev_hash,
                    "hash": r.hash,
                }

    def count(self, action: str | None = None, actor: str | None = None) -> int:
        q = select(func.count()).select_from(audit)
        if action:
            q = q.where(audit.c.action == action)
        if actor:
            q = q.where(audit.c.actor == actor)
        with self.engine.connect() as conn:
            return conn.execute(q).scalar_one()

    def verify(self, expected_head: tuple[int, str] | None = None) -> VerifyResult:
        """Recompute the chain. Detects edited entries (hash mismatch),
        deleted or reordered ones (sequence gaps, broken prev links), a
        re-chained log (the recorded head's MAC, with the vault key), and,
        against an anchor kept outside the database (``expected_head``, any
        older entry), a rewrite by someone who also forged the head."""
        problems: list[str] = []
        prev, want_seq, n = GENESIS, 1, 0
        last_seq, last_hash = 0, GENESIS
        with self.engine.connect() as conn:
            for r in conn.execute(select(audit).order_by(audit.c.seq)):
                n += 1
                if r.seq != want_seq:
                    problems.append(f"entries {want_seq}..{r.seq - 1} are missing (deleted)")
                if r.prev_hash != prev:
                    problems.append(
                        f"entry {r.seq}: previous-hash link broken (an entry before it was edited or deleted)"
                    )
                h = entry_hash(r.prev_hash, r.seq, r.at, r.actor, r.action, r.target, r.detail)
                if h != r.hash:
                    problems.append(f"entry {r.seq}: content does not match its hash (edited)")
                prev, want_seq = r.hash, r.seq + 1
                last_seq, last_hash = r.seq, r.hash
            head = conn.execute(select(settings_t.c.value).where(settings_t.c.key == HEAD_KEY)).scalar()

            def stored_at(seq: int) -> str | None:
                return conn.execute(select(audit.c.hash).where(audit.c.seq == seq)).scalar()

            recorded = (head["seq"], head["hash"]) if head and head.get("seq") else None
            for source, exp in (("recorded head", recorded), ("expected head", expected_head)):
                if not exp:
                    continue
                seq, want = exp
                if seq > last_seq:
                    problems.append(f"{source} is entry {seq} but the log ends at {last_seq} (newest entries deleted)")
                    continue
                have = last_hash if seq == last_seq else stored_at(seq)
                if have is None:
                    problems.append(f"{source} is entry {seq}, which is missing from the log")
                elif not hmac.compare_digest(have, want):
                    problems.append(f"{source} hash differs from the log's entry {seq} (the log was rewritten)")
            if recorded and recorded[0] < last_seq:
                problems.append(f"entries after the recorded head {recorded[0]} were not appended by Tripline")
        key = self.head_key()
        if key and head:
            mac = head.get("mac")
            if not mac or not hmac.compare_digest(str(mac), head_mac(key, head.get("seq", 0), str(head.get("hash")))):
                problems.append("recorded head is not signed with the vault key (forged, or written without the key)")
        if head is None and n:
            problems.append("recorded head is missing")
        return VerifyResult(not problems, n, last_seq, last_hash, problems, keyed=bool(key))
