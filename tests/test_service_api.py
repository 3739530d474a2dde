# ruff: noqa: F811  (pytest fixtures imported from service_support)
"""The HTTP service: auth, roles, /v1/scan, /v1/lookup, banks, ops endpoints."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from service_support import (  # noqa: F401
    edited,
    env,
    env_any,
    env_module,
    login,
    make_env,
    photo_bytes,
)
from tripline.service.roles import PERMISSIONS, ROLES


def _bank_with_photo(env, name="known", i=0):
    data = photo_bytes(i)
    r = env.client.post("/v1/banks", json={"name": name}, headers=env.h("policy-manager"))
    assert r.status_code == 201, r.text
    r = env.client.post(
        "/h/hash",
        files={"photo": ("a.jpg", data, "image/jpeg")},
        params={"types": "pdq,md5"},
        headers=env.h("integration"),
    )
    hashes = r.json()
    r = env.client.post(
        f"/v1/banks/{name}/signals",
        headers=env.h("policy-manager"),
        json={"signals": [{"signal_type": t, "value": v} for t, v in hashes.items()]},
    )
    assert r.status_code == 200 and r.json()["added"] == 2, r.text
    return data, hashes


def test_scan_match_decision_and_review_item(env_any):
    env = env_any
    data, _ = _bank_with_photo(env)
    r = env.client.post(
        "/v1/scan",
        files={"file": ("upload.jpg", edited(data), "image/jpeg")},
        data={"context": json.dumps({"caption": "holiday", "banks": {"known": {"verified": True}}})},
        headers=env.h("integration"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["flagged"] is True
    assert body["matches"][0]["bank"] == "known" and body["matches"][0]["signal_type"] == "pdq"
    # A client cannot mark a bank verified for itself: unverified-bank rule, review not block.
    assert body["decision"]["action"] == "review" and body["decision"]["priority"] == "P0"
    assert body["decision"]["report_queue"] is False
    assert any("bank known" in line for line in body["explanation"])
    assert body["signals"]["pdq"] and body["signals"]["sha256"]
    assert body["review_item_id"] is not None
    item = env.svc.queue.get(body["review_item_id"])
    assert item["queue"] == "child-safety" and item["status"] == "open"
    assert env.svc.media.get(body["signals"]["sha256"]) is not None


def test_scan_raw_body_with_context_header(env):
    r = env.client.post(
        "/v1/scan",
        content=photo_bytes(3),
        headers={
            **env.h("integration"),
            "Content-Type": "application/octet-stream",
            "X-Tripline-Context": json.dumps({"caption": "beach"}),
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["flagged"] is False and body["decision"]["action"] == "allow" and body["review_item_id"] is None
    assert body["explanation"] == ["no bank matched and no rule fired"]


def test_scan_rejects_bad_context_and_empty(env):
    r = env.client.post("/v1/scan", content=b"x", headers={**env.h("integration"), "X-Tripline-Context": "[1"})
    assert r.status_code == 400
    r = env.client.post("/v1/scan", content=b"", headers=env.h("integration"))
    assert r.status_code == 400


def test_scan_undecodable_reports_error(env):
    r = env.client.post("/v1/scan", content=b"\xff\xd8\xff garbage", headers=env.h("integration"))
    assert r.status_code == 200
    assert r.json()["error"]["code"] in ("decode_error", "truncated", "unsupported_type")


def test_lookup_precomputed(env_any):
    env = env_any
    _, hashes = _bank_with_photo(env)
    r = env.client.post(
        "/v1/lookup",
        headers=env.h("integration"),
        json={"hashes": [{"pdq": hashes["pdq"]}, {"md5": hashes["md5"]}, {"md5": "0" * 32}]},
    )
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert res[0]["flagged"] and res[0]["matches"][0]["distance"] == 0
    assert res[1]["matches"][0]["signal_type"] == "md5"
    assert not res[2]["flagged"] and res[2]["decision"]["action"] == "allow"
    bad = env.client.post("/v1/lookup", headers=env.h("integration"), json={"hashes": [{"pdq": "zz"}]})
    assert bad.status_code == 400


def test_bank_lifecycle_is_audited(env):
    h = env.h("policy-manager")
    assert env.client.post("/v1/banks", json={"name": "b1", "pdq_threshold": 20}, headers=h).status_code == 201
    assert env.client.post("/v1/banks", json={"name": "b1"}, headers=h).status_code == 409
    assert env.client.post("/v1/banks", json={"name": "bad name!"}, headers=h).status_code == 400
    r = env.client.patch("/v1/banks/b1", json={"enabled": False}, headers=h)
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert env.client.get("/v1/banks/nope", headers=h).status_code == 404
    r = env.client.post(
        "/v1/banks/b1/signals", json={"signals": [{"signal_type": "md5", "value": "a" * 32}]}, headers=h
    )
    assert r.json()["added"] == 1
    r = env.client.post(
        "/v1/banks/b1/signals/remove", json={"signals": [{"signal_type": "md5", "value": "A" * 32}]}, headers=h
    )
    assert r.json()["removed"] == 1
    assert env.client.delete("/v1/banks/b1", headers=h).status_code == 204
    actions = [e["action"] for e in env.svc.audit.entries() if e["target"] == "bank:b1"]
    assert actions == ["bank.create", "bank.update", "bank.add_signals", "bank.remove_signals", "bank.delete"]
    assert env.svc.audit.verify().ok


def test_health_ready_metrics_openapi(env):
    h = env.h("integration")
    assert env.client.get("/healthz").json() == {"status": "ok"}
    assert env.client.get("/readyz").json() == {"status": "ok"}
    env.client.post("/v1/lookup", headers=h, json={"hashes": [{"md5": "0" * 32}]})
    m = env.client.get("/metrics", headers=h)
    assert m.status_code == 200 and m.headers["content-type"].startswith("text/plain")
    assert 'tripline_http_requests_total{method="POST",route="/v1/lookup",status="200"}' in m.text
    assert "tripline_http_request_seconds_bucket" in m.text and "# TYPE tripline_review_items gauge" in m.text
    spec = env.client.get("/openapi.json", headers=h).json()
    for path in (
        "/v1/scan",
        "/v1/lookup",
        "/v1/banks",
        "/h/hash",
        "/m/lookup",
        "/m/raw_lookup",
        "/c/banks",
        "/c/bank/{bank_name}",
        "/c/bank/{bank_name}/content",
        "/c/bank/{bank_name}/signal",
    ):
        assert path in spec["paths"], path
    assert "/review" not in spec["paths"]


# -- authentication ----------------------------------------------------------------

ENDPOINTS = [
    ("GET", "/openapi.json", "health"),
    ("GET", "/metrics", "metrics"),
    ("POST", "/v1/scan", "scan"),
    ("POST", "/v1/lookup", "lookup"),
    ("GET", "/v1/banks", "bank.read"),
    ("GET", "/v1/banks/x", "bank.read"),
    ("POST", "/v1/banks", "bank.write"),
    ("PATCH", "/v1/banks/x", "bank.write"),
    ("DELETE", "/v1/banks/x", "bank.write"),
    ("POST", "/v1/banks/x/signals", "bank.write"),
    ("GET", "/h/hash", "hash"),
    ("POST", "/h/hash", "hash"),
    ("GET", "/m/lookup", "lookup"),
    ("POST", "/m/lookup", "lookup"),
    ("GET", "/m/raw_lookup", "lookup"),
    ("GET", "/c/banks", "bank.read"),
    ("POST", "/c/banks", "bank.write"),
    ("GET", "/c/bank/x", "bank.read"),
    ("PUT", "/c/bank/x", "bank.write"),
    ("DELETE", "/c/bank/x", "bank.write"),
    ("POST", "/c/bank/x/content", "bank.write"),
    ("DELETE", "/c/bank/x/content/1", "bank.write"),
    ("GET", "/c/bank/x/content/1", "bank.read"),
    ("GET", "/c/signal_type", "bank.read"),
    ("POST", "/m/compare", "lookup"),
    ("GET", "/m/index/status", "lookup"),
    ("GET", "/status", "health"),
    ("POST", "/c/bank/x/signal", "bank.write"),
    ("GET", "/v1/audit/verify", "audit.read"),
    ("GET", "/v1/audit/export", "audit.read"),
]


@pytest.mark.parametrize("method,path,perm", ENDPOINTS)
def test_every_endpoint_needs_auth(env_module, method, path, perm):
    from tripline.service.ratelimit import RateLimiter

    env = env_module
    # The brute-force limiters are tested on their own below.
    env.client.app.state.auth_failures = env.client.app.state.anon_limiter = RateLimiter(1e6, 10**6)
    assert env.client.request(method, path).status_code == 401
    bad = {"Authorization": "Bearer tl_deadbeef_" + "x" * 40}
    assert env.client.request(method, path, headers=bad).status_code == 401


@pytest.mark.parametrize("method,path,perm", ENDPOINTS)
def test_every_role_denied_where_it_should_be(env_module, method, path, perm):
    env = env_module
    for role in ROLES:
        r = env.client.request(method, path, headers=env.h(role))
        if role in PERMISSIONS[perm]:
            assert r.status_code != 403, (role, method, path, r.text)
        else:
            assert r.status_code == 403, (role, method, path, r.status_code)


def test_console_pages_deny_by_role(env):
    pages = {"/review": "review", "/wellbeing": "wellbeing.view"}
    for role in ROLES:
        c, _ = login(env, role)
        for path, perm in pages.items():
            r = c.get(path, follow_redirects=False)
            if role in PERMISSIONS[perm]:
                assert r.status_code == 200, (role, path)
            else:
                assert r.status_code == 403, (role, path)
    # Not logged in: sent to the login page, never shown anything.
    r = env.client.get("/review", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert env.client.get("/media/anything", follow_redirects=False).status_code == 303


def test_api_keys_stored_hashed_and_revocable(env):
    from sqlalchemy import select

    from tripline.store.review_models import ApiKey

    key = env.keys["integration"]
    with env.svc.engine.connect() as conn:
        stored = [r.key_hash for r in conn.execute(select(ApiKey.__table__))]
    assert key not in stored and all(len(h) == 64 for h in stored)
    assert env.client.get("/openapi.json", headers={"X-API-Key": key}).status_code == 200
    env.svc.accounts.revoke_key("k-integration", actor="test")
    assert env.client.get("/openapi.json", headers=env.h("integration")).status_code == 401


def test_session_cookie_flags_and_csrf(env):
    from fastapi.testclient import TestClient

    c = TestClient(env.client.app, base_url="https://testserver")
    page = c.get("/login")
    token = page.text.split('name="login_token" value="')[1].split('"')[0]
    r = c.post(
        "/login",
        data={"username": "u-reviewer", "password": "correct horse battery", "login_token": token},
        follow_redirects=False,
    )
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=strict" in cookie
    # A logged-in POST without the CSRF token is refused; so is a cross-origin one.
    assert c.post("/settings/me", data={"blur_strength": "30"}, follow_redirects=False).status_code == 403
    csrf = env.svc.accounts.session_principal(c.cookies.get("tripline_session")).csrf
    r = c.post(
        "/settings/me",
        data={"blur_strength": "30", "csrf_token": csrf},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    r = c.post("/settings/me", data={"blur_strength": "30", "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    # Wrong password: no session, and the failure is audited.
    r = c.post(
        "/login", data={"username": "u-reviewer", "password": "nope", "login_token": token}, follow_redirects=False
    )
    assert r.headers["location"] == "/login?error=1"
    assert env.svc.audit.count("auth.login_failed") == 1
    # Stale or forged login form token.
    assert c.post("/login", data={"username": "u", "password": "p", "login_token": "x"}).status_code == 403


def test_security_headers(env):
    r = env.client.get("/login")
    assert r.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "unsafe-inline" not in r.headers["content-security-policy"]


def test_rate_limiting(sqlite_url, tmp_path):
    env = make_env(sqlite_url, tmp_path, rate_per_second=1.0, rate_burst=3, login_attempts_per_minute=2)
    try:
        codes = [env.client.get("/openapi.json", headers=env.h("integration")).status_code for _ in range(6)]
        assert codes[:3] == [200, 200, 200] and 429 in codes[3:]
        page = env.client.get("/login")
        token = page.text.split('name="login_token" value="')[1].split('"')[0]
        codes = [
            env.client.post(
                "/login",
                data={"username": "u-admin", "password": "wrong-wrong-wrong", "login_token": token},
                follow_redirects=False,
            ).status_code
            for _ in range(4)
        ]
        assert codes[-1] == 429
    finally:
        env.svc.close()


def test_user_and_key_validation(env):
    with pytest.raises(ValueError):
        env.svc.accounts.add_user("x", "short", ["reviewer"])
    with pytest.raises(ValueError):
        env.svc.accounts.add_user("x2", "long enough password", ["superuser"])
    with pytest.raises(ValueError):
        env.svc.accounts.create_key("k-integration", ["integration"])


def test_guessing_keys_is_rate_limited(env):
    bad = {"Authorization": "Bearer tl_deadbeef_" + "y" * 40}
    codes = [env.client.get("/openapi.json", headers=bad).status_code for _ in range(25)]
    assert codes[0] == 401 and codes[-1] == 429


def test_scan_matches_video_uploads_against_banked_videos(env):
    from tripline.banks.video import VideoBanks
    from video_fixtures import sample

    r = env.client.post("/v1/banks", json={"name": "videos"}, headers=env.h("policy-manager"))
    assert r.status_code in (200, 201), r.text
    VideoBanks.of(env.svc.banks).add_video("videos", sample("chair-orig-22-sd-bar"))
    env.svc.invalidate_matcher()
    r = env.client.post(
        "/v1/scan",
        content=sample("chair-22-sd-sepia-bar"),
        headers={**env.h("integration"), "Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    vpdq = [m for m in body["matches"] if m["signal_type"] == "vpdq"]
    assert body["flagged"] is True and vpdq and vpdq[0]["query_match_pct"] >= 80
    # The console shows the video as its blurred grayscale frame grid, never a raw frame.
    sha = body["signals"]["sha256"]
    grid = env.svc.media.frames(sha)
    assert grid is not None and env.svc.media.blurred(sha, 8) == grid == env.svc.media.revealed(sha)
    with Image.open(io.BytesIO(grid)) as im:
        assert im.mode == "L" and im.width > 96
    r = env.client.post(
        "/v1/scan",
        content=sample("doorknob-hd-no-bar"),
        headers={**env.h("integration"), "Content-Type": "application/octet-stream"},
    )
    assert r.json()["flagged"] is False


def test_scan_matches_an_off_centre_crop_of_a_banked_image(env):
    # A bank built from images (as `bank add --image` does) carries keypoints;
    # the service extracts the upload's only while such a bank exists.
    from tripline.hashing import hash_bytes

    data = photo_bytes(4)
    rec = hash_bytes(data, bank_regions=True, keypoints=True)
    env.svc.banks.create("images")
    env.svc.banks.add("images", [("pdq", rec.pdq, None)], keypoints={rec.pdq: rec.keypoints})
    env.svc.invalidate_matcher()
    im = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = im.size
    buf = io.BytesIO()
    im.crop((w // 11, 0, w, h - h // 9)).save(buf, "JPEG", quality=80)
    r = env.client.post(
        "/v1/scan", content=buf.getvalue(), headers={**env.h("integration"), "Content-Type": "application/octet-stream"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["flagged"] is True and body["matches"][0]["normalisation"] == "keypoints"
    assert "local keypoints" in body["matches"][0]["explanation"]
    assert "keypoints" not in body["signals"]
