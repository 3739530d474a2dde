"""15.3 (add to bank) and 15.7 (reassign) in the review console."""

from __future__ import annotations

import pytest
from support import add_user, flagged_item

from service_support import env_any, login, photo_bytes  # noqa: F401


def _claimed(env, role):
    item = flagged_item(env)
    c, csrf = login(env, role)
    assert c.post(f"/review/items/{item}/claim", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    return item, c, csrf


@pytest.mark.parametrize("role", ["child-safety-reviewer", "reviewer"])
def test_reviewer_cannot_add_to_allow_list(env_any, role):  # noqa: F811 - pytest fixture imported from service_support
    env = env_any
    env.svc.create_bank("allow", {"kind": "allow"}, actor="test")
    if role == "reviewer":
        # A plain reviewer sees the default queue: put the item there.
        from sqlalchemy import update

        from tripline.review.queue import items_t

        item = flagged_item(env)
        with env.svc.engine.begin() as conn:
            conn.execute(update(items_t).where(items_t.c.id == item).values(queue="default"))
        c, csrf = login(env, role)
        c.post(f"/review/items/{item}/claim", data={"csrf_token": csrf})
    else:
        item, c, csrf = _claimed(env, role)
    r = c.post(
        f"/review/items/{item}/decide",
        data={"csrf_token": csrf, "outcome": "add_to_bank", "bank": "allow"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    # The banked photo still matches.
    look = env.client.post(
        "/v1/lookup",
        json={"hashes": [{"pdq": env.svc.hash_bytes(photo_bytes(0))["pdq"]}]},
        headers=env.h("integration"),
    ).json()
    assert look["results"][0]["flagged"] is True
    assert env.svc.audit.count(action="review.add_to_bank_refused") == 1


def test_bank_writer_may_add_only_to_match_banks(env_any):  # noqa: F811 - pytest fixture imported from service_support
    env = env_any
    env.svc.create_bank("allow", {"kind": "allow"}, actor="test")
    env.svc.create_bank("reviewed", {}, actor="test")
    add_user(env, "cs-bank", ["child-safety-reviewer", "policy-manager"])
    item, c, csrf = _claimed(env, "cs-bank")
    r = c.post(
        f"/review/items/{item}/decide",
        data={"csrf_token": csrf, "outcome": "add_to_bank", "bank": "allow"},
        follow_redirects=False,
    )
    assert r.status_code == 400
    r = c.post(
        f"/review/items/{item}/decide",
        data={"csrf_token": csrf, "outcome": "add_to_bank", "bank": "reviewed"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert env.svc.audit.count(action="review.add_to_bank") == 1


def test_reassign_only_to_enabled_users_who_see_the_queue(env_any):  # noqa: F811 - pytest fixture imported from service_support
    env = env_any
    item, c, csrf = _claimed(env, "child-safety-reviewer")
    for to in ("nobody-at-all", "u-reviewer"):  # missing; cannot see the child-safety queue
        r = c.post(f"/review/items/{item}/reassign", data={"csrf_token": csrf, "to": to}, follow_redirects=False)
        assert r.status_code == 400, to
    add_user(env, "cs2", ["child-safety-reviewer"])
    from sqlalchemy import update

    from tripline.store.review_models import User

    with env.svc.engine.begin() as conn:
        conn.execute(update(User.__table__).where(User.__table__.c.username == "u-cs2").values(disabled=True))
    r = c.post(f"/review/items/{item}/reassign", data={"csrf_token": csrf, "to": "u-cs2"}, follow_redirects=False)
    assert r.status_code == 400
    add_user(env, "cs3", ["child-safety-reviewer"])
    r = c.post(f"/review/items/{item}/reassign", data={"csrf_token": csrf, "to": "u-cs3"}, follow_redirects=False)
    assert r.status_code == 303
    assert env.svc.queue.get(item)["assigned_to"] == "u-cs3"
