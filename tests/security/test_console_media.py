"""15.2 and 16.2: the console never decodes an upload (a decompression bomb
costs the server nothing when a reviewer opens it), and review media is kept
encrypted with a retention period and a purge."""

from __future__ import annotations

import hashlib
import os
import time

import httpx
from bombs import png_bomb
from live_server import PASSWORD, live_server, peak_rss_mb

from service_support import env, photo_bytes  # noqa: F401
from tripline.vault import StaticKeyProvider
from tripline.vault.review_media import ReviewMedia

DECISION = {"action": "review", "priority": "P2", "report_queue": False, "fired": [], "policy": {}}


def _bomb_item(svc) -> int:
    bomb = png_bomb()
    sha = hashlib.sha256(bomb).hexdigest()
    svc.media.put(sha, bomb)  # what intake keeps for a flagged upload
    svc.accounts.add_user("u-cs", PASSWORD, ["child-safety-reviewer"], actor="test")
    return svc.queue.enqueue(
        {"sha256": sha, "media_type": "image/png", "matches": []}, DECISION, None, actor="key:test"
    )


def test_reviewer_opening_a_bomb_does_not_grow_the_server(tmp_path):
    with live_server(tmp_path, prepare=_bomb_item) as (base, pid, item):
        with httpx.Client(base_url=base, timeout=60) as c:
            page = c.get("/login").text
            token = page.split('name="login_token" value="')[1].split('"')[0]
            r = c.post("/login", data={"username": "u-cs", "password": PASSWORD, "login_token": token})
            assert r.status_code in (200, 303), r.text
            before = peak_rss_mb(pid)
            page = c.get(f"/review/items/{item}")
            assert page.status_code == 200, page.text[:500]
            url = page.text.split('class="media protected" src="')[1].split('"')[0]
            img = c.get(url)
            assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
            grew = peak_rss_mb(pid) - before
    assert grew < 60, f"opening the item grew the server's peak RSS by {grew:.0f} MB"


def test_bomb_gets_no_view_and_a_placeholder(env):  # noqa: F811 - pytest fixture imported from service_support
    bomb = png_bomb()
    sha = hashlib.sha256(bomb).hexdigest()
    env.svc.media.put(sha, bomb)
    assert env.svc.media.store.view(sha) is None
    out = env.svc.media.blurred(sha, 24)
    assert out and out[:2] == b"\xff\xd8"


def test_review_media_is_encrypted_and_purged(tmp_path):
    keys = StaticKeyProvider(os.urandom(32))
    store = ReviewMedia(tmp_path / "m", keys, retention_days=30)
    data = photo_bytes(0)
    sha = hashlib.sha256(data).hexdigest()
    store.put(sha, data)
    files = list((tmp_path / "m").rglob("*.tlv"))
    assert {f.name.split(".")[1] for f in files} == {"raw", "view"}
    for f in files:
        assert data[:4096] not in f.read_bytes() and oct(f.stat().st_mode & 0o777) == "0o600"
    assert store.get(sha) == data and store.view(sha)
    # Another key cannot read it; a swapped file does not authenticate.
    assert ReviewMedia(tmp_path / "m", StaticKeyProvider(os.urandom(32))).get(sha) is None
    assert store.purge() == []
    assert store.purge(now=time.time() + 31 * 86400) == [sha]
    assert store.get(sha) is None and not list((tmp_path / "m").rglob("*.tlv"))


def test_legacy_plaintext_media_is_migrated(tmp_path):
    data = photo_bytes(1)
    sha = hashlib.sha256(data).hexdigest()
    legacy = tmp_path / "m" / sha[:2] / sha
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(data)
    store = ReviewMedia(tmp_path / "m", StaticKeyProvider(os.urandom(32)))
    assert store.view(sha) is not None
    assert not legacy.exists() and store.get(sha) == data


def test_purge_cli_is_audited(sqlite_url, tmp_path, monkeypatch):
    import json as _json

    import typer
    from typer.testing import CliRunner

    from tripline.cli import serve_cmd

    monkeypatch.delenv("TRIPLINE_VAULT_KEY_FILE", raising=False)
    app = typer.Typer()
    serve_cmd.register(app)
    store = ReviewMedia(tmp_path / "review-media", None)
    data = photo_bytes(0)
    sha = hashlib.sha256(data).hexdigest()
    store.put(sha, data)
    old = time.time() - 100 * 86400
    for f in (tmp_path / "review-media").rglob("*.tlv"):
        os.utime(f, (old, old))
    r = CliRunner().invoke(app, ["review-media", "purge", "--home", str(tmp_path), "--db", sqlite_url])
    assert r.exit_code == 0, r.output
    assert _json.loads(r.output)["purged"] == [sha]
    from tripline.audit import AuditLog
    from tripline.store import Store

    st = Store(sqlite_url)
    assert AuditLog(st.engine).count(action="review_media.purge") == 1
    st.close()
