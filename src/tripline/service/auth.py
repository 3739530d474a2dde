"""People and services: users (password, for sessions), API keys (for
services) and sessions. Secrets are only ever stored hashed."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.engine import Engine

from tripline.audit import AuditLog
from tripline.service.roles import parse_roles
from tripline.store.engine import write_connection
from tripline.store.models import utcnow
from tripline.store.review_models import ApiKey, User, WebSession

users_t: Table = User.__table__
keys_t: Table = ApiKey.__table__
sessions_t: Table = WebSession.__table__

SESSION_TTL = timedelta(hours=10)
KEY_PREFIX = "tl_"
# API key lookups are cached briefly so /v1/lookup stays cheap; revoking a key
# takes effect within this many seconds on every instance.
KEY_CACHE_SECONDS = 10.0
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
USERNAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-@")


@dataclass(frozen=True)
class Principal:
    name: str  # username, or "key:<name>"
    roles: tuple[str, ...]
    kind: str  # "session" | "key"
    user_id: int | None = None
    csrf: str | None = None
    blur_strength: int | None = None


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    dk = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${dk.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_hex, dk_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    dk = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), **_SCRYPT)
    return hmac.compare_digest(dk.hex(), dk_hex)


def _sha(token: str) -> str:
    # API keys and session tokens are 256-bit random: a plain digest cannot be
    # brute-forced, and a fast one keeps per-request authentication cheap.
    return hashlib.sha256(token.encode()).hexdigest()


# Verified against when the username does not exist, so timing does not tell.
_DUMMY_HASH = hash_password(secrets.token_hex(8))


class Accounts:
    def __init__(self, engine: Engine, audit: AuditLog):
        self.engine, self.audit = engine, audit
        self._key_cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def _write(self):
        return write_connection(self.engine)

    # -- users -----------------------------------------------------------
    def add_user(self, username: str, password: str, roles, *, actor: str = "system") -> int:
        if not username or len(username) > 64 or not set(username) <= USERNAME_OK:
            raise ValueError("username: 1-64 characters from letters, digits and _ . - @")
        if len(password) < 12:
            raise ValueError("password must be at least 12 characters")
        roles = parse_roles(roles)
        with self._write() as conn, conn.begin():
            if conn.execute(select(users_t.c.id).where(users_t.c.username == username)).first():
                raise ValueError(f"user {username!r} exists")
            uid = conn.execute(
                insert(users_t)
                .values(
                    username=username,
                    password_hash=hash_password(password),
                    roles=" ".join(roles),
                    blur_strength=None,
                    disabled=False,
                    created_at=utcnow(),
                )
                .returning(users_t.c.id)
            ).scalar_one()
            self.audit.append(actor, "user.add", f"user:{username}", {"roles": list(roles)}, conn=conn)
        return uid

    def users(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [
                {
                    "id": r.id,
                    "username": r.username,
                    "roles": r.roles.split(),
                    "disabled": r.disabled,
                    "blur_strength": r.blur_strength,
                }
                for r in conn.execute(select(users_t).order_by(users_t.c.username))
            ]

    def enabled_roles(self, username: str) -> tuple[str, ...] | None:
        """The roles of an existing, enabled user; None otherwise."""
        with self.engine.connect() as conn:
            r = conn.execute(select(users_t.c.roles, users_t.c.disabled).where(users_t.c.username == username)).first()
        return None if r is None or r.disabled else tuple(r.roles.split())

    def set_user_blur(self, username: str, strength: int | None, *, actor: str) -> None:
        with self._write() as conn, conn.begin():
            conn.execute(update(users_t).where(users_t.c.username == username).values(blur_strength=strength))
            self.audit.append(actor, "settings.user_blur", f"user:{username}", {"blur_strength": strength}, conn=conn)

    # -- operator lifecycle (tripline user ...) ------------------------------
    def _user_row(self, conn, username: str):
        r = conn.execute(select(users_t).where(users_t.c.username == username)).first()
        if r is None:
            raise LookupError(f"no user named {username!r}")
        return r

    def _guard_last_admin(self, conn, r, *, still_admin: bool) -> None:
        # Locking every administrator out leaves nobody to undo it from the console.
        if "admin" not in r.roles.split() or r.disabled or still_admin:
            return
        others = [
            x
            for x in conn.execute(select(users_t.c.roles).where(users_t.c.id != r.id, users_t.c.disabled.is_(False)))
            if "admin" in x.roles.split()
        ]
        if not others:
            raise ValueError(f"{r.username!r} is the last enabled admin")

    def set_disabled(self, username: str, disabled: bool, *, actor: str) -> None:
        """Disable (ending every session at once) or re-enable a user."""
        with self._write() as conn, conn.begin():
            r = self._user_row(conn, username)
            if disabled:
                self._guard_last_admin(conn, r, still_admin=False)
            conn.execute(update(users_t).where(users_t.c.id == r.id).values(disabled=disabled))
            ended = conn.execute(delete(sessions_t).where(sessions_t.c.user_id == r.id)).rowcount if disabled else 0
            self.audit.append(
                actor,
                "user.disable" if disabled else "user.enable",
                f"user:{username}",
                {"sessions_ended": ended} if disabled else {},
                conn=conn,
            )

    def remove_user(self, username: str, *, actor: str) -> None:
        with self._write() as conn, conn.begin():
            r = self._user_row(conn, username)
            self._guard_last_admin(conn, r, still_admin=False)
            ended = conn.execute(delete(sessions_t).where(sessions_t.c.user_id == r.id)).rowcount
            conn.execute(delete(users_t).where(users_t.c.id == r.id))
            self.audit.append(
                actor, "user.remove", f"user:{username}", {"roles": r.roles.split(), "sessions_ended": ended}, conn=conn
            )

    def set_roles(self, username: str, roles, *, actor: str) -> None:
        roles = parse_roles(roles)
        with self._write() as conn, conn.begin():
            r = self._user_row(conn, username)
            self._guard_last_admin(conn, r, still_admin="admin" in roles)
            conn.execute(update(users_t).where(users_t.c.id == r.id).values(roles=" ".join(roles)))
            self.audit.append(
                actor, "user.set_roles", f"user:{username}", {"from": r.roles.split(), "to": list(roles)}, conn=conn
            )

    def reset_password(self, username: str, password: str, *, actor: str) -> None:
        """Set a new password and end the user's sessions (a reset follows a suspected leak)."""
        if len(password) < 12:
            raise ValueError("password must be at least 12 characters")
        with self._write() as conn, conn.begin():
            r = self._user_row(conn, username)
            conn.execute(update(users_t).where(users_t.c.id == r.id).values(password_hash=hash_password(password)))
            ended = conn.execute(delete(sessions_t).where(sessions_t.c.user_id == r.id)).rowcount
            self.audit.append(actor, "user.reset_password", f"user:{username}", {"sessions_ended": ended}, conn=conn)

    def authenticate(self, username: str, password: str) -> dict | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(users_t).where(users_t.c.username == username)).first()
        if r is None:
            check_password(password, _DUMMY_HASH)
            return None
        if not check_password(password, r.password_hash) or r.disabled:
            return None
        return {"id": r.id, "username": r.username, "roles": r.roles.split()}

    # -- sessions --------------------------------------------------------
    def create_session(self, user_id: int, now: datetime | None = None) -> tuple[str, str]:
        now = now or utcnow()
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._write() as conn, conn.begin():
            conn.execute(delete(sessions_t).where(sessions_t.c.expires_at < now))
            conn.execute(
                insert(sessions_t).values(
                    token_hash=_sha(token), user_id=user_id, csrf=csrf, created_at=now, expires_at=now + SESSION_TTL
                )
            )
        return token, csrf

    def session_principal(self, token: str) -> Principal | None:
        now = utcnow()
        with self.engine.connect() as conn:
            r = conn.execute(
                select(sessions_t.c.csrf, sessions_t.c.expires_at, users_t)
                .join(users_t, users_t.c.id == sessions_t.c.user_id)
                .where(sessions_t.c.token_hash == _sha(token))
            ).first()
        if r is None or r.expires_at < now or r.disabled:
            return None
        return Principal(r.username, tuple(r.roles.split()), "session", r.id, r.csrf, r.blur_strength)

    def end_session(self, token: str) -> None:
        with self._write() as conn, conn.begin():
            conn.execute(delete(sessions_t).where(sessions_t.c.token_hash == _sha(token)))

    # -- API keys --------------------------------------------------------
    def create_key(self, name: str, roles, *, actor: str = "system") -> str:
        """Create a key and return it; only its hash is kept, so this is the
        one time anyone sees it."""
        roles = parse_roles(roles)
        if not name or len(name) > 64 or not set(name) <= USERNAME_OK:
            raise ValueError("key name: 1-64 characters from letters, digits and _ . - @")
        prefix = secrets.token_hex(4)
        key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        with self._write() as conn, conn.begin():
            if conn.execute(select(keys_t.c.id).where(keys_t.c.name == name)).first():
                raise ValueError(f"API key {name!r} exists")
            conn.execute(
                insert(keys_t).values(
                    name=name,
                    prefix=prefix,
                    key_hash=_sha(key),
                    roles=" ".join(roles),
                    revoked=False,
                    created_at=utcnow(),
                )
            )
            self.audit.append(
                actor, "apikey.create", f"apikey:{name}", {"roles": list(roles), "prefix": prefix}, conn=conn
            )
        return key

    def revoke_key(self, name: str, *, actor: str) -> bool:
        with self._write() as conn, conn.begin():
            n = conn.execute(update(keys_t).where(keys_t.c.name == name).values(revoked=True)).rowcount
            if n:
                self.audit.append(actor, "apikey.revoke", f"apikey:{name}", {}, conn=conn)
        with self._lock:
            self._key_cache.clear()
        return bool(n)

    def list_keys(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [
                {"name": r.name, "prefix": r.prefix, "roles": r.roles.split(), "revoked": r.revoked}
                for r in conn.execute(select(keys_t).order_by(keys_t.c.name))
            ]

    def key_principal(self, key: str) -> Principal | None:
        if not key.startswith(KEY_PREFIX) or len(key) > 200:
            return None
        digest = _sha(key)
        now = time.monotonic()
        hit = self._key_cache.get(digest)
        if hit and hit[0] > now:
            return hit[1]
        with self.engine.connect() as conn:
            r = conn.execute(
                select(keys_t.c.name, keys_t.c.roles, keys_t.c.revoked).where(keys_t.c.key_hash == digest)
            ).first()
        p = None if r is None or r.revoked else Principal(f"key:{r.name}", tuple(r.roles.split()), "key")
        with self._lock:
            if len(self._key_cache) > 10_000:
                self._key_cache.clear()
            self._key_cache[digest] = (now + KEY_CACHE_SECONDS, p)
        return p
