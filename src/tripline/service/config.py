"""Service configuration: built from the settings (``tripline.config``),
then handed to uvicorn worker processes through TRIPLINE_SERVICE_CONFIG, so
every worker builds the same app."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tripline import config as tconfig

MIN_SECRET_CHARS = 32


@dataclass
class ServiceConfig:
    home: str | None = None
    db: str | None = None
    policy: str | None = None
    # Signs media URLs and the login form token. Must be the same on every
    # worker and instance: from configuration (service.secret_file or
    # TRIPLINE_SECRET); generated into TRIPLINE_HOME only on SQLite.
    secret_key: str | None = None
    cookie_secure: bool = True
    # URL-based hashing (HMA's ?url=) is off unless the operator turns it on:
    # the service makes no network call it was not configured to make.
    allow_url_fetch: bool = False
    # Even then, private, loopback and link-local targets are refused.
    allow_private_urls: bool = False
    url_fetch_max_bytes: int = 50 * 1024 * 1024
    rate_per_second: float = 5000.0
    rate_burst: int = 10000
    login_attempts_per_minute: int = 10
    media_url_seconds: int = 60
    max_upload_bytes: int = 100 * 1024 * 1024
    # Where uploaded bytes of flagged items are kept for review.
    media_dir: str | None = None
    trusted_origins: list[str] = field(default_factory=list)
    # Reverse proxies (addresses or CIDRs) whose X-Forwarded-For is believed;
    # without them every client behind a proxy shares the proxy's address.
    trusted_proxies: list[str] = field(default_factory=list)

    @classmethod
    def from_settings(cls, **overrides) -> ServiceConfig:
        """From the loaded settings; ``overrides`` (command-line options) win when not None."""
        g = tconfig.get
        rate = g("rate_limits.per_second")
        values = dict(
            home=g("home"),
            db=g("database.url"),
            policy=g("service.policy"),
            cookie_secure=g("service.cookie_secure"),
            allow_url_fetch=g("url_fetch.allow"),
            allow_private_urls=g("url_fetch.allow_private"),
            url_fetch_max_bytes=g("url_fetch.max_bytes"),
            rate_per_second=rate,
            rate_burst=g("rate_limits.burst") or max(1, int(rate * 2)),
            login_attempts_per_minute=g("rate_limits.login_per_minute"),
            media_url_seconds=g("limits.media_url_seconds"),
            max_upload_bytes=g("limits.max_upload_bytes"),
            media_dir=g("review.media_dir"),
            trusted_origins=g("service.trusted_origins"),
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def home_dir(self) -> Path:
        return tconfig.home_dir(self.home)

    def db_url(self) -> str:
        return tconfig.db_url(self.db, self.home_dir())

    def media_path(self) -> Path:
        return Path(self.media_dir) if self.media_dir else self.home_dir() / "review-media"

    def secret(self) -> str:
        if self.secret_key:
            return self.secret_key
        configured = tconfig.get("service.secret")
        secret_file = tconfig.get("service.secret_file")
        if not configured and secret_file:
            try:
                configured = Path(secret_file).expanduser().read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise tconfig.ConfigError(f"service.secret_file {secret_file}: cannot read: {exc.strerror}") from None
        if configured:
            if len(configured) < MIN_SECRET_CHARS:
                raise tconfig.ConfigError(f"the service secret must be at least {MIN_SECRET_CHARS} characters")
            self.secret_key = configured
            return configured
        if tconfig.is_shared_database(self.db_url()):
            # A per-instance default would make media URLs signed by one
            # instance fail on the next behind the same load balancer.
            raise tconfig.ConfigError(
                "no service secret configured: on a shared database every instance needs the same one; "
                "set service.secret_file (or TRIPLINE_SECRET_FILE / TRIPLINE_SECRET)"
            )
        path = self.home_dir() / "service-secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
        self.secret_key = path.read_text().strip()
        return self.secret_key

    def to_env(self) -> dict[str, str]:
        # The secret stays out of this variable; workers read it again from
        # the configured file or variable (or TRIPLINE_HOME/service-secret).
        return {"TRIPLINE_SERVICE_CONFIG": json.dumps({**asdict(self), "secret_key": None})}

    @classmethod
    def from_env(cls) -> ServiceConfig:
        raw = os.environ.get("TRIPLINE_SERVICE_CONFIG")
        return cls(**json.loads(raw)) if raw else cls.from_settings()
