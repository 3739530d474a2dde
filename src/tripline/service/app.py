"""The FastAPI application: ``create_app(ServiceConfig)``."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from tripline import config as tconfig
from tripline.service import api, console, health, hma
from tripline.service.auth import Principal
from tripline.service.bodyguard import BodyGuard
from tripline.service.config import ServiceConfig
from tripline.service.core import Service
from tripline.service.ratelimit import RateLimiter
from tripline.service.security import require

HMA_PREFIXES = ("/h/", "/m/", "/c/")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # no-referrer would make form posts send Origin: null
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self'; media-src 'self'; script-src 'self'; "
        "style-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class _Observe:
    """Pure ASGI middleware: security headers and request metrics."""

    def __init__(self, app, get_svc):
        self.app, self.get_svc = app, get_svc

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = {"code": 500}
        secure = scope.get("scheme") == "https"

        async def _send(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for k, v in SECURITY_HEADERS.items():
                    if k.lower().encode() not in present:
                        headers.append((k.lower().encode(), v.encode()))
                if secure:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            svc = self.get_svc()
            if svc is not None:
                svc.metrics.inc(
                    "tripline_http_requests_total",
                    help="HTTP requests",
                    route=path,
                    method=scope["method"],
                    status=status["code"],
                )
                svc.metrics.observe(
                    "tripline_http_request_seconds", time.perf_counter() - t0, help="HTTP request latency", route=path
                )


def check_can_serve(cfg: ServiceConfig) -> None:
    """Refuse to serve a shared database whose schema is not current, or without
    a shared secret. Serving never migrates a shared database: two instances
    starting together would race, and a rollout must not change the schema
    under the instances still running the old code (`tripline db upgrade` does).
    A single-box SQLite database is upgraded in place, as every CLI command does."""
    from tripline.store.engine import check_schema_current, make_engine, migrate

    url = cfg.db_url()
    cfg.secret()
    engine = make_engine(url)
    try:
        if tconfig.is_shared_database(url):
            check_schema_current(engine)
        else:
            migrate(engine)
    finally:
        engine.dispose()


def create_app(cfg: ServiceConfig | None = None, service: Service | None = None) -> FastAPI:
    cfg = cfg or ServiceConfig.from_env()
    if service is None:
        check_can_serve(cfg)
    svc = service or Service(cfg)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        if service is None:
            svc.close()

    app = FastAPI(
        title="Tripline",
        lifespan=lifespan,
        version="0.1.0",
        description="Child-safety scanning, matching, review and audit. Every endpoint needs an "
        "API key (Authorization: Bearer tl_...) or a console session.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.svc = svc
    app.state.limiter = RateLimiter(cfg.rate_per_second, cfg.rate_burst)
    app.state.anon_limiter = RateLimiter(5.0, 60)
    app.state.auth_failures = RateLimiter(1.0, 20)
    app.state.login_limiter = RateLimiter(cfg.login_attempts_per_minute / 60.0, cfg.login_attempts_per_minute)
    # Per address, across usernames: a few users' worth of attempts.
    per_addr = 3 * cfg.login_attempts_per_minute
    app.state.login_addr_limiter = RateLimiter(per_addr / 60.0, per_addr)
    app.include_router(health.router)  # first: the probes need no credentials
    app.include_router(api.router)
    app.include_router(hma.router)
    app.include_router(console.router)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    app.add_middleware(BodyGuard, get_app=lambda: app)  # inside _Observe, so refusals get the headers too
    app.add_middleware(_Observe, get_svc=lambda: app.state.svc)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(p: Annotated[Principal, Depends(require("health"))]) -> JSONResponse:
        if app.openapi_schema is None:
            app.openapi_schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            app.openapi_schema["components"] = {
                **app.openapi_schema.get("components", {}),
                "securitySchemes": {
                    "apiKey": {"type": "http", "scheme": "bearer"},
                    "session": {"type": "apiKey", "in": "cookie", "name": "tripline_session"},
                },
            }
            app.openapi_schema["security"] = [{"apiKey": []}, {"session": []}]
        return JSONResponse(app.openapi_schema)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        headers = getattr(exc, "headers", None)
        if exc.status_code == 303 and headers and "Location" in headers:
            return RedirectResponse(headers["Location"], status_code=303)
        if request.url.path.startswith(HMA_PREFIXES):
            return JSONResponse({"message": exc.detail}, status_code=exc.status_code, headers=headers)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        errors = [{"loc": e.get("loc"), "msg": e.get("msg")} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    return app


def create_app_from_env() -> FastAPI:
    """Factory for uvicorn worker processes (configuration via environment)."""
    return create_app(ServiceConfig.from_env())
