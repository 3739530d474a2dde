"""Authenticate before any request body is read, and cap every body.

FastAPI reads and parses a route's body before it runs the route's
dependencies, so without this an unauthenticated client could make the server
buffer any number of bytes before hearing 401. This pure ASGI middleware runs
first: a request that may carry a body is authenticated from its headers
alone (API key or session cookie); a declared ``Content-Length`` over the
route's cap is refused at once, and a streamed (chunked) body is cut off at
the cap, so memory per request is bounded by the cap.
"""

from __future__ import annotations

import json
import re

from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from tripline.service.security import client_ip, principal_of

BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Routes anyone may post to: the login form only.
ANONYMOUS = {"/login"}
LOGIN_MAX = 16 * 1024
FORM_MAX = 64 * 1024
JSON_MAX = 1024 * 1024
# Bank bulk signal lists (up to 100 000 hashes with notes).
BULK_MAX = 32 * 1024 * 1024
_UPLOAD = re.compile(r"^/(v1/scan|v1/vault|h/hash|c/bank/[^/]+/content)$")
_BULK = re.compile(r"^/v1/banks/[^/]+/signals(/remove)?$")
_HTML = ("/review", "/console", "/settings", "/logout", "/users")
_HMA = ("/h/", "/m/", "/c/")


def body_cap(path: str, upload_max: int) -> int:
    if path in ANONYMOUS:
        return LOGIN_MAX
    if _UPLOAD.match(path):
        return upload_max
    if _BULK.match(path):
        return BULK_MAX
    if path.startswith(_HTML):
        return FORM_MAX
    return JSON_MAX


async def _reply(send, status: int, path: str, message: str, headers: dict | None = None) -> None:
    hdrs = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if status == 401 and path.startswith(_HTML):
        status, body = 303, b""
        hdrs.append((b"location", b"/login"))
    else:
        key = "message" if path.startswith(_HMA) else "detail"
        body = json.dumps({key: message}).encode()
        hdrs.append((b"content-type", b"application/json"))
    hdrs += [(b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})


class BodyGuard:
    def __init__(self, app, get_app):
        self.app, self.get_app = app, get_app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            return await self.app(scope, receive, send)
        fastapi_app = self.get_app()
        path = scope["path"]
        cap = body_cap(path, fastapi_app.state.svc.cfg.max_upload_bytes)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                n = int(declared)
            except ValueError:
                return await _reply(send, 400, path, "bad Content-Length")
            if n > cap:
                return await _reply(send, 413, path, f"request body over the {cap}-byte limit for this route")
        if path not in ANONYMOUS:
            # Request() without receive: only headers and cookies are read here.
            # The principal lands in scope["state"], so the route's own
            # dependency reuses it instead of looking it up again.
            request = Request(scope)
            try:
                p = await run_in_threadpool(principal_of, request)
            except HTTPException as exc:
                return await _reply(send, exc.status_code, path, str(exc.detail), exc.headers)
            if p is None:
                if not fastapi_app.state.anon_limiter.allow(client_ip(request)):
                    return await _reply(send, 429, path, "rate limit exceeded")
                return await _reply(send, 401, path, "authentication required", {"WWW-Authenticate": "Bearer"})

        seen = 0
        state = {"started": False, "refused": False}

        async def capped_receive():
            nonlocal seen
            if state["refused"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    # Answer now and tell the app the client went away: route
                    # code (FastAPI turns any parse error into a 400) never sees
                    # the rest, and nothing further is read.
                    state["refused"] = True
                    if not state["started"]:
                        state["started"] = True
                        await _reply(send, 413, path, f"request body over the {cap}-byte limit for this route")
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if state["refused"]:
                return
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, capped_receive, guarded_send)
        except Exception:
            if not state["refused"]:
                raise
