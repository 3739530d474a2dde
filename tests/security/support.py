"""Helpers shared by the security tests."""

from __future__ import annotations

from service_support import PASSWORD, edited, photo_bytes


def flagged_item(env, i: int = 0) -> int:
    """Bank benign photo ``i`` in match bank "known" and scan an edited copy:
    a child-safety review item whose media is kept."""
    svc = env.svc
    if svc.store.get_bank("known") is None:
        svc.create_bank("known", {}, actor="test")
    data = photo_bytes(i)
    svc.add_signals("known", [("pdq", svc.hash_bytes(data)["pdq"], None)], actor="test")
    out = svc.scan(edited(data), name="u.jpg", context=None, actor="key:test")
    assert out["review_item_id"], out
    return out["review_item_id"]


def add_user(env, name: str, roles: list[str], **kw) -> str:
    env.svc.accounts.add_user(f"u-{name}", PASSWORD, roles, actor="test", **kw)
    return name
