"""Reports as the service and the CLI see them: build, validate, submit, status.

Every function takes a ``principal`` (see tripline.vault.access) and checks
its role. Submission state lives in ``report_submissions`` so the console can
show it and a crashed or failed submission can be resumed without filing twice.

Statuses: ``built`` (validated document stored) -> ``submitting`` ->
``finished`` | ``failed`` (fatal error, or retries exhausted; ``submit``
again resumes, retracting any unfinished earlier report first).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import Table, insert, or_, select, update
from sqlalchemy.engine import Engine

from tripline.store.engine import write_connection
from tripline.store.models import utcnow
from tripline.store.report_models import ReportSubmission
from tripline.vault.access import require

from .client import DeliveryError, FatalError
from .cybertipline import ReporterConfig
from .destinations import destination_type
from .model import ConfirmedIncident, IncidentError

subs_t: Table = ReportSubmission.__table__
STATUSES = ("built", "submitting", "finished", "failed")


class Destination(Protocol):
    name: str

    def deliver(
        self,
        incident: ConfirmedIncident,
        document: bytes,
        files: list[tuple[str, bytes]],
        state: dict,
        checkpoint: Callable[[dict], None],
    ) -> dict: ...


SUBMIT_LEASE = timedelta(minutes=15)


class ReportConflict(RuntimeError):
    """The item already has a report in flight or filed at this destination."""


def render(destination: str, incident: ConfirmedIncident, reporter: ReporterConfig) -> bytes:
    return destination_type(destination).render(incident, reporter)


def _public(r) -> dict:
    return {
        "id": r.id,
        "destination": r.destination,
        "environment": r.environment,
        "item_ref": r.item_ref,
        "status": r.status,
        "remote_id": r.remote_id,
        "attempts": r.attempts,
        "last_error": r.last_error,
        "created_by": r.created_by,
        "created_at": r.created_at.isoformat(timespec="seconds"),
        "updated_at": r.updated_at.isoformat(timespec="seconds"),
        "finished_at": r.finished_at.isoformat(timespec="seconds") if r.finished_at else None,
        "files": (r.state or {}).get("file_ids", []),
        "retracted": (r.state or {}).get("retracted", []),
    }


class ReportService:
    """``require_review`` (default): the incident must match a review item in
    this database that a human decided as ``confirm`` — same reviewer, same
    classification, and no annotation the reviewer did not set. Pass
    ``require_review=False`` only for decisions confirmed in an external
    review system (``tripline report build --external``: the operator attests)."""

    def __init__(
        self, engine: Engine, reporter: ReporterConfig, *, vault=None, audit=None, require_review: bool = True
    ):
        self.engine, self.reporter, self.vault, self.audit = engine, reporter, vault, audit
        self.require_review = require_review

    def _check_review(self, incident: ConfirmedIncident) -> None:
        from tripline.store.review_models import ReviewItem

        items = ReviewItem.__table__
        try:
            item_id = int(incident.item_id)
        except (TypeError, ValueError):
            raise IncidentError(f"item {incident.item_id!r} is not a review item id") from None
        with self.engine.connect() as conn:
            r = conn.execute(select(items).where(items.c.id == item_id)).first()
        outcome = (r.outcome or {}) if r is not None else {}
        if r is None or r.status != "decided" or outcome.get("outcome") != "confirm" or not r.decided_by:
            raise IncidentError(f"item {incident.item_id} has no human-confirmed review decision")
        if r.decided_by != incident.reviewer:
            raise IncidentError(f"item {incident.item_id} was confirmed by {r.decided_by}, not {incident.reviewer}")
        if outcome.get("classification") != incident.classification:
            raise IncidentError(
                f"classification {incident.classification} differs from the reviewer's {outcome.get('classification')}"
            )
        confirmed = {k for k, v in (outcome.get("annotations") or {}).items() if v is True}
        extra = {k for k, v in incident.annotations.items() if v} - confirmed
        if extra:
            raise IncidentError(f"annotation(s) {', '.join(sorted(extra))} were not confirmed by the reviewer")

    def _w(self):
        return write_connection(self.engine)

    def _log(self, actor: str, action: str, sub_id: int, detail: dict) -> None:
        if self.audit is not None:
            self.audit.append(actor, action, f"report:{sub_id}", detail)

    def build(
        self, incident: ConfirmedIncident, *, principal, destination: str = "ncmec", environment: str = "test"
    ) -> dict:
        """Validate and store the report for one human-confirmed incident."""
        actor = require(principal, "report.build")
        if self.require_review:
            self._check_review(incident)
        doc = render(destination, incident, self.reporter)  # checks human confirmation + XSD
        now = utcnow()
        with self._w() as conn, conn.begin():
            old = conn.execute(
                select(subs_t).where(subs_t.c.destination == destination, subs_t.c.item_ref == str(incident.item_id))
            ).first()
            values = {
                "environment": environment,
                "status": "built",
                "incident": incident.to_dict(),
                "document": doc.decode(),
                "updated_at": now,
                "last_error": None,
            }
            if old is None:
                sid = conn.execute(
                    insert(subs_t)
                    .values(
                        destination=destination,
                        item_ref=str(incident.item_id),
                        state={},
                        remote_id=None,
                        attempts=0,
                        created_by=actor,
                        created_at=now,
                        finished_at=None,
                        **values,
                    )
                    .returning(subs_t.c.id)
                ).scalar_one()
            elif old.status == "built" or (old.status == "failed" and not (old.state or {}).get("report_id")):
                sid = old.id
                conn.execute(update(subs_t).where(subs_t.c.id == sid).values(**values))
            else:
                raise ReportConflict(
                    f"item {incident.item_id} already has a {old.status} report "
                    f"(#{old.id}) at {destination}; resume it with submit"
                )
        self._log(actor, "report.build", sid, {"destination": destination, "item": str(incident.item_id)})
        return self.get(sid, principal=principal)

    def get(self, sub_id: int, *, principal) -> dict:
        require(principal, "report.status")
        with self.engine.connect() as conn:
            r = conn.execute(select(subs_t).where(subs_t.c.id == sub_id)).first()
        if r is None:
            raise LookupError(f"no report #{sub_id}")
        return _public(r)

    def list(self, *, principal, status: str | None = None) -> list[dict]:
        require(principal, "report.status")
        q = select(subs_t).order_by(subs_t.c.id)
        if status:
            q = q.where(subs_t.c.status == status)
        with self.engine.connect() as conn:
            return [_public(r) for r in conn.execute(q)]

    def document(self, sub_id: int, *, principal) -> bytes:
        require(principal, "report.build")
        with self.engine.connect() as conn:
            r = conn.execute(select(subs_t.c.document).where(subs_t.c.id == sub_id)).first()
        if r is None:
            raise LookupError(f"no report #{sub_id}")
        return r.document.encode()

    def validate(self, sub_id: int, *, principal) -> list[str]:
        doc = self.document(sub_id, principal=principal)
        with self.engine.connect() as conn:
            dest = conn.execute(select(subs_t.c.destination).where(subs_t.c.id == sub_id)).scalar_one()
        check = destination_type(dest).check
        return check(doc) if check else []

    def submit(
        self,
        sub_id: int,
        destination: Destination,
        *,
        principal,
        files: Callable[[ConfirmedIncident], list[tuple[str, bytes]]],
        max_attempts: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> dict:
        """Deliver the report, retrying transient failures with exponential backoff."""
        actor = require(principal, "report.submit")
        with self._w() as conn, conn.begin():
            r = conn.execute(select(subs_t).where(subs_t.c.id == sub_id)).first()
            if r is None:
                raise LookupError(f"no report #{sub_id}")
            if r.destination != destination.name:
                raise ValueError(f"report #{sub_id} is for {r.destination}, not {destination.name}")
            if r.status == "finished":
                return _public(r)
            # A database-level claim: of two concurrent submits (a double
            # click, two instances) exactly one updates the row. A claim left
            # by a killed process is taken over once it is SUBMIT_LEASE old
            # (every attempt and checkpoint renews it).
            now = utcnow()
            claimed = conn.execute(
                update(subs_t)
                .where(
                    subs_t.c.id == sub_id,
                    subs_t.c.status != "finished",
                    or_(subs_t.c.status != "submitting", subs_t.c.updated_at < now - SUBMIT_LEASE),
                )
                .values(status="submitting", updated_at=now)
            ).rowcount
            if not claimed:
                raise ReportConflict(f"report #{sub_id} is already being submitted")
        incident = ConfirmedIncident.from_dict(r.incident)
        incident.check()  # a machine decision never files a report
        document = r.document.encode()
        state: dict[str, Any] = dict(r.state or {})

        def checkpoint(s: dict) -> None:
            with self._w() as c, c.begin():
                c.execute(
                    update(subs_t)
                    .where(subs_t.c.id == sub_id)
                    .values(
                        state=json.loads(json.dumps(s)),
                        remote_id=s.get("report_id") or s.get("reference"),
                        updated_at=utcnow(),
                    )
                )

        payload = files(incident)
        attempts, delay, error = r.attempts, backoff, None
        self._log(actor, "report.submit", sub_id, {"destination": destination.name})
        for _ in range(max_attempts):
            attempts += 1
            try:
                result = destination.deliver(incident, document, payload, state, checkpoint)
            except DeliveryError as exc:
                error = str(exc)
                with self._w() as c, c.begin():
                    c.execute(
                        update(subs_t)
                        .where(subs_t.c.id == sub_id)
                        .values(attempts=attempts, last_error=error[:2000], updated_at=utcnow())
                    )
                if isinstance(exc, FatalError):
                    break
                sleep(delay)
                delay = min(delay * 2, max_backoff)
                continue
            now = utcnow()
            with self._w() as c, c.begin():
                c.execute(
                    update(subs_t)
                    .where(subs_t.c.id == sub_id)
                    .values(
                        status="finished",
                        remote_id=str(result["remote_id"]),
                        attempts=attempts,
                        last_error=None,
                        finished_at=now,
                        updated_at=now,
                        state=json.loads(json.dumps(state)),
                    )
                )
            self._log(
                actor, "report.finished", sub_id, {"destination": destination.name, "remote_id": result["remote_id"]}
            )
            if self.vault is not None and incident.sha256:
                # The report is also a preservation request: retention counts from now.
                try:
                    self.vault.link_report(
                        incident.sha256,
                        principal=principal,
                        reported_at=now,
                        report_ref=f"{destination.name}:{result['remote_id']}",
                        jurisdiction=destination_type(destination.name).jurisdiction or "US",
                    )
                except LookupError:
                    pass
            return self.get(sub_id, principal=principal)
        with self._w() as c, c.begin():
            c.execute(
                update(subs_t)
                .where(subs_t.c.id == sub_id)
                .values(status="failed", attempts=attempts, last_error=(error or "")[:2000], updated_at=utcnow())
            )
        self._log(actor, "report.failed", sub_id, {"destination": destination.name, "error": (error or "")[:500]})
        return self.get(sub_id, principal=principal)


def vault_files(vault, principal) -> Callable[[ConfirmedIncident], list[tuple[str, bytes]]]:
    """The file provider that reads the reported item from the vault."""

    def provide(incident: ConfirmedIncident) -> list[tuple[str, bytes]]:
        if not incident.sha256:
            raise FatalError("the incident has no SHA-256: cannot find the file in the vault")
        return [
            (
                incident.file_name,
                vault.get(incident.sha256, principal=principal, purpose=f"report upload for item {incident.item_id}"),
            )
        ]

    return provide
