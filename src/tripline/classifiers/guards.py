"""What keeps a remote classifier's cost and failures under the operator's
control: a circuit breaker and a rate limiter (per process), and the daily
budget (across every process and instance: its counter is in the database,
``classifier_usage``)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from sqlalchemy import Engine, Table, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from tripline.store.engine import write_transaction


class CircuitBreaker:
    """closed → (``failures`` calls in a row fail) → open for ``reset`` s →
    half-open: one trial call; it closes the breaker or opens it again."""

    def __init__(self, failures: int, reset: float, clock=time.monotonic):
        self.limit, self.reset, self.clock = failures, reset, clock
        self.failed, self.opened_at, self.trial = 0, None, False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self.opened_at >= self.reset else "open"

    def allow(self) -> bool:
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "half-open" and not self.trial:
                self.trial = True
                return True
            return False

    def release(self) -> None:
        with self._lock:
            self.trial = False

    def success(self) -> None:
        with self._lock:
            self.failed, self.opened_at, self.trial = 0, None, False

    def failure(self) -> None:
        with self._lock:
            self.failed += 1
            if self.trial or self.failed >= self.limit:
                self.opened_at, self.trial = self.clock(), False


class RateLimiter:
    """At most ``rate`` calls per second from this process (blocking)."""

    def __init__(self, rate: float | None, clock=time.monotonic, sleep=time.sleep):
        self.interval = 1.0 / rate if rate else 0.0
        self.clock, self.sleep = clock, sleep
        self.next_at = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self.clock()
            at = max(now, self.next_at)
            self.next_at = at + self.interval
        if at > now:
            self.sleep(at - now)


def utc_day() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


class DailyBudget:
    """``limit`` calls per classifier per UTC day, shared through the database.

    ``take(n)`` is one conditional UPDATE, so three instances racing on the
    last calls of the day never overspend: the row only moves while it stays
    within the limit."""

    def __init__(self, engine: Engine, table: Table, classifier: str, limit: int | None, day=utc_day):
        self.engine, self.t, self.classifier, self.limit, self.day = engine, table, classifier, limit, day

    def take(self, n: int = 1) -> bool:
        t, day = self.t, self.day()
        where = and_(t.c.classifier == self.classifier, t.c.day == day)
        with write_transaction(self.engine) as conn:
            stmt = update(t).where(where).values(calls=t.c.calls + n)
            if self.limit is not None:
                stmt = stmt.where(t.c.calls + n <= self.limit)
            if conn.execute(stmt).rowcount:
                return True
            if conn.execute(select(t.c.calls).where(where)).first() is not None:
                return False  # the row exists: the budget is spent
        if self.limit is not None and n > self.limit:
            return False
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(insert(t).values(classifier=self.classifier, day=day, calls=n))
            return True
        except IntegrityError:  # another process created today's row first
            return self.take(n)

    def used(self) -> int:
        t = self.t
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.c.calls).where(and_(t.c.classifier == self.classifier, t.c.day == self.day()))
            ).first()
        return row[0] if row else 0
