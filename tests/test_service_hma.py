# ruff: noqa: F811  (pytest fixtures imported from service_support)
"""HMA compatibility: every recorded HMA request/response shape
(tests/fixtures/hma_api_shapes.json) replayed against Tripline, in order, as
an HMA client such as Coop's integration would send it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service_support import env, env_any, make_env, photo_bytes  # noqa: F401
from tripline.service.urlsafe import UnsafeURL, resolve_checked

SHAPES = json.loads((Path(__file__).parent / "fixtures" / "hma_api_shapes.json").read_text())["cases"]


def shape(v):
    if isinstance(v, dict):
        return {k: shape(x) for k, x in sorted(v.items())}
    if isinstance(v, list):
        return [shape(v[0])] if v else []
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return type(v).__name__


def _client_key(env):
    # An HMA client needs hashing, matching and curation: one key, two roles.
    return {"Authorization": "Bearer " + env.svc.accounts.create_key("hma-client", ["integration", "policy-manager"])}


def test_recorded_hma_shapes(env_any):
    env = env_any
    h = _client_key(env)
    banked, other, extra = photo_bytes(0), photo_bytes(5), photo_bytes(7)
    c = env.client
    assert c.post("/c/banks", json={"name": "TEST_BANK"}, headers=h).status_code == 201
    banked_pdq = c.post(
        "/c/bank/TEST_BANK/content", files={"photo": ("a.jpg", banked, "image/jpeg")}, headers=h
    ).json()["signals"]["pdq"]
    other_pdq = c.post("/h/hash", files={"photo": ("b.jpg", other, "image/jpeg")}, headers=h).json()["pdq"]
    extra_pdq = c.post("/h/hash", files={"photo": ("c.jpg", extra, "image/jpeg")}, headers=h).json()["pdq"]
    subst = {"<banked pdq>": banked_pdq, "<unrelated pdq>": other_pdq, "<another pdq>": extra_pdq}
    content_id = None
    for case in SHAPES:
        req = case["request"]
        path = case["path"]
        if "<content id>" in path:
            path = path.replace("<content id>", str(content_id))
        query = {k: subst.get(v, v) for k, v in (req.get("query") or {}).items()}
        kw = {"params": query, "headers": h}
        if "json" in req:

            def fill(v):
                return [fill(x) for x in v] if isinstance(v, list) else subst.get(v, v) if isinstance(v, str) else v

            kw["json"] = {k: fill(v) for k, v in req["json"].items()}
        if "multipart_field" in req:
            kw["files"] = {req["multipart_field"]: ("x.jpg", banked, "image/jpeg")}
        if "multipart_fields" in req:
            kw["files"] = [(f, ("x.jpg", banked, "image/jpeg")) for f in req["multipart_fields"]]
        r = c.request(case["method"], path, **kw)
        assert r.status_code == case["status"], (case["name"], r.status_code, r.text)
        if case.get("text"):
            assert r.text == case["response"]
            continue
        got = r.json()
        assert shape(got) == shape(case["response"]), (case["name"], got)
        if "message" in case["response"]:
            assert got["message"] == case["response"]["message"], case["name"]
        if case["name"] in (
            "banks_index",
            "bank_show",
            "bank_create",
            "lookup_get_no_match",
            "compare",
            "lookup_get_banks_filter",
        ):
            assert got == case["response"], case["name"]
        if case["name"] in ("lookup_get_signal", "lookup_post_file", "raw_lookup", "raw_lookup_with_distance"):
            assert json.dumps(got).count("bank_content_id") == json.dumps(case["response"]).count("bank_content_id")
        if case["name"] == "bank_get_content":
            assert got["signals"] == {"pdq": extra_pdq} and got["bank"]["name"] == "TEST_BANK"
        if case["name"] == "bank_add_signal":
            content_id = got["id"]
            assert got["signals"] == {"pdq": extra_pdq}
        if case["name"] == "bank_update":
            # Disabled banks stop matching, as in HMA.
            assert c.get("/m/lookup", params={"signal_type": "pdq", "signal": banked_pdq}, headers=h).json() == {}
            c.put("/c/bank/TEST_BANK", json={"enabled": True}, headers=h)
    assert env.svc.store.get_bank("TEST_BANK") is None
    assert env.svc.audit.verify().ok


def test_hma_errors_use_message_key_and_auth(env):
    r = env.client.get("/c/banks")
    assert r.status_code == 401 and r.json() == {"message": "authentication required"}


def test_hma_partial_ratio_refused(env):
    h = _client_key(env)
    r = env.client.post("/c/banks", json={"name": "HALF", "enabled_ratio": 0.5}, headers=h)
    assert r.status_code == 400


def test_url_hashing_off_by_default(env):
    r = env.client.get("/h/hash", params={"url": "https://example.com/a.jpg"}, headers=env.h("integration"))
    assert r.status_code == 400 and "disabled" in r.json()["message"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/a.jpg",
        "http://localhost:8080/a.jpg",
        "http://10.1.2.3/a.jpg",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/a.jpg",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
        "http://100.64.0.1/",
        "file:///etc/passwd",
        "http://user:pw@example.com/",
    ],
)
def test_url_hashing_refuses_private_targets(sqlite_url, tmp_path, url):
    with pytest.raises(UnsafeURL):
        resolve_checked(url)
    if url.startswith("http://1"):
        env = make_env(sqlite_url, tmp_path, allow_url_fetch=True)
        try:
            for path in ("/h/hash", "/m/lookup"):
                r = env.client.get(path, params={"url": url}, headers=env.h("integration"))
                assert r.status_code == 400, r.text
                assert "private, loopback or link-local" in r.json()["message"]
        finally:
            env.svc.close()


def test_private_targets_allowed_only_when_configured():
    assert resolve_checked("http://127.0.0.1:9/x", allow_private=True)[3] == "127.0.0.1"
