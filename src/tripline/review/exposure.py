"""Reviewer wellbeing: an exposure budget per reviewer per shift.

Exposure is counted from reveals (a deliberate click that shows unblurred
pixels): how many items were revealed and for how long. When either limit is
reached the reviewer is sent to a break screen and cannot reveal again until
the break, of at least ``break_minutes``, is over. A shift is the
``shift_hours`` window, restarted by every completed break.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.engine import Engine

from tripline.store.engine import write_connection
from tripline.store.models import utcnow
from tripline.store.review_models import ReviewerBreak, ReviewReveal

reveals_t: Table = ReviewReveal.__table__
breaks_t: Table = ReviewerBreak.__table__

# A reveal never hidden again counts as this long.
DEFAULT_REVEAL_SECONDS = 60


@dataclass(frozen=True)
class Budget:
    reveals: int = 30
    minutes: int = 30
    break_minutes: int = 15
    shift_hours: int = 8

    @classmethod
    def from_dict(cls, d: dict | None) -> Budget:
        d = d or {}
        return cls(**{k: int(v) for k, v in d.items() if k in cls.__dataclass_fields__})

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ExposureStatus:
    username: str
    reveals: int
    seconds: int
    budget: Budget
    on_break: bool
    break_started_at: datetime | None
    break_ends_at: datetime | None

    @property
    def exhausted(self) -> bool:
        return self.reveals >= self.budget.reveals or self.seconds >= self.budget.minutes * 60

    @property
    def must_break(self) -> bool:
        return self.on_break or self.exhausted

    def to_dict(self) -> dict:
        return {
            "username": self.username,
            "reveals": self.reveals,
            "minutes": round(self.seconds / 60, 1),
            "budget": self.budget.to_dict(),
            "exhausted": self.exhausted,
            "on_break": self.on_break,
            "must_break": self.must_break,
            "break_ends_at": self.break_ends_at.isoformat(timespec="seconds") if self.break_ends_at else None,
        }


class Exposure:
    def __init__(self, engine: Engine):
        self.engine = engine

    def _write(self):
        return write_connection(self.engine)

    def _shift_start(self, conn, username: str, budget: Budget, now: datetime) -> datetime:
        last_break = conn.execute(
            select(func.max(breaks_t.c.ended_at)).where(
                breaks_t.c.username == username, breaks_t.c.ended_at.is_not(None)
            )
        ).scalar()
        start = now - timedelta(hours=budget.shift_hours)
        return max(start, last_break) if last_break else start

    def status(self, username: str, budget: Budget, now: datetime | None = None) -> ExposureStatus:
        now = now or utcnow()
        with self.engine.connect() as conn:
            start = self._shift_start(conn, username, budget, now)
            rows = conn.execute(
                select(reveals_t.c.seconds).where(reveals_t.c.username == username, reveals_t.c.at >= start)
            ).all()
            open_break = conn.execute(
                select(breaks_t.c.started_at)
                .where(breaks_t.c.username == username, breaks_t.c.ended_at.is_(None))
                .order_by(breaks_t.c.started_at.desc())
                .limit(1)
            ).scalar()
        seconds = sum(DEFAULT_REVEAL_SECONDS if s is None else s for (s,) in rows)
        ends = open_break + timedelta(minutes=budget.break_minutes) if open_break else None
        return ExposureStatus(username, len(rows), seconds, budget, open_break is not None, open_break, ends)

    def record_reveal(self, username: str, item_id: int, now: datetime | None = None) -> int:
        with self._write() as conn, conn.begin():
            return conn.execute(
                insert(reveals_t)
                .values(item_id=item_id, username=username, at=now or utcnow())
                .returning(reveals_t.c.id)
            ).scalar_one()

    def record_hide(self, username: str, reveal_id: int, now: datetime | None = None) -> int | None:
        """Close a reveal; its exposure is measured by the server clock (the
        client cannot under-report it). Returns the seconds counted."""
        now = now or utcnow()
        with self._write() as conn, conn.begin():
            r = conn.execute(
                select(reveals_t.c.at, reveals_t.c.seconds).where(
                    reveals_t.c.id == reveal_id, reveals_t.c.username == username
                )
            ).first()
            if r is None or r.seconds is not None:
                return None
            seconds = max(1, min(int((now - r.at).total_seconds()) + 1, 3600))
            conn.execute(update(reveals_t).where(reveals_t.c.id == reveal_id).values(seconds=seconds))
            return seconds

    def is_open(self, username: str, reveal_id: int) -> bool:
        """Whether ``username``'s reveal is still showing (not blurred again)."""
        with self.engine.connect() as conn:
            r = conn.execute(
                select(reveals_t.c.seconds).where(reveals_t.c.id == reveal_id, reveals_t.c.username == username)
            ).first()
        return r is not None and r.seconds is None

    def start_break(self, username: str, now: datetime | None = None) -> None:
        with self._write() as conn, conn.begin():
            exists = conn.execute(
                select(breaks_t.c.id).where(breaks_t.c.username == username, breaks_t.c.ended_at.is_(None))
            ).first()
            if not exists:
                conn.execute(insert(breaks_t).values(username=username, started_at=now or utcnow()))

    def end_break(self, username: str, budget: Budget, now: datetime | None = None) -> bool:
        """End the open break if it has lasted long enough; True if ended."""
        now = now or utcnow()
        st = self.status(username, budget, now)
        if not st.on_break or (st.break_ends_at and now < st.break_ends_at):
            return False
        with self._write() as conn, conn.begin():
            conn.execute(
                update(breaks_t)
                .where(breaks_t.c.username == username, breaks_t.c.ended_at.is_(None))
                .values(ended_at=now)
            )
        return True

    def overview(self, usernames: list[str], budget: Budget) -> dict:
        """Aggregate wellbeing for managers: per-reviewer exposure this shift
        and team totals."""
        rows = [self.status(u, budget).to_dict() for u in usernames]
        n = len(rows) or 1
        return {
            "reviewers": rows,
            "totals": {
                "reviewers": len(rows),
                "reveals": sum(r["reveals"] for r in rows),
                "minutes": round(sum(r["minutes"] for r in rows), 1),
                "mean_reveals": round(sum(r["reveals"] for r in rows) / n, 1),
                "over_budget": sum(1 for r in rows if r["exhausted"]),
                "on_break": sum(1 for r in rows if r["on_break"]),
            },
        }
