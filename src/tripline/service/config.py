"""Service configuration: from arguments, or from TRIPLINE_SERVICE_* variables
(so every uvicorn worker process builds the same app)."""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tripline import config as tconfig


@dataclass
class ServiceConfig:
    home: str | None = None
    db: str | None = None
    policy: str | None = None
    # Signs media URLs and the login form token. Must be the same on every
    # worker and instance; generated (and kept in TRIPLINE_HOME) if unset.
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

    def home_dir(self) -> Path:
        return tconfig.home_dir(self.home)

    def db_url(self) -> str:
        return tconfig.db_url(self.db, self.home_dir())

    def media_path(self) -> Path:
        return Path(self.media_dir) if self.media_dir else self.home_dir() / "review-media"

    def secret(self) -> str:
        if self.secret_key:
            return self.secret_key
        path = self.home_dir() / "service-secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
        self.secret_key = path.read_text().strip()
        return self.secret_key

    def to_env(self) -> dict[str, str]:
        # The secret stays out of the environment (readable in /proc by the
        # same user); workers read it from TRIPLINE_HOME/service-secret.
        return {"TRIPLINE_SERVICE_CONFIG": json.dumps({**asdict(self), "secret_key": None})}

    @classmethod
    def from_env(cls) -> ServiceConfig:
        raw = os.environ.get("TRIPLINE_SERVICE_CONFIG")
        return cls(**json.loads(raw)) if raw else cls()
