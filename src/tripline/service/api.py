"""Tripline's own JSON API: /v1/scan, /v1/lookup, banks, health, metrics, audit."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field

from tripline.banks import BankError
from tripline.service.auth import Principal
from tripline.service.security import require

router = APIRouter()


def svc(request: Request):
    return request.app.state.svc


async def read_upload(request: Request, max_bytes: int) -> tuple[bytes, str, dict | None]:
    """(bytes, name, context) from a multipart form (field ``file``, optional
    ``context`` JSON) or a raw body (context in the X-Tripline-Context header)."""
    ctype = request.headers.get("content-type", "")
    context_raw = None
    if ctype.startswith("multipart/form-data"):
        form = await request.form(max_part_size=max_bytes)
        files = [v for v in form.values() if hasattr(v, "read")]
        if len(files) != 1:
            raise HTTPException(400, "send exactly one file")
        upload = files[0]
        data = await upload.read()
        name = upload.filename or "upload"
        context_raw = form.get("context")
    else:
        data = await request.body()
        name = request.headers.get("x-tripline-filename", "upload")
        context_raw = request.headers.get("x-tripline-context")
    if len(data) > max_bytes:
        raise HTTPException(413, "upload too large")
    context = None
    if context_raw:
        try:
            context = json.loads(context_raw)
        except ValueError as exc:
            raise HTTPException(400, f"context is not JSON: {exc}") from exc
        if not isinstance(context, dict):
            raise HTTPException(400, "context must be a JSON object")
    return data, name, context


@router.post(
    "/v1/scan",
    tags=["scan"],
    summary="Scan one upload: signals, matches, decision, explanation",
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "context": {"type": "string", "description": "JSON: caption, hashtags, bio, links, ..."},
                        },
                    }
                },
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            }
        }
    },
)
async def scan(request: Request, p: Annotated[Principal, Depends(require("scan"))]) -> dict:
    s = svc(request)
    data, name, context = await read_upload(request, s.cfg.max_upload_bytes)
    if not data:
        raise HTTPException(400, "empty upload")
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(s.scan, data, name=name, context=context, actor=p.name)


class HashQuery(BaseModel):
    pdq: str | None = None
    pdq_quality: int | None = None
    md5: str | None = None
    sha256: str | None = None


class LookupRequest(BaseModel):
    hashes: list[HashQuery] = Field(min_length=1, max_length=1000)
    context: dict[str, Any] | None = None


@router.post("/v1/lookup", tags=["scan"], summary="Match precomputed hashes against the banks")
async def lookup(
    request: Request, body: LookupRequest, p: Annotated[Principal, Depends(require("lookup"))]
) -> JSONResponse:
    try:
        results = svc(request).lookup([h.model_dump() for h in body.hashes], body.context)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc
    return JSONResponse({"results": results})


# -- banks ---------------------------------------------------------------------


class BankCreate(BaseModel):
    name: str
    kind: str = "match"
    pdq_threshold: int = 31
    pdq_quality_min: int = 50
    description: str = ""
    source: str = ""


class BankUpdate(BaseModel):
    enabled: bool | None = None
    pdq_threshold: int | None = None
    pdq_quality_min: int | None = None
    description: str | None = None
    source: str | None = None


class Signal(BaseModel):
    signal_type: str
    value: str
    note: str | None = None


class SignalsBody(BaseModel):
    signals: list[Signal] = Field(min_length=1, max_length=100_000)


def _bank_errors(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except BankError as exc:
        raise HTTPException(404 if "no bank named" in str(exc) else 400, str(exc)) from exc
    except (ValueError, TypeError) as exc:
        code = 404 if "no bank named" in str(exc) else 400
        raise HTTPException(code, str(exc)) from exc


@router.get("/v1/banks", tags=["banks"])
def banks_list(request: Request, p: Annotated[Principal, Depends(require("bank.read"))]) -> list[dict]:
    s = svc(request)
    return [s.bank_dict(b.name) for b in s.store.list_banks()]


@router.post("/v1/banks", tags=["banks"], status_code=201)
def banks_create(request: Request, body: BankCreate, p: Annotated[Principal, Depends(require("bank.write"))]) -> dict:
    fields = body.model_dump(exclude={"name"})
    if svc(request).store.get_bank(body.name) is not None:
        raise HTTPException(409, f"bank {body.name!r} exists")
    try:
        return _bank_errors(svc(request).create_bank, body.name, fields, actor=p.name)
    except HTTPException:
        raise
    except Exception as exc:
        raise HTTPException(409, f"bank {body.name!r} exists") from exc


@router.get("/v1/banks/{name}", tags=["banks"])
def bank_get(request: Request, name: str, p: Annotated[Principal, Depends(require("bank.read"))]) -> dict:
    return _bank_errors(svc(request).bank_dict, name)


@router.patch("/v1/banks/{name}", tags=["banks"])
def bank_update(
    request: Request, name: str, body: BankUpdate, p: Annotated[Principal, Depends(require("bank.write"))]
) -> dict:
    fields = body.model_dump(exclude_none=True)
    if not fields:
        raise HTTPException(400, "nothing to change")
    return _bank_errors(svc(request).update_bank, name, fields, actor=p.name)


@router.delete("/v1/banks/{name}", tags=["banks"], status_code=204)
def bank_delete(request: Request, name: str, p: Annotated[Principal, Depends(require("bank.write"))]) -> Response:
    _bank_errors(svc(request).delete_bank, name, actor=p.name)
    return Response(status_code=204)


@router.post("/v1/banks/{name}/signals", tags=["banks"])
def bank_add(
    request: Request, name: str, body: SignalsBody, p: Annotated[Principal, Depends(require("bank.write"))]
) -> dict:
    return _bank_errors(
        svc(request).add_signals, name, [(x.signal_type, x.value, x.note) for x in body.signals], actor=p.name
    )


@router.post("/v1/banks/{name}/signals/remove", tags=["banks"])
def bank_remove(
    request: Request, name: str, body: SignalsBody, p: Annotated[Principal, Depends(require("bank.write"))]
) -> dict:
    by_type: dict[str, list[str]] = {}
    for x in body.signals:
        by_type.setdefault(x.signal_type, []).append(x.value.strip().lower())
    removed = sum(_bank_errors(svc(request).remove_signals, name, t, v, actor=p.name) for t, v in by_type.items())
    return {"removed": removed}


# -- metrics, audit (the probes are in health.py) ------------------------------------------------------


@router.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
def metrics(request: Request, p: Annotated[Principal, Depends(require("metrics"))]) -> PlainTextResponse:
    s = svc(request)
    gauges = {
        "tripline_review_items": (
            "Review items by queue and status",
            {(("queue", k.split("/")[0]), ("status", k.split("/")[1])): v for k, v in s.queue.counts().items()},
        ),
        "tripline_banks": ("Banks", {(): len(s.store.list_banks())}),
    }
    return PlainTextResponse(s.metrics.render(gauges), media_type="text/plain; version=0.0.4")


@router.get("/v1/audit/verify", tags=["audit"])
def audit_verify(
    request: Request, p: Annotated[Principal, Depends(require("audit.read"))], head: str | None = None
) -> dict:
    """``head=SEQ:HASH``: an anchor recorded earlier outside the database."""
    from tripline.audit import parse_anchor

    try:
        expected = parse_anchor(head) if head else None
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc
    return svc(request).audit.verify(expected).to_dict()


@router.get("/v1/audit/export", tags=["audit"])
def audit_export(
    request: Request,
    p: Annotated[Principal, Depends(require("audit.read"))],
    since_seq: int = 0,
    action: str | None = None,
) -> StreamingResponse:
    s = svc(request)
    s.audit.append(p.name, "audit.export", None, {"since_seq": since_seq, "action": action})

    def lines():
        for e in s.audit.entries(since_seq=since_seq, action=action):
            yield json.dumps(e, ensure_ascii=False) + "\n"

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": "attachment; filename=tripline-audit.jsonl"},
    )


# -- legal reports and the evidence vault (docs/reporting.md) ----------------------
# Each route calls ReportService / Vault with the authenticated principal, so
# the reporting side checks the role again (tripline.vault.access); every
# action lands in the audit log. Building needs a human confirmation in the
# review queue; submitting is its own call — nothing here files automatically.


def _report_errors(fn, *a, **kw):
    from tripline.report import (
        DeliveryError,
        IncidentError,
        ReportConflict,
        SchemaInvalid,
    )
    from tripline.review import ItemNotFound
    from tripline.vault import AccessDenied

    try:
        return fn(*a, **kw)
    except AccessDenied as exc:
        raise HTTPException(403, str(exc)) from exc
    except (ItemNotFound, LookupError) as exc:
        raise HTTPException(404, str(exc)) from exc
    except ReportConflict as exc:
        raise HTTPException(409, str(exc)) from exc
    except (IncidentError, SchemaInvalid, ValueError) as exc:
        raise HTTPException(400, str(exc)) from exc
    except DeliveryError as exc:
        raise HTTPException(502, str(exc)) from exc


class ReportBuild(BaseModel):
    item_id: int


@router.post(
    "/v1/reports",
    tags=["reports"],
    status_code=201,
    summary="Build and validate the NCMEC report for a human-confirmed review item (not sent)",
)
def report_build(
    request: Request, body: ReportBuild, p: Annotated[Principal, Depends(require("report.build"))]
) -> dict:
    return _report_errors(svc(request).build_report, body.item_id, p)


@router.get("/v1/reports", tags=["reports"])
def report_list(
    request: Request, p: Annotated[Principal, Depends(require("report.status"))], status: str | None = None
) -> list[dict]:
    return _report_errors(lambda: svc(request).report_service(read_only=True).list(principal=p, status=status))


@router.get("/v1/reports/{sub_id}", tags=["reports"])
def report_status(request: Request, sub_id: int, p: Annotated[Principal, Depends(require("report.status"))]) -> dict:
    return _report_errors(lambda: svc(request).report_service(read_only=True).get(sub_id, principal=p))


@router.post("/v1/reports/{sub_id}/validate", tags=["reports"])
def report_validate(request: Request, sub_id: int, p: Annotated[Principal, Depends(require("report.build"))]) -> dict:
    errors = _report_errors(lambda: svc(request).report_service(read_only=True).validate(sub_id, principal=p))
    svc(request).audit.append(p.name, "report.validate", f"report:{sub_id}", {"valid": not errors})
    return {"id": sub_id, "valid": not errors, "errors": errors}


@router.post(
    "/v1/reports/{sub_id}/submit",
    tags=["reports"],
    summary="Submit a built report to the operator-configured CyberTipline endpoint",
)
def report_submit(request: Request, sub_id: int, p: Annotated[Principal, Depends(require("report.submit"))]) -> dict:
    return _report_errors(svc(request).submit_report, sub_id, p)


class VaultHold(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)


class VaultRelease(BaseModel):
    reason: str = ""


@router.post("/v1/vault", tags=["vault"], status_code=201, summary="Preserve bytes in the evidence vault")
async def vault_put(
    request: Request, p: Annotated[Principal, Depends(require("vault.put"))], reason: str = "", jurisdiction: str = "US"
) -> dict:
    s = svc(request)
    data, _name, _ctx = await read_upload(request, s.cfg.max_upload_bytes)
    if not data or not reason:
        raise HTTPException(400, "send the bytes and a reason")
    rec = _report_errors(lambda: s.vault().put(data, principal=p, reason=reason, jurisdiction=jurisdiction))
    s.audit.append(
        p.name, "vault.put", f"vault:{rec['sha256']}", {"preservation_id": rec["id"], "reason": reason[:500]}
    )
    return rec


@router.get("/v1/vault/{sha256}", tags=["vault"], summary="Preservation records and holds (no content)")
def vault_info(request: Request, sha256: str, p: Annotated[Principal, Depends(require("vault.read_meta"))]) -> dict:
    return _report_errors(lambda: svc(request).vault().info(sha256, principal=p))


@router.get("/v1/vault/{sha256}/content", tags=["vault"], summary="Decrypted content (logged with its purpose)")
def vault_get(
    request: Request, sha256: str, purpose: str, p: Annotated[Principal, Depends(require("vault.get"))]
) -> Response:
    s = svc(request)
    if not purpose.strip():
        raise HTTPException(400, "give a purpose")
    # A person downloading content sees it: it counts against their exposure
    # budget like a reveal in the console (the default per-reveal allowance).
    st = s.exposure.status(p.name, s.budget())
    if st.exhausted or st.must_break:
        raise HTTPException(423, "exposure budget spent: take the break first")
    item_id = s.queue.latest_for_sha(sha256.lower())
    data = _report_errors(lambda: s.vault().get(sha256, principal=p, purpose=purpose))
    if item_id is not None:
        s.exposure.record_reveal(p.name, item_id)
    s.audit.append(p.name, "vault.get", f"vault:{sha256}", {"purpose": purpose[:500]})
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Cache-Control": "no-store, private", "Content-Disposition": "attachment"},
    )


@router.post("/v1/vault/{sha256}/hold", tags=["vault"], status_code=201)
def vault_hold(
    request: Request, sha256: str, body: VaultHold, p: Annotated[Principal, Depends(require("vault.hold"))]
) -> dict:
    s = svc(request)
    hid = _report_errors(lambda: s.vault().hold(sha256, principal=p, reason=body.reason))
    s.audit.append(p.name, "vault.hold", f"vault:{sha256}", {"hold_id": hid, "reason": body.reason[:500]})
    return {"hold_id": hid}


@router.post("/v1/vault/holds/{hold_id}/release", tags=["vault"])
def vault_release(
    request: Request, hold_id: int, body: VaultRelease, p: Annotated[Principal, Depends(require("vault.release"))]
) -> dict:
    s = svc(request)
    _report_errors(lambda: s.vault().release(hold_id, principal=p, reason=body.reason))
    s.audit.append(p.name, "vault.release", f"hold:{hold_id}", {"reason": body.reason[:500]})
    return {"released": hold_id}
