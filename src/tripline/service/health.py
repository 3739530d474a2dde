"""Orchestrator probes: ``/healthz`` (the process answers) and ``/readyz``
(this instance can serve: database reachable, schema current, bank changes
applied, plus any check
registered with :func:`readiness_check`).

Both answer without credentials, as load balancers and kubelets call them, so
they say only ``ok`` or ``unavailable``; the reason a check failed goes to the
log, never into the response.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from tripline.store.engine import check_schema_current

log = logging.getLogger("tripline.health")

# A check takes the Service and raises (any exception) when the instance must
# not receive traffic. Other subsystems add theirs with @readiness_check.
ReadinessCheck = Callable[[object], None]
READINESS_CHECKS: list[tuple[str, ReadinessCheck]] = []


def readiness_check(name: str):
    def register(fn: ReadinessCheck) -> ReadinessCheck:
        READINESS_CHECKS.append((name, fn))
        return fn

    return register


@readiness_check("database")
def _database_reachable(svc) -> None:
    with svc.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


@readiness_check("schema")
def _schema_current(svc) -> None:
    check_schema_current(svc.engine)


@readiness_check("bank_indexes")
def _bank_indexes_caught_up(svc) -> None:
    svc.check_banks_ready()  # docs/consistency.md


def failing_checks(svc) -> list[str]:
    failed = []
    for name, check in READINESS_CHECKS:
        try:
            check(svc)
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            log.warning("readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
            failed.append(name)
    return failed


router = APIRouter(include_in_schema=False)
_NO_STORE = {"Cache-Control": "no-store"}


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"}, headers=_NO_STORE)


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    if failing_checks(request.app.state.svc):
        return JSONResponse({"status": "unavailable"}, status_code=503, headers=_NO_STORE)
    return JSONResponse({"status": "ok"}, headers=_NO_STORE)
