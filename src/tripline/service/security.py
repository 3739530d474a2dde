"""Authentication, authorisation, CSRF and rate limiting as FastAPI dependencies."""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from tripline.service.auth import Principal
from tripline.service.roles import allowed

SESSION_COOKIE = "tripline_session"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _networks(cfg) -> list:
    nets = getattr(cfg, "_trusted_proxy_nets", None)
    if nets is None:
        nets = [ipaddress.ip_network(p, strict=False) for p in getattr(cfg, "trusted_proxies", None) or []]
        cfg._trusted_proxy_nets = nets
    return nets


def _trusted(addr: str, nets: list) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in n for n in nets)


def client_ip(request: Request) -> str:
    """The client's address: the peer, or, when the peer is a configured
    trusted proxy, the rightmost X-Forwarded-For entry that is not one (the
    leftmost entries are whatever the client chose to send)."""
    peer = request.client.host if request.client else "?"
    nets = _networks(request.app.state.svc.cfg)
    if not nets or not _trusted(peer, nets):
        return peer
    chain = [a.strip() for a in request.headers.get("x-forwarded-for", "").split(",") if a.strip()]
    for addr in reversed(chain):
        if not _trusted(addr, nets):
            return addr
    return peer


def same_origin(request: Request) -> bool:
    """Origin (or Referer) absent, or this host, or an operator-trusted origin."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return True
    o = urlsplit(origin)
    return (
        o.netloc == request.headers.get("host", "")
        or f"{o.scheme}://{o.netloc}" in request.app.state.svc.cfg.trusted_origins
    )


def principal_of(request: Request) -> Principal | None:
    if "principal" in request.state._state:
        return request.state.principal
    svc = request.app.state.svc
    p = None
    auth = request.headers.get("authorization", "")
    key = auth[7:].strip() if auth[:7].lower() == "bearer " else request.headers.get("x-api-key")
    if key:
        p = svc.accounts.key_principal(key.strip())
        if p is None:
            _failed(request)
    else:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            p = svc.accounts.session_principal(token)
    request.state.principal = p
    return p


def _failed(request: Request) -> None:
    # Wrong keys cost tokens from a per-address bucket, so guessing is slow.
    if not request.app.state.auth_failures.allow(client_ip(request)):
        raise HTTPException(429, "too many failed authentications")


async def _check_csrf(request: Request, p: Principal) -> None:
    if p.kind != "session" or request.method in SAFE_METHODS:
        return
    if not same_origin(request):
        raise HTTPException(403, "cross-origin request refused")
    token = request.headers.get("x-csrf-token")
    if token is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        token = form.get("csrf_token")
    if not token or not p.csrf or not hmac.compare_digest(str(token), p.csrf):
        raise HTTPException(403, "missing or wrong CSRF token")


def require(permission: str, *, html: bool = False):
    """Dependency: an authenticated principal holding ``permission``."""

    async def dep(request: Request) -> Principal:
        p = principal_of(request)
        if p is None:
            if not request.app.state.anon_limiter.allow(client_ip(request)):
                raise HTTPException(429, "rate limit exceeded")
            if html:
                raise HTTPException(303, headers={"Location": "/login"})
            raise HTTPException(401, "authentication required", headers={"WWW-Authenticate": "Bearer"})
        if not request.app.state.limiter.allow(p.name):
            raise HTTPException(429, "rate limit exceeded", headers={"Retry-After": "1"})
        if not allowed(p.roles, permission):
            raise HTTPException(403, f"your role does not allow {permission}")
        await _check_csrf(request, p)
        return p

    dep.__name__ = f"require_{permission.replace('.', '_').replace('-', '_')}"
    return dep
