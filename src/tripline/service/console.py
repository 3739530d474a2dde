"""The review console: server-rendered pages and a small JS layer.

Reviewer protection: media is blurred and grayscale by default (a
server-side blurred derivative, so raw pixels are not sent until reveal, and
a CSS filter on top); revealing takes a click on the Reveal button, is
logged, and counts against the exposure budget; nothing reveals on hover;
zoom scales the same filtered image; video is muted with no autoplay.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from tripline.review import CLASSIFICATIONS, ClaimConflict, ItemNotFound
from tripline.review.queue import generative_ai_suggestion
from tripline.service.auth import Principal
from tripline.service.roles import allowed, review_queues
from tripline.service.security import SESSION_COOKIE, client_ip, principal_of, require, same_origin
from tripline.store.models import utcnow

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _svc(request: Request):
    return request.app.state.svc


def _render(request: Request, name: str, p: Principal | None, status: int = 200, **ctx) -> HTMLResponse:
    ctx.update(request=request, me=p, csrf=p.csrf if p else "", can=lambda perm: bool(p) and allowed(p.roles, perm))
    resp = templates.TemplateResponse(request, name, ctx, status_code=status)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _login_signer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_svc(request).cfg.secret(), salt="tripline-login")


# -- login ------------------------------------------------------------------------

LOGIN_COOKIE = "tripline_login"


@router.get("/login")
def login_form(request: Request, error: str = "") -> HTMLResponse:
    # The form token is bound to a cookie set here, so a page elsewhere cannot
    # post a login (into the attacker's account) from the victim's browser.
    nonce = secrets.token_urlsafe(16)
    token = _login_signer(request).dumps(nonce)
    resp = _render(request, "login.html", None, login_token=token, error=error)
    resp.set_cookie(
        LOGIN_COOKIE,
        nonce,
        httponly=True,
        secure=_svc(request).cfg.cookie_secure,
        samesite="strict",
        max_age=3600,
        path="/login",
    )
    return resp


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    login_token: Annotated[str, Form()] = "",
) -> Response:
    s = _svc(request)
    if not same_origin(request):
        raise HTTPException(403, "cross-origin login refused")
    try:
        nonce = _login_signer(request).loads(login_token, max_age=3600)
    except (BadSignature, SignatureExpired):
        raise HTTPException(403, "stale login form; reload the page") from None
    if not secrets.compare_digest(str(nonce), request.cookies.get(LOGIN_COOKIE, "")):
        raise HTTPException(403, "login form was not loaded in this browser; reload the page")
    ip = client_ip(request)
    # Per address first (one address trying many usernames), then per
    # address and username; both before any scrypt or audit row is spent.
    if not request.app.state.login_addr_limiter.allow(ip) or not request.app.state.login_limiter.allow(
        f"{ip}|{username}"
    ):
        raise HTTPException(429, "too many login attempts; wait a minute")
    username = username[:64]
    user = s.accounts.authenticate(username, password)
    if user is None:
        s.audit.append(username[:64] or "?", "auth.login_failed", None, {"ip": client_ip(request)})
        return RedirectResponse("/login?error=1", status_code=303)
    token, _csrf = s.accounts.create_session(user["id"])
    s.audit.append(user["username"], "auth.login", None, {"ip": client_ip(request)})
    home = "/review" if allowed(user["roles"], "review") else "/home"
    resp = RedirectResponse(home, status_code=303)
    resp.set_cookie(
        SESSION_COOKIE, token, httponly=True, secure=s.cfg.cookie_secure, samesite="strict", max_age=10 * 3600, path="/"
    )
    return resp


@router.post("/logout")
def logout(request: Request, p: Annotated[Principal, Depends(require("health", html=True))]) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        _svc(request).accounts.end_session(token)
    _svc(request).audit.append(p.name, "auth.logout", None, {})
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.get("/")
def root(request: Request) -> Response:
    p = principal_of(request)
    if p is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse("/review" if allowed(p.roles, "review") else "/home", status_code=303)


@router.get("/home")
def home(request: Request, p: Annotated[Principal, Depends(require("health", html=True))]) -> HTMLResponse:
    return _render(request, "home.html", p)


# -- queue --------------------------------------------------------------------------


def _age(iso: str) -> str:
    mins = int((utcnow() - datetime.fromisoformat(iso)).total_seconds() // 60)
    return f"{mins // 60}h {mins % 60:02d}m" if mins >= 60 else f"{mins}m"


def _break_needed(request: Request, p: Principal) -> bool:
    s = _svc(request)
    st = s.exposure.status(p.name, s.budget())
    if st.exhausted and not st.on_break:
        s.exposure.start_break(p.name)
        s.audit.append(p.name, "wellbeing.break_forced", None, st.to_dict())
        return True
    return st.must_break


@router.get("/review")
def queue_page(request: Request, p: Annotated[Principal, Depends(require("review", html=True))]) -> Response:
    if _break_needed(request, p):
        return RedirectResponse("/review/break", status_code=303)
    s = _svc(request)
    rows = s.queue.list(review_queues(p.roles), username=p.name)
    for r in rows:
        r["age"] = _age(r["created_at"])
        r["summary"] = _summary(r)
    st = s.exposure.status(p.name, s.budget())
    return _render(request, "queue.html", p, items=rows, exposure=st.to_dict())


def _summary(item: dict) -> str:
    rec = item["record"]
    parts = []
    banks = sorted({m["bank"] for m in rec.get("matches") or [] if not m.get("suppressed")})
    if banks:
        parts.append("bank match: " + ", ".join(banks))
    fired = [f["rule"] for f in item["decision"].get("fired") or []]
    if fired:
        parts.append("rules: " + ", ".join(fired))
    return "; ".join(parts) or "policy review"


def _item_for(request: Request, p: Principal, item_id: int) -> dict:
    try:
        item = _svc(request).queue.get(item_id)
    except ItemNotFound:
        raise HTTPException(404, "no such item") from None
    if item["queue"] not in review_queues(p.roles):
        raise HTTPException(403, "this item is in a queue your role cannot see")
    return item


@router.get("/review/items/{item_id}")
def item_page(
    request: Request, item_id: int, p: Annotated[Principal, Depends(require("review", html=True))]
) -> Response:
    if _break_needed(request, p):
        return RedirectResponse("/review/break", status_code=303)
    s = _svc(request)
    item = _item_for(request, p, item_id)
    s.audit.append(p.name, "review.view", f"item:{item_id}", {"queue": item["queue"]})
    claimed = item["claimed_by"] == p.name and s.queue.holds_claim(item_id, p.name)
    blur_url = f"/media/{s.signer.sign(item_id, 'blur', p.name)}"
    rec = item["record"]
    report, report_check = None, None
    if allowed(p.roles, "report.status"):
        report = s.report_for_item(item_id, p)
        if report is not None and allowed(p.roles, "report.build"):
            errors = s.report_service(read_only=True).validate(report["id"], principal=p)
            report_check = {"valid": not errors, "errors": errors}
    return _render(
        request,
        "item.html",
        p,
        item=item,
        rec=rec,
        claimed=claimed,
        blur_url=blur_url,
        report=report,
        report_check=report_check,
        blur_px=max(6, s.blur_for(p.blur_strength) // 3),
        is_video=(rec.get("media_type") or "").startswith("video"),
        classifications=CLASSIFICATIONS,
        genai=generative_ai_suggestion(rec),
        banks=[b.name for b in s.store.list_banks() if b.kind == "match"],
        context=item.get("context") or {},
        decision=item["decision"],
        exposure=s.exposure.status(p.name, s.budget()).to_dict(),
        pretty=lambda v: json.dumps(v, indent=1, ensure_ascii=False, default=str),
    )


def _conflict(fn, *a, **kw):
    try:
        return fn(*a, **kw)
    except ClaimConflict as exc:
        raise HTTPException(409, str(exc)) from exc
    except ItemNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc


@router.post("/review/items/{item_id}/claim")
def claim(request: Request, item_id: int, p: Annotated[Principal, Depends(require("review", html=True))]) -> Response:
    if _break_needed(request, p):
        return RedirectResponse("/review/break", status_code=303)
    _item_for(request, p, item_id)
    _conflict(_svc(request).queue.claim, item_id, p.name)
    return RedirectResponse(f"/review/items/{item_id}", status_code=303)


@router.post("/review/items/{item_id}/reveal")
def reveal(
    request: Request, item_id: int, p: Annotated[Principal, Depends(require("review", html=True))]
) -> JSONResponse:
    s = _svc(request)
    item = _item_for(request, p, item_id)
    if not s.queue.holds_claim(item_id, p.name):
        raise HTTPException(409, "claim the item before revealing it")
    if _break_needed(request, p):
        return JSONResponse({"break": "/review/break"}, status_code=423)
    reveal_id = s.exposure.record_reveal(p.name, item_id)
    s.audit.append(p.name, "review.reveal", f"item:{item_id}", {"reveal_id": reveal_id, "sha256": item["sha256"]})
    st = s.exposure.status(p.name, s.budget())
    return JSONResponse(
        {
            "url": f"/media/{s.signer.sign(item_id, 'raw', p.name, reveal_id=reveal_id)}",
            "reveal_id": reveal_id,
            "exposure": st.to_dict(),
        }
    )


@router.post("/review/items/{item_id}/hide")
async def hide(request: Request, item_id: int, p: Annotated[Principal, Depends(require("review", html=True))]) -> dict:
    # JSON from the "Blur again" button, or a form beacon when the page is left.
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.json()
    else:
        body = dict(await request.form())
    try:
        reveal_id = int(body.get("reveal_id") or 0)
    except (TypeError, ValueError):
        raise HTTPException(400, "reveal_id must be an integer") from None
    s = _svc(request)
    seconds = s.exposure.record_hide(p.name, reveal_id)
    if seconds is not None:
        s.audit.append(p.name, "review.hide", f"item:{item_id}", {"reveal_id": reveal_id, "seconds": seconds})
    return {"ok": True, "seconds": seconds, "must_break": s.exposure.status(p.name, s.budget()).must_break}


@router.post("/review/items/{item_id}/decide")
def decide(
    request: Request,
    item_id: int,
    p: Annotated[Principal, Depends(require("review", html=True))],
    outcome: Annotated[str, Form()],
    classification: Annotated[str, Form()] = "",
    generative_ai: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    bank: Annotated[str, Form()] = "",
    tags: Annotated[str, Form()] = "",
) -> Response:
    s = _svc(request)
    item = _item_for(request, p, item_id)
    annotations = {
        "generativeAi": generative_ai in ("on", "true", "1", "yes"),
        "tags": [t.strip() for t in tags.split(",") if t.strip()][:20],
    }
    if outcome == "add_to_bank":
        _add_to_bank(request, p, item, bank)
    _conflict(
        s.queue.decide,
        item_id,
        p.name,
        outcome,
        classification=classification or None,
        annotations=annotations,
        note=note,
        bank=bank or None,
    )
    return RedirectResponse("/review", status_code=303)


def _add_to_bank(request: Request, p: Principal, item: dict, bank: str) -> None:
    # An allow-list entry suppresses every match on an item, so a reviewer
    # who could write one could silence detection: only match banks, and only
    # for roles that may write banks at all (the bank API's own rule).
    s = _svc(request)
    if not allowed(p.roles, "bank.write"):
        s.audit.append(p.name, "review.add_to_bank_refused", f"item:{item['id']}", {"bank": bank[:100]})
        raise HTTPException(403, "your role does not allow bank.write")
    row = s.store.get_bank(bank) if bank else None
    if row is None or row.kind != "match":
        raise HTTPException(400, "add to bank takes the name of an existing match bank")
    if not s.queue.holds_claim(item["id"], p.name):
        raise HTTPException(409, "claim the item first")
    rec = item["record"]
    sigs = [(t, rec[t], f"review item {item['id']}") for t in ("pdq", "md5") if rec.get(t)]
    try:
        res = s.add_signals(bank, sigs, actor=p.name)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc
    s.audit.append(p.name, "review.add_to_bank", f"item:{item['id']}", {"bank": bank, "added": res["added"]})


@router.post("/review/items/{item_id}/skip")
def skip(request: Request, item_id: int, p: Annotated[Principal, Depends(require("review", html=True))]) -> Response:
    _item_for(request, p, item_id)
    _conflict(_svc(request).queue.skip, item_id, p.name)
    return RedirectResponse("/review", status_code=303)


@router.post("/review/items/{item_id}/reassign")
def reassign(
    request: Request,
    item_id: int,
    p: Annotated[Principal, Depends(require("review", html=True))],
    to: Annotated[str, Form()] = "",
) -> Response:
    item = _item_for(request, p, item_id)
    to = to.strip()
    if to:
        # An item assigned to someone who cannot open its queue vanishes from
        # every queue: only existing, enabled users who can see it.
        roles = _svc(request).accounts.enabled_roles(to)
        if roles is None:
            raise HTTPException(400, f"no enabled user named {to[:64]!r}")
        if item["queue"] not in review_queues(roles):
            raise HTTPException(400, f"{to[:64]} cannot see the {item['queue']} queue")
    _conflict(_svc(request).queue.reassign, item_id, p.name, to or None, manager=allowed(p.roles, "review.manage"))
    return RedirectResponse("/review", status_code=303)


# -- legal reports (docs/reporting.md) --------------------------------------------------
# A human confirmation (above) makes an item reportable; building the report and
# submitting it to NCMEC are two further, separate clicks by a child-safety role.


def _report_call(fn, *a, **kw):
    from tripline.service.api import _report_errors

    return _report_errors(fn, *a, **kw)


@router.post("/review/items/{item_id}/report/build")
def report_build(
    request: Request, item_id: int, p: Annotated[Principal, Depends(require("report.build", html=True))]
) -> Response:
    _item_for(request, p, item_id)
    _report_call(_svc(request).build_report, item_id, p)
    return RedirectResponse(f"/review/items/{item_id}#report", status_code=303)


@router.post("/console/reports/{sub_id}/submit")
def report_submit(
    request: Request,
    sub_id: int,
    p: Annotated[Principal, Depends(require("report.submit", html=True))],
    item_id: Annotated[str, Form()] = "",
) -> Response:
    _report_call(_svc(request).submit_report, sub_id, p)
    back = f"/review/items/{int(item_id)}#report" if item_id.isdigit() else "/console/reports"
    return RedirectResponse(back, status_code=303)


@router.get("/console/reports")
def reports_page(
    request: Request, p: Annotated[Principal, Depends(require("report.status", html=True))], status: str = ""
) -> HTMLResponse:
    s = _svc(request)
    rows = _report_call(lambda: s.report_service(read_only=True).list(principal=p, status=status or None))
    s.audit.append(p.name, "report.list_viewed", None, {"status": status or None, "count": len(rows)})
    return _render(request, "reports.html", p, reports=list(reversed(rows)), status_filter=status)


# -- wellbeing --------------------------------------------------------------------------


@router.get("/review/break")
def break_page(request: Request, p: Annotated[Principal, Depends(require("review", html=True))]) -> HTMLResponse:
    s = _svc(request)
    _break_needed(request, p)  # starts (and logs) the break if the budget is spent
    st = s.exposure.status(p.name, s.budget())
    return _render(
        request,
        "break.html",
        p,
        exposure=st.to_dict(),
        seconds_left=max(0, int((st.break_ends_at - utcnow()).total_seconds())) if st.break_ends_at else 0,
    )


@router.post("/review/break/done")
def break_done(request: Request, p: Annotated[Principal, Depends(require("review", html=True))]) -> Response:
    s = _svc(request)
    if not s.exposure.end_break(p.name, s.budget()):
        return RedirectResponse("/review/break", status_code=303)
    s.audit.append(p.name, "wellbeing.break_done", None, {})
    return RedirectResponse("/review", status_code=303)


@router.get("/wellbeing")
def wellbeing(request: Request, p: Annotated[Principal, Depends(require("wellbeing.view", html=True))]) -> HTMLResponse:
    s = _svc(request)
    reviewers = [u["username"] for u in s.accounts.users() if allowed(u["roles"], "review")]
    return _render(request, "wellbeing.html", p, view=s.exposure.overview(reviewers, s.budget()))


# -- settings ----------------------------------------------------------------------------


@router.get("/settings")
def settings_page(request: Request, p: Annotated[Principal, Depends(require("health", html=True))]) -> HTMLResponse:
    s = _svc(request)
    return _render(request, "settings.html", p, org=s.org_settings(), mine=p.blur_strength)


@router.post("/settings/me")
def settings_me(
    request: Request,
    p: Annotated[Principal, Depends(require("review", html=True))],
    blur_strength: Annotated[str, Form()] = "",
) -> Response:
    v = max(8, min(64, int(blur_strength))) if blur_strength.strip() else None
    _svc(request).accounts.set_user_blur(p.name, v, actor=p.name)
    return RedirectResponse("/settings", status_code=303)


@router.post("/settings/org")
def settings_org(
    request: Request,
    p: Annotated[Principal, Depends(require("settings.write", html=True))],
    blur_strength: Annotated[int, Form()],
    reveals: Annotated[int, Form()],
    minutes: Annotated[int, Form()],
    break_minutes: Annotated[int, Form()],
) -> Response:
    _svc(request).set_org_settings(
        {
            "blur_strength": blur_strength,
            "budget": {"reveals": reveals, "minutes": minutes, "break_minutes": break_minutes},
        },
        actor=p.name,
    )
    return RedirectResponse("/settings", status_code=303)


# -- media ---------------------------------------------------------------------------------


@router.get("/media/{token}")
def media(request: Request, token: str, p: Annotated[Principal, Depends(require("review", html=True))]) -> Response:
    s = _svc(request)
    claims = s.signer.load(token)
    if claims is None or claims.get("u") != p.name:
        raise HTTPException(403, "media link expired or not yours")
    item = _item_for(request, p, int(claims["i"]))
    if claims["v"] == "raw":
        if not s.queue.holds_claim(item["id"], p.name):
            raise HTTPException(403, "claim lost")
        # A raw link lives only as long as its reveal: "Blur again" ends it.
        if not isinstance(claims.get("r"), int) or not s.exposure.is_open(p.name, claims["r"]):
            raise HTTPException(403, "this reveal has ended; reveal again")
        data = s.media.revealed(item["sha256"])
        s.audit.append(p.name, "media.raw_served", f"item:{item['id']}", {})
    else:
        data = s.media.blurred(item["sha256"], s.blur_for(p.blur_strength))
    if data is None:
        raise HTTPException(404, "media not kept for this item")
    return Response(
        data,
        media_type="image/jpeg",
        headers={
            "Cache-Control": "no-store, private",
            "Content-Disposition": "inline",
            "X-Content-Type-Options": "nosniff",
        },
    )
