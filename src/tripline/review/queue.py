"""Review items: enqueue, list (priority, then SLA age), claim with an
expiring lock, skip, escalate, reassign and decide.

Every state change is written together with its audit entry in one
transaction. A confirmation records a human's judgement only; filing a legal
report is a separate, later step (the reporting issue), never done here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, insert, or_, select, update
from sqlalchemy.engine import Engine

from tripline.audit import AuditLog
from tripline.policy.schema import PRIORITIES
from tripline.store.engine import write_connection
from tripline.store.models import utcnow
from tripline.store.review_models import ReviewItem

items_t: Table = ReviewItem.__table__

CLAIM_TTL = timedelta(minutes=10)
# Industry classification (the Tech Coalition / NCMEC-style categories).
CLASSIFICATIONS = ("A1", "A2", "B1", "B2")
OUTCOMES = ("confirm", "dismiss", "escalate", "add_to_bank")


class ItemNotFound(LookupError):
    pass


class ClaimConflict(RuntimeError):
    """Someone else holds the claim, or the item is no longer open."""


def priority_rank(priority: str | None) -> int:
    return PRIORITIES.index(priority) if priority in PRIORITIES else len(PRIORITIES)


def queue_for_decision(decision: dict, record: dict) -> str:
    """Items a policy routes to the report queue, that matched a bank, or
    that it ranks P0/P1 go to the child-safety queue, which only
    child-safety reviewers see; the rest (links, weaker text signals) to
    the general queue."""
    if decision.get("report_queue") or decision.get("priority") in ("P0", "P1"):
        return "child-safety"
    if any(not m.get("suppressed") and m.get("bank_kind") == "match" for m in record.get("matches") or []):
        return "child-safety"
    return "default"


def generative_ai_suggestion(record: dict) -> dict:
    """Pre-suggestion for the 'generativeAi' annotation from provenance."""
    prov = record.get("provenance") or {}
    synthetic = prov.get("synthetic") if isinstance(prov, dict) else None
    evidence = (
        [e.get("kind") for e in (prov.get("evidence") or []) if isinstance(e, dict)] if isinstance(prov, dict) else []
    )
    return {
        "suggested": synthetic in ("likely", "certain", "confirmed", "yes", "strong"),
        "synthetic": synthetic or "none",
        "evidence": evidence,
    }


def _row(r) -> dict:
    d = dict(r._mapping)
    for k in ("created_at", "claim_expires_at", "decided_at"):
        if d.get(k) is not None:
            d[k] = d[k].isoformat(timespec="seconds")
    return d


class ReviewQueue:
    def __init__(self, engine: Engine, audit: AuditLog):
        self.engine, self.audit = engine, audit

    def _write(self):
        return write_connection(self.engine)

    # -- intake ----------------------------------------------------------
    def enqueue(self, record: dict, decision: dict, context: dict | None, *, actor: str) -> int:
        """Queue an item for review. The same content (by SHA-256) already
        waiting is not queued twice: one look is enough, and every duplicate
        would be more exposure for reviewers. The repeat is logged instead."""
        now = utcnow()
        queue = queue_for_decision(decision, record)
        with self._write() as conn, conn.begin():
            if record.get("sha256"):
                existing = conn.execute(
                    select(items_t.c.id)
                    .where(items_t.c.sha256 == record["sha256"], items_t.c.status.in_(("open", "escalated")))
                    .order_by(items_t.c.id)
                    .limit(1)
                ).scalar()
                if existing is not None:
                    self.audit.append(
                        actor,
                        "review.enqueue_repeat",
                        f"item:{existing}",
                        {"priority": decision.get("priority"), "context": context},
                        conn=conn,
                    )
                    return existing
            item_id = conn.execute(
                insert(items_t)
                .values(
                    sha256=record.get("sha256"),
                    media_type=record.get("media_type"),
                    status="open",
                    queue=queue,
                    priority=decision.get("priority"),
                    priority_rank=priority_rank(decision.get("priority")),
                    record=record,
                    decision=decision,
                    context=context,
                    created_at=now,
                )
                .returning(items_t.c.id)
            ).scalar_one()
            self.audit.append(
                actor,
                "review.enqueue",
                f"item:{item_id}",
                {"queue": queue, "priority": decision.get("priority"), "sha256": record.get("sha256")},
                conn=conn,
            )
        return item_id

    # -- reading ---------------------------------------------------------
    def get(self, item_id: int) -> dict:
        with self.engine.connect() as conn:
            r = conn.execute(select(items_t).where(items_t.c.id == item_id)).first()
        if r is None:
            raise ItemNotFound(f"no review item {item_id}")
        return _row(r)

    def list(
        self,
        queues: list[str],
        *,
        status: tuple[str, ...] = ("open", "escalated"),
        limit: int = 100,
        username: str | None = None,
    ) -> list[dict]:
        """Open items in ``queues``: most urgent priority first, then oldest
        (longest waiting against its SLA). Items assigned to someone else are
        left out for ``username``."""
        q = (
            select(items_t)
            .where(items_t.c.status.in_(status), items_t.c.queue.in_(queues))
            .order_by(items_t.c.priority_rank, items_t.c.created_at, items_t.c.id)
            .limit(limit)
        )
        if username is not None:
            q = q.where(or_(items_t.c.assigned_to.is_(None), items_t.c.assigned_to == username))
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(items_t.c.queue, items_t.c.status, func.count()).group_by(items_t.c.queue, items_t.c.status)
            ).all()
        return {f"{q}/{s}": n for q, s, n in rows}

    # -- claims ----------------------------------------------------------
    def claim(self, item_id: int, username: str, *, ttl: timedelta = CLAIM_TTL, now: datetime | None = None) -> dict:
        now = now or utcnow()
        with self._write() as conn, conn.begin():
            done = conn.execute(
                update(items_t)
                .where(
                    items_t.c.id == item_id,
                    items_t.c.status.in_(("open", "escalated")),
                    or_(
                        items_t.c.claimed_by.is_(None),
                        items_t.c.claimed_by == username,
                        items_t.c.claim_expires_at < now,
                    ),
                    or_(items_t.c.assigned_to.is_(None), items_t.c.assigned_to == username),
                )
                .values(claimed_by=username, claim_expires_at=now + ttl)
            ).rowcount
            if not done:
                r = conn.execute(select(items_t.c.claimed_by, items_t.c.status).where(items_t.c.id == item_id)).first()
                if r is None:
                    raise ItemNotFound(f"no review item {item_id}")
                raise ClaimConflict(f"item {item_id} is {r.status}, claimed by {r.claimed_by or 'nobody'}")
            self.audit.append(
                username, "review.claim", f"item:{item_id}", {"expires_at": (now + ttl).isoformat()}, conn=conn
            )
        return self.get(item_id)

    def _require_claim(self, conn, item_id: int, username: str, now: datetime):
        r = conn.execute(select(items_t).where(items_t.c.id == item_id)).first()
        if r is None:
            raise ItemNotFound(f"no review item {item_id}")
        if r.status not in ("open", "escalated"):
            raise ClaimConflict(f"item {item_id} is already {r.status}")
        if r.claimed_by != username or (r.claim_expires_at is not None and r.claim_expires_at < now):
            raise ClaimConflict(f"claim item {item_id} first (claimed by {r.claimed_by or 'nobody'})")
        return r

    def holds_claim(self, item_id: int, username: str) -> bool:
        try:
            with self.engine.connect() as conn:
                self._require_claim(conn, item_id, username, utcnow())
            return True
        except (ClaimConflict, ItemNotFound):
            return False

    def skip(self, item_id: int, username: str) -> None:
        now = utcnow()
        with self._write() as conn, conn.begin():
            self._require_claim(conn, item_id, username, now)
            conn.execute(update(items_t).where(items_t.c.id == item_id).values(claimed_by=None, claim_expires_at=None))
            self.audit.append(username, "review.skip", f"item:{item_id}", {}, conn=conn)

    def latest_for_sha(self, sha256: str) -> int | None:
        """The newest review item holding this content, if any."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(items_t.c.id).where(items_t.c.sha256 == sha256).order_by(items_t.c.id.desc()).limit(1)
            ).scalar()

    def reassign(self, item_id: int, username: str, to: str | None, *, manager: bool = False) -> None:
        now = utcnow()
        with self._write() as conn, conn.begin():
            if not manager:
                self._require_claim(conn, item_id, username, now)
            elif conn.execute(select(items_t.c.id).where(items_t.c.id == item_id)).first() is None:
                raise ItemNotFound(f"no review item {item_id}")
            conn.execute(
                update(items_t)
                .where(items_t.c.id == item_id)
                .values(assigned_to=to, claimed_by=None, claim_expires_at=None)
            )
            self.audit.append(username, "review.reassign", f"item:{item_id}", {"to": to}, conn=conn)

    # -- decisions -------------------------------------------------------
    def decide(
        self,
        item_id: int,
        username: str,
        outcome: str,
        *,
        classification: str | None = None,
        annotations: dict | None = None,
        note: str = "",
        bank: str | None = None,
    ) -> dict:
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        if outcome == "confirm" and classification not in CLASSIFICATIONS:
            raise ValueError(f"a confirmation needs a classification: {', '.join(CLASSIFICATIONS)}")
        if outcome == "add_to_bank" and not bank:
            raise ValueError("add_to_bank needs a bank")
        now = utcnow()
        result: dict[str, Any] = {
            "outcome": outcome,
            "classification": classification,
            "annotations": annotations or {},
            "note": note[:2000],
            "bank": bank,
        }
        if outcome == "confirm":
            # A human confirmation queues the item for reporting; the report
            # itself is filed by the reporting workflow, with its own checks.
            result["report_status"] = "pending_report"
        with self._write() as conn, conn.begin():
            self._require_claim(conn, item_id, username, now)
            if outcome == "escalate":
                values: dict[str, Any] = {
                    "status": "escalated",
                    "queue": "child-safety",
                    "claimed_by": None,
                    "claim_expires_at": None,
                    "priority_rank": 0,
                    "outcome": result,
                }
            else:
                values = {
                    "status": "decided",
                    "outcome": result,
                    "decided_by": username,
                    "decided_at": now,
                    "claimed_by": None,
                    "claim_expires_at": None,
                }
            conn.execute(update(items_t).where(items_t.c.id == item_id).values(**values))
            self.audit.append(username, f"review.decide.{outcome}", f"item:{item_id}", result, conn=conn)
        return self.get(item_id)
