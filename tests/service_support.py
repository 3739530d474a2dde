"""Fixtures for the service, review and browser tests: an app over a fresh
store (SQLite or PostgreSQL), one API key and one user per role, benign photos."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

from shared_data import photos
from tripline.service.config import ServiceConfig
from tripline.service.roles import ROLES

PASSWORD = "correct horse battery"


@dataclass
class Env:
    client: object
    svc: object
    cfg: ServiceConfig
    keys: dict[str, str] = field(default_factory=dict)

    def h(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


def photo_bytes(i: int = 0, subset: str = "kodak24") -> bytes:
    return photos(subset, i + 1)[i].read_bytes()


def edited(data: bytes) -> bytes:
    """A re-encoded, downscaled copy: different bytes, still a PDQ match."""
    im = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = im.size
    im = im.resize((w * 9 // 10, h * 9 // 10))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def make_env(db_url: str, tmp_path: Path, **overrides) -> Env:
    from fastapi.testclient import TestClient

    from tripline.service.app import create_app
    from tripline.service.core import Service

    cfg = ServiceConfig(home=str(tmp_path / "home"), db=db_url, secret_key="test-secret-" + "x" * 32, **overrides)
    svc = Service(cfg)
    app = create_app(cfg, service=svc)
    client = TestClient(app, base_url="https://testserver")
    env = Env(client, svc, cfg)
    for role in ROLES:
        env.keys[role] = svc.accounts.create_key(f"k-{role}", [role], actor="test")
        svc.accounts.add_user(f"u-{role}", PASSWORD, [role], actor="test")
    return env


def login(env: Env, role: str):
    """A fresh client logged in as the user holding ``role``; returns (client, csrf)."""
    from fastapi.testclient import TestClient

    c = TestClient(env.client.app, base_url="https://testserver")
    page = c.get("/login")
    token = page.text.split('name="login_token" value="')[1].split('"')[0]
    r = c.post(
        "/login", data={"username": f"u-{role}", "password": PASSWORD, "login_token": token}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    csrf = env.svc.accounts.session_principal(c.cookies.get("tripline_session")).csrf
    return c, csrf


@pytest.fixture
def env(sqlite_url, tmp_path):
    e = make_env(sqlite_url, tmp_path)
    yield e
    e.svc.close()


@pytest.fixture
def env_any(db_url, tmp_path):
    e = make_env(db_url, tmp_path)
    yield e
    e.svc.close()


@pytest.fixture(scope="module")
def env_module(tmp_path_factory):
    """One app for a whole module, for read-only checks such as the role matrix."""
    tmp = tmp_path_factory.mktemp("svc")
    e = make_env(f"sqlite:///{tmp / 'db' / 'tripline.db'}", tmp)
    yield e
    e.svc.close()
