"""15.13: "Blur again" ends the raw link; vault downloads count against the
exposure budget."""

from __future__ import annotations

from support import flagged_item

from service_support import env_any, login  # noqa: F401
from tripline.vault import StaticKeyProvider


def test_raw_link_ends_when_blurred_again(env_any):  # noqa: F811 - pytest fixture imported from service_support
    env = env_any
    item = flagged_item(env)
    c, csrf = login(env, "child-safety-reviewer")
    hdr = {"X-CSRF-Token": csrf}
    c.post(f"/review/items/{item}/claim", data={"csrf_token": csrf})
    r = c.post(f"/review/items/{item}/reveal", headers=hdr).json()
    assert c.get(r["url"]).status_code == 200
    c.post(f"/review/items/{item}/hide", json={"reveal_id": r["reveal_id"]}, headers=hdr)
    assert c.get(r["url"]).status_code == 403


def test_vault_download_counts_as_a_reveal(env_any):  # noqa: F811 - pytest fixture imported from service_support
    env = env_any
    env.svc.vault_keys = StaticKeyProvider(bytes(32))
    env.svc.set_org_settings({"budget": {"reveals": 2, "minutes": 30, "break_minutes": 15}}, actor="test")
    item = flagged_item(env)
    sha = env.svc.queue.get(item)["sha256"]
    data = env.svc.media.get(sha)
    r = env.client.post("/v1/vault", params={"reason": "preserve"}, content=data, headers=env.h("integration"))
    assert r.status_code == 201, r.text
    h = env.h("child-safety-reviewer")
    for _ in range(2):
        assert env.client.get(f"/v1/vault/{sha}/content", params={"purpose": "check"}, headers=h).status_code == 200
    assert env.svc.exposure.status("key:k-child-safety-reviewer", env.svc.budget()).reveals == 2
    assert env.client.get(f"/v1/vault/{sha}/content", params={"purpose": "check"}, headers=h).status_code == 423
