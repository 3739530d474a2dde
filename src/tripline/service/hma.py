"""HMA (hasher-matcher-actioner / OpenMediaMatch) compatible routes.

Same paths, parameters and response shapes as HMA's ``hashing``, ``matching``
and ``curation`` blueprints, so an HMA client (e.g. Coop's integration) works
unchanged, except that Tripline requires an API key (``Authorization: Bearer``
or ``X-API-Key``). Errors are ``{"message": ...}`` as in HMA.

Shapes follow HMA's current documentation (``hasher-matcher-actioner/docs/
api.md``: lookups answer bank name -> ``[{"bank_content_id", "distance"}]``)
and its blueprints. Mapping: an HMA bank is a Tripline bank; ``matching_enabled_ratio`` is 1.0
for an enabled bank and 0.0 for a disabled one (Tripline has no partial
enablement, so a ratio strictly between 0 and 1 is refused); an HMA
``content_id`` is a Tripline bank entry id (the PDQ entry's when content has
several signals). Supported signal types: ``pdq``, ``md5``, ``sha256``;
content type ``photo``. There is no coin flip (``seed`` and ``bypass_coinflip``
are accepted and ignored): a bank matches fully or not at all.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from tripline import signals
from tripline.banks import BankError
from tripline.service.auth import Principal
from tripline.service.security import require
from tripline.service.urlsafe import UnsafeURL, fetch
from tripline.store.models import BankEntry

router = APIRouter(tags=["hma"])

SIGNAL_TYPES = signals.entry_type_names()
DEFAULT_TYPES = ("pdq",)  # what HMA returns for a photo by default
CONTENT_TYPES = ("photo",)


def _svc(request: Request):
    return request.app.state.svc


def _types(request: Request) -> tuple[str, ...]:
    arg = request.query_params.get("types")
    if arg is None:
        return DEFAULT_TYPES
    out = tuple(t.strip() for t in arg.split(",") if t.strip())
    for t in out:
        if t not in SIGNAL_TYPES:
            raise HTTPException(400, f"signal type '{t}' doesn't exist or is disabled")
    if not out:
        raise HTTPException(400, "empty signal type selection")
    return out


def _content_type(name: str) -> None:
    if name not in CONTENT_TYPES:
        raise HTTPException(400, f"no such content_type: '{name}'")


async def _hash(request: Request, data: bytes) -> dict[str, str]:
    rec = await run_in_threadpool(_svc(request).hash_bytes, data)
    if rec.get("error") and not rec.get("md5"):
        raise HTTPException(400, f"cannot hash: {rec['error'].get('code')}")
    if rec.get("error") and rec["error"].get("code") in ("decode_error", "unsupported_type", "truncated"):
        raise HTTPException(400, f"cannot hash: {rec['error'].get('code')}")
    return {t: rec[t] for t in _types(request) if rec.get(t)}


async def _hash_url(request: Request) -> dict[str, str]:
    s = _svc(request)
    url = request.query_params["url"]
    if not s.cfg.allow_url_fetch:
        raise HTTPException(400, "URL fetching is disabled on this server (operator setting allow_url_fetch)")
    try:
        data, ctype = await run_in_threadpool(
            fetch, url, allow_private=s.cfg.allow_private_urls, max_bytes=s.cfg.url_fetch_max_bytes
        )
    except UnsafeURL as exc:
        raise HTTPException(400, str(exc)) from exc
    except OSError as exc:
        raise HTTPException(502, f"cannot fetch URL: {type(exc).__name__}") from exc
    content_type = request.query_params.get("content_type")
    if not content_type:
        if not ctype.lower().startswith("image"):
            raise HTTPException(
                400,
                f"unsupported url ContentType: '{ctype}', if you know the expected type, "
                "provide it with the content_type query param",
            )
        content_type = "photo"
    _content_type(content_type)
    return await _hash(request, data)


async def _hash_form(request: Request) -> dict[str, str]:
    form = await request.form(max_part_size=_svc(request).cfg.max_upload_bytes)
    files = [(k, v) for k, v in form.multi_items() if hasattr(v, "read")]
    if not files:
        raise HTTPException(400, "Missing multipart/form-data file upload")
    if len(files) > 1:
        raise HTTPException(400, "Only one file allowed per request")
    field, upload = files[0]
    _content_type(field)
    return await _hash(request, await upload.read())


# -- hashing ---------------------------------------------------------------------


@router.get("/h/hash")
async def hash_get(request: Request, p: Annotated[Principal, Depends(require("hash"))]) -> dict:
    if not request.query_params.get("url"):
        raise HTTPException(400, "url is required")
    return await _hash_url(request)


@router.post("/h/hash")
async def hash_post(request: Request, p: Annotated[Principal, Depends(require("hash"))]) -> dict:
    return await _hash_form(request)


# -- matching ---------------------------------------------------------------------


def _entries_for(s, signal_type: str, signal: str) -> list[tuple[str, int, int]]:
    """(bank, entry id, distance) for one signal, over enabled banks."""
    if signal_type not in SIGNAL_TYPES:
        raise HTTPException(400, f"No such SignalType '{signal_type}'")
    try:
        results = s.lookup([{signal_type: signal}])
    except ValueError as exc:
        raise HTTPException(400, f"invalid signal type: {exc}") from exc
    return [
        (m["bank"], m["entry_id"], m["distance"])
        for m in results[0]["matches"]
        if m["bank_kind"] == "match" and not m["suppressed"]
    ]


def _banks_param(request: Request) -> set[str] | None:
    raw = request.query_params.get("banks")
    return {b for b in raw.split(",") if b} if raw else None


def _by_bank(s, signal_type: str, signal: str, banks: set[str] | None) -> dict[str, list[dict]]:
    """HMA's lookup shape: bank name -> [{"bank_content_id", "distance"}]."""
    out: dict[str, list[dict]] = {}
    for bank, entry, dist in _entries_for(s, signal_type, signal):
        if banks is None or bank in banks:
            out.setdefault(bank, []).append({"bank_content_id": entry, "distance": str(dist)})
    return out


def _require_param(request: Request, name: str) -> str:
    v = request.query_params.get(name)
    if not v:
        raise HTTPException(400, f"{name} is required")
    return v


@router.get("/m/raw_lookup")
def raw_lookup(request: Request, p: Annotated[Principal, Depends(require("lookup"))]) -> dict:
    signal = _require_param(request, "signal")
    signal_type = _require_param(request, "signal_type")
    with_distance = request.query_params.get("include_distance", "false").lower() in ("true", "1", "yes")
    banks = _banks_param(request)
    found = [(b, e, d) for b, e, d in _entries_for(_svc(request), signal_type, signal) if banks is None or b in banks]
    if with_distance:
        return {"matches": [{"bank_content_id": e, "distance": str(d)} for _, e, d in found]}
    return {"matches": [e for _, e, _ in found]}


@router.get("/m/lookup")
async def lookup_get(request: Request, p: Annotated[Principal, Depends(require("lookup"))]):
    s = _svc(request)
    banks = _banks_param(request)
    if request.query_params.get("url"):
        hashes = await _hash_url(request)
        resp = {t: _by_bank(s, t, v, banks) for t, v in hashes.items()}
        selected = request.query_params.get("signal_type")
        return resp.get(selected, {}) if selected else resp
    signal = request.query_params.get("signal")
    signal_type = request.query_params.get("signal_type")
    if not signal or not signal_type:
        raise HTTPException(400, "Either url or both signal and signal_type are required")
    return _by_bank(s, signal_type, signal, banks)


@router.post("/m/lookup")
async def lookup_post(request: Request, p: Annotated[Principal, Depends(require("lookup"))]) -> dict:
    s = _svc(request)
    hashes = await _hash_form(request)
    banks = _banks_param(request)
    return {t: _by_bank(s, t, v, banks) for t, v in hashes.items()}


@router.post("/m/compare")
async def compare(request: Request, p: Annotated[Principal, Depends(require("lookup"))]) -> dict:
    """{"pdq": [a, b]} -> {"pdq": [matched, {"distance": d}]} (PDQ at the
    default threshold 31; MD5/SHA-256 match when equal)."""
    data = await _json(request)
    out = {}
    for stype, pair in data.items():
        if stype not in SIGNAL_TYPES:
            raise HTTPException(400, f"No such SignalType '{stype}'")
        if not isinstance(pair, list) or len(pair) != 2:
            raise HTTPException(400, "Comparison hash list length must be exactly 2")
        from tripline.banks import validate_signal

        try:
            a, b = (validate_signal(stype, str(x)) for x in pair)
        except ValueError as exc:
            raise HTTPException(400, f"Invalid {stype} hash: {exc}") from exc
        if stype == "pdq":
            d = (int(a, 16) ^ int(b, 16)).bit_count()
            out[stype] = [d <= 31, {"distance": d}]
        else:
            out[stype] = [a == b, {"distance": 0 if a == b else 1}]
    return out


@router.get("/m/index/status")
def index_status(request: Request, p: Annotated[Principal, Depends(require("lookup"))]) -> dict:
    s = _svc(request)
    status = {}
    limit = request.query_params.get("signal_type")
    if limit is not None and limit not in SIGNAL_TYPES:
        raise HTTPException(400, f"No such signal type '{limit}'")
    rows = [b for b in s.store.list_banks() if b.enabled]
    for stype in [limit] if limit else SIGNAL_TYPES:
        size = sum(s.store.count_entries(b.name).get(stype, {}).get("enabled", 0) for b in rows)
        built = max((int(b.updated_at.timestamp()) for b in rows), default=-1)
        status[stype] = {"present": size > 0, "built_to": built if size else -1, "size": size}
    return status


@router.get("/status", response_class=PlainTextResponse)
def status(request: Request, p: Annotated[Principal, Depends(require("health"))]) -> str:
    return "I-AM-ALIVE"


@router.get("/c/signal_type")
def signal_types(request: Request, p: Annotated[Principal, Depends(require("bank.read"))]) -> list[dict]:
    return [{"name": t, "enabled_ratio": 1.0} for t in SIGNAL_TYPES]


# -- curation ---------------------------------------------------------------------


def _bank_json(row) -> dict:
    return {"name": row.name, "matching_enabled_ratio": 1.0 if row.enabled else 0.0}


def _ratio(data: dict) -> bool | None:
    if "enabled_ratio" in data:
        try:
            r = float(data["enabled_ratio"])
        except (TypeError, ValueError) as exc:
            raise HTTPException(400, "enabled_ratio must be a number") from exc
        if r not in (0.0, 1.0):
            raise HTTPException(400, "this server supports enabled_ratio 0 or 1 only")
        return r == 1.0
    if "enabled" in data:
        v = data["enabled"]
        return v if isinstance(v, bool) else str(v).lower() in ("true", "1", "yes")
    return None


async def _json(request: Request) -> dict:
    try:
        data = await request.json()
    except ValueError as exc:
        raise HTTPException(400, "expected a JSON body") from exc
    if not isinstance(data, dict):
        raise HTTPException(400, "this endpoint expects a json object payload")
    return data


@router.get("/c/banks")
def banks_index(request: Request, p: Annotated[Principal, Depends(require("bank.read"))]) -> list[dict]:
    return [_bank_json(b) for b in _svc(request).store.list_banks()]


@router.post("/c/banks", status_code=201)
async def bank_create(request: Request, p: Annotated[Principal, Depends(require("bank.write"))]):
    s = _svc(request)
    data = await _json(request)
    name = data.get("name")
    if not name:
        raise HTTPException(400, "name is required")
    enabled = _ratio(data)
    if s.store.get_bank(name) is not None:
        raise HTTPException(403, "Bank already exists")
    try:
        s.create_bank(name, {}, actor=p.name)
        if enabled is False:
            s.update_bank(name, {"enabled": False}, actor=p.name)
    except (BankError, ValueError) as exc:
        raise HTTPException(400, str(exc)) from exc
    return JSONResponse(_bank_json(s.banks.get(name)), status_code=201)


def _get_bank(s, name: str):
    row = s.store.get_bank(name)
    if row is None:
        raise HTTPException(404, f"bank '{name}' not found")
    return row


@router.get("/c/bank/{bank_name}")
def bank_show(request: Request, bank_name: str, p: Annotated[Principal, Depends(require("bank.read"))]) -> dict:
    return _bank_json(_get_bank(_svc(request), bank_name))


@router.put("/c/bank/{bank_name}")
async def bank_update(request: Request, bank_name: str, p: Annotated[Principal, Depends(require("bank.write"))]):
    s = _svc(request)
    if s.store.get_bank(bank_name) is None:
        raise HTTPException(404, "Bank not found")
    data = await _json(request)
    if "name" in data and data["name"] != bank_name:
        raise HTTPException(400, "renaming banks is not supported by this server")
    enabled = _ratio(data)
    if enabled is not None:
        s.update_bank(bank_name, {"enabled": enabled}, actor=p.name)
    return _bank_json(s.banks.get(bank_name))


@router.delete("/c/bank/{bank_name}")
def bank_delete(request: Request, bank_name: str, p: Annotated[Principal, Depends(require("bank.write"))]) -> dict:
    s = _svc(request)
    if s.store.get_bank(bank_name) is not None:
        s.delete_bank(bank_name, actor=p.name)
    return {"message": "Done"}


def _add(s, bank: str, hashes: dict[str, str], metadata: dict | None, actor: str) -> dict:
    if not hashes:
        raise HTTPException(400, "No signals given")
    note = json.dumps(metadata, sort_keys=True) if metadata else None
    clean = {}
    for t, v in hashes.items():
        if t not in SIGNAL_TYPES:
            raise HTTPException(400, f"No such signal type {t}")
        try:
            from tripline.banks import validate_signal

            clean[t] = validate_signal(t, str(v))
        except ValueError as exc:
            raise HTTPException(400, f"Invalid {t} signal: {exc}") from exc
    s.add_signals(bank, [(t, v, note) for t, v in clean.items()], actor=actor)
    t = BankEntry.__table__
    row = s.store.get_bank(bank)
    first = "pdq" if "pdq" in clean else next(iter(clean))
    with s.engine.connect() as conn:
        content_id = conn.execute(
            select(t.c.id).where(t.c.bank_id == row.id, t.c.signal_type == first, t.c.value == clean[first])
        ).scalar_one()
    return {"id": content_id, "signals": clean}


def _metadata(request: Request) -> dict | None:
    raw = request.query_params.get("metadata")
    if not raw:
        return None
    try:
        md = json.loads(raw)
    except ValueError as exc:
        raise HTTPException(400, "metadata should be a json object") from exc
    if not isinstance(md, dict):
        raise HTTPException(400, "metadata should be a json object")
    unexpected = set(md) - {"content_id", "content_uri", "json"}
    if unexpected:
        raise HTTPException(400, f"metadata contains unexpected keys: {' ,'.join(sorted(unexpected))}")
    return md


@router.post("/c/bank/{bank_name}/content")
async def bank_add_content(
    request: Request, bank_name: str, p: Annotated[Principal, Depends(require("bank.write"))]
) -> dict:
    s = _svc(request)
    _get_bank(s, bank_name)
    metadata = _metadata(request)
    if request.query_params.get("url"):
        hashes = await _hash_url(request)
    elif request.headers.get("content-type", "").startswith("multipart/form-data"):
        hashes = await _hash_form(request)
    else:
        raise HTTPException(400, "Neither `url` nor multipart file upload was received")
    return _add(s, bank_name, hashes, metadata, p.name)


@router.get("/c/bank/{bank_name}/content/{content_id}")
def bank_get_content(
    request: Request, bank_name: str, content_id: int, p: Annotated[Principal, Depends(require("bank.read"))]
) -> dict:
    s = _svc(request)
    row = _get_bank(s, bank_name)
    t = BankEntry.__table__
    with s.engine.connect() as conn:
        e = conn.execute(
            select(t.c.signal_type, t.c.value, t.c.enabled).where(t.c.id == content_id, t.c.bank_id == row.id)
        ).first()
    if e is None:
        raise HTTPException(404, f"content '{content_id}' not found")
    out = {
        "id": content_id,
        "disable_until_ts": 0 if e.enabled else -1,
        "collab_metadata": {},
        "original_media_uri": None,
        "bank": _bank_json(row),
    }
    if request.query_params.get("include_signals", "false").lower() == "true":
        out["signals"] = {e.signal_type: e.value}
    return out


@router.delete("/c/bank/{bank_name}/content/{content_id}")
def bank_delete_content(
    request: Request, bank_name: str, content_id: int, p: Annotated[Principal, Depends(require("bank.write"))]
) -> dict:
    s = _svc(request)
    row = _get_bank(s, bank_name)
    t = BankEntry.__table__
    with s.engine.connect() as conn:
        e = conn.execute(select(t.c.signal_type, t.c.value).where(t.c.id == content_id, t.c.bank_id == row.id)).first()
    if e is None:
        return {"deleted": 0}
    return {"deleted": s.remove_signals(bank_name, e.signal_type, [e.value], actor=p.name)}


@router.post("/c/bank/{bank_name}/signal")
async def bank_add_signal(
    request: Request, bank_name: str, p: Annotated[Principal, Depends(require("bank.write"))]
) -> dict:
    s = _svc(request)
    _get_bank(s, bank_name)
    data = await _json(request)
    return _add(s, bank_name, {str(k): str(v) for k, v in data.items()}, None, p.name)
