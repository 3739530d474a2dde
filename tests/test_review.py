# ruff: noqa: F811  (pytest fixtures imported from service_support)
"""Review queue, claims, decisions, media protection and the exposure budget."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from PIL import Image

from service_support import edited, env, env_any, login, photo_bytes  # noqa: F401
from tripline.review import ClaimConflict
from tripline.store.models import utcnow


def _flag(env, i=0, caption=None):
    """Bank photo ``i`` and scan an edited copy: a P0 child-safety review item."""
    data = photo_bytes(i)
    svc = env.svc
    if svc.store.get_bank("known") is None:
        svc.create_bank("known", {}, actor="test")
    rec = svc.hash_bytes(data)
    svc.add_signals("known", [("pdq", rec["pdq"], None)], actor="test")
    ctx = {"caption": caption} if caption else None
    out = svc.scan(edited(data), name="u.jpg", context=ctx, actor="key:test")
    assert out["review_item_id"], out
    return out["review_item_id"]


def _policy_item(env, priority, created_delta_min=0):
    """A synthetic review item with the given priority (no media)."""
    decision = {"action": "review", "priority": priority, "report_queue": False, "fired": [], "policy": {}}
    item_id = env.svc.queue.enqueue({"sha256": None, "matches": []}, decision, None, actor="test")
    if created_delta_min:
        from sqlalchemy import update

        from tripline.review.queue import items_t

        with env.svc.engine.begin() as conn:
            conn.execute(
                update(items_t)
                .where(items_t.c.id == item_id)
                .values(created_at=utcnow() - timedelta(minutes=created_delta_min))
            )
    return item_id


def test_queue_order_priority_then_age(env_any):
    env = env_any
    a = _policy_item(env, "P3", 100)
    b = _policy_item(env, "P2", 5)
    c = _policy_item(env, "P2", 50)
    d = _policy_item(env, None, 500)
    order = [r["id"] for r in env.svc.queue.list(["default", "child-safety"])]
    assert order == [c, b, a, d]


def test_claim_lock_and_expiry(env_any):
    env = env_any
    q = env.svc.queue
    item = _policy_item(env, "P2")
    q.claim(item, "alice")
    with pytest.raises(ClaimConflict):
        q.claim(item, "bob")
    with pytest.raises(ClaimConflict):
        q.decide(item, "bob", "dismiss")
    # After the lock expires someone else can claim it.
    q.claim(item, "bob", now=utcnow() + timedelta(minutes=11))
    with pytest.raises(ClaimConflict):
        q.decide(item, "alice", "dismiss")
    done = q.decide(item, "bob", "dismiss", note="benign")
    assert done["status"] == "decided" and done["decided_by"] == "bob"
    with pytest.raises(ClaimConflict):
        q.claim(item, "carol")


def test_skip_escalate_reassign(env):
    q = env.svc.queue
    item = _policy_item(env, "P3")
    q.claim(item, "alice")
    q.skip(item, "alice")
    assert q.get(item)["claimed_by"] is None
    q.claim(item, "alice")
    q.reassign(item, "alice", "bob")
    assert q.list(["default"], username="carol") == []
    with pytest.raises(ClaimConflict):
        q.claim(item, "carol")
    q.claim(item, "bob")
    esc = q.decide(item, "bob", "escalate")
    assert esc["status"] == "escalated" and esc["queue"] == "child-safety" and esc["priority_rank"] == 0
    actions = [e["action"] for e in env.svc.audit.entries() if e["target"] == f"item:{item}"]
    assert actions == [
        "review.enqueue",
        "review.claim",
        "review.skip",
        "review.claim",
        "review.reassign",
        "review.claim",
        "review.decide.escalate",
    ]


def test_confirm_needs_classification_and_files_nothing(env):
    q = env.svc.queue
    item = _policy_item(env, "P1")
    q.claim(item, "alice")
    with pytest.raises(ValueError):
        q.decide(item, "alice", "confirm")
    with pytest.raises(ValueError):
        q.decide(item, "alice", "confirm", classification="C9")
    out = q.decide(item, "alice", "confirm", classification="B1", annotations={"generativeAi": True})
    assert out["outcome"]["classification"] == "B1"
    # A human confirmation only queues the item for the reporting workflow.
    assert out["outcome"]["report_status"] == "pending_report"
    assert "report_id" not in json.dumps(out)


def test_console_flow_claim_reveal_decide(env):
    item = _flag(env, caption="family picnic")
    # A general reviewer cannot see child-safety items at all.
    rc, _ = login(env, "reviewer")
    assert item not in [r for r in rc.get("/review").text.split() if r == str(item)]
    assert rc.get(f"/review/items/{item}").status_code == 403

    c, csrf = login(env, "child-safety-reviewer")
    queue = c.get("/review")
    assert queue.status_code == 200 and f'data-item="{item}"' in queue.text
    assert "<img" not in queue.text  # no media in the queue list
    page = c.get(f"/review/items/{item}")
    assert page.status_code == 200
    assert 'class="media protected"' in page.text and 'data-state="blurred"' in page.text
    assert "Claim to review" in page.text and 'id="reveal"' not in page.text
    # Reveal before claiming is refused.
    assert c.post(f"/review/items/{item}/reveal", headers={"X-CSRF-Token": csrf}).status_code == 409
    r = c.post(f"/review/items/{item}/claim", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    page = c.get(f"/review/items/{item}").text
    assert 'id="reveal"' in page and "generativeAi" in page
    assert "known" in page and "family picnic" in page  # evidence side by side
    blur_url = page.split('id="media" class="media protected" src="')[1].split('"')[0]
    blurred = c.get(blur_url)
    assert blurred.status_code == 200 and blurred.headers["cache-control"].startswith("no-store")
    im = Image.open(io.BytesIO(blurred.content))
    assert im.mode == "L"  # grayscale derivative
    # Reveal: logged, counted, and only then a raw URL.
    reveals_before = env.svc.audit.count("review.reveal")
    assert c.post(f"/review/items/{item}/reveal").status_code == 403  # CSRF
    r = c.post(f"/review/items/{item}/reveal", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    raw_url = r.json()["url"]
    assert env.svc.audit.count("review.reveal") == reveals_before + 1
    raw = c.get(raw_url)
    assert raw.status_code == 200 and Image.open(io.BytesIO(raw.content)).mode == "L"
    assert raw.content != blurred.content
    # Signed URLs are bound to the reviewer: another child-safety reviewer cannot use them.
    env.svc.accounts.add_user("u-cs2", "correct horse battery", ["child-safety-reviewer"])
    from fastapi.testclient import TestClient

    c2 = TestClient(env.client.app, base_url="https://testserver")
    tok = c2.get("/login").text.split('name="login_token" value="')[1].split('"')[0]
    c2.post("/login", data={"username": "u-cs2", "password": "correct horse battery", "login_token": tok})
    assert c2.get(raw_url).status_code == 403
    assert c2.get("/media/forged-token").status_code == 403
    # An API key (even integration) cannot fetch media.
    assert env.client.get(raw_url, headers=env.h("integration")).status_code == 403
    # Hiding closes the reveal; exposure is measured by the server clock,
    # whatever the client claims.
    rid = r.json()["reveal_id"]
    h = c.post(f"/review/items/{item}/hide", json={"reveal_id": rid, "seconds": 0}, headers={"X-CSRF-Token": csrf})
    assert h.status_code == 200 and 1 <= h.json()["seconds"] <= 5
    st = env.svc.exposure.status("u-child-safety-reviewer", env.svc.budget())
    assert st.reveals == 1 and st.seconds == h.json()["seconds"]
    # A second hide of the same reveal (e.g. a page-leave beacon) changes nothing.
    again = c.post(f"/review/items/{item}/hide", data={"reveal_id": str(rid), "csrf_token": csrf})
    assert again.status_code == 200 and again.json()["seconds"] is None
    # Decide: confirm with classification and annotations.
    r = c.post(
        f"/review/items/{item}/decide",
        data={
            "csrf_token": csrf,
            "outcome": "confirm",
            "classification": "A2",
            "generative_ai": "",
            "tags": "x, y",
            "note": "checked",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    done = env.svc.queue.get(item)
    assert done["status"] == "decided" and done["outcome"]["classification"] == "A2"
    assert done["outcome"]["annotations"] == {"generativeAi": False, "tags": ["x", "y"]}
    # Raw URL stops working once the claim is gone.
    assert c.get(raw_url).status_code == 403
    actions = [e["action"] for e in env.svc.audit.entries() if e["target"] == f"item:{item}"]
    for a in (
        "review.enqueue",
        "review.view",
        "review.claim",
        "review.reveal",
        "media.raw_served",
        "review.hide",
        "review.decide.confirm",
    ):
        assert a in actions
    assert env.svc.audit.verify().ok


def test_media_url_expires(env):
    from tripline.service.media import MediaSigner

    item = _flag(env)
    c, csrf = login(env, "child-safety-reviewer")
    c.post(f"/review/items/{item}/claim", data={"csrf_token": csrf})
    short = MediaSigner(env.cfg.secret(), max_age=-1)
    env.svc.signer = short
    page = c.get(f"/review/items/{item}").text
    url = page.split('class="media protected" src="')[1].split('"')[0]
    assert c.get(url).status_code == 403


def test_add_to_bank_decision(env):
    item = _policy_item(env, "P2")
    item2 = _flag(env)
    env.svc.create_bank("reviewed", {}, actor="test")
    # Adding to a bank needs bank.write as well as review access.
    env.svc.accounts.add_user("u-cs-bank", "correct horse battery", ["child-safety-reviewer", "policy-manager"])
    c, csrf = login(env, "cs-bank")
    c.post(f"/review/items/{item2}/claim", data={"csrf_token": csrf})
    r = c.post(
        f"/review/items/{item2}/decide",
        data={"csrf_token": csrf, "outcome": "add_to_bank", "bank": "reviewed"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert env.svc.store.count_entries("reviewed")["pdq"]["enabled"] == 1
    assert any(e["action"] == "bank.add_signals" and e["target"] == "bank:reviewed" for e in env.svc.audit.entries())
    assert item


def test_exposure_budget_forces_break(env):
    env.svc.set_org_settings({"budget": {"reveals": 2, "minutes": 30, "break_minutes": 0}}, actor="test")
    items = [_flag(env, i) for i in range(3)]
    c, csrf = login(env, "child-safety-reviewer")
    hdr = {"X-CSRF-Token": csrf}
    for it in items[:2]:
        c.post(f"/review/items/{it}/claim", data={"csrf_token": csrf})
        assert c.post(f"/review/items/{it}/reveal", headers=hdr).status_code == 200
    # Budget reached: the queue sends the reviewer to the break screen ...
    r = c.get("/review", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/review/break"
    # ... and no further claim or reveal is possible until the break is over.
    r = c.post(f"/review/items/{items[2]}/claim", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.headers["location"] == "/review/break"
    assert c.post(f"/review/items/{items[1]}/reveal", headers=hdr).status_code == 423
    page = c.get("/review/break")
    assert "Time for a break" in page.text
    assert env.svc.audit.count("wellbeing.break_forced") == 1
    # Managers see it in the aggregate view.
    m, _ = login(env, "policy-manager")
    wb = m.get("/wellbeing").text
    assert "u-child-safety-reviewer" in wb and "1 over budget" in wb
    # Break done: budget resets for the new shift.
    r = c.post("/review/break/done", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.headers["location"] == "/review"
    assert c.get("/review", follow_redirects=False).status_code == 200


def test_break_cannot_be_cut_short(env):
    env.svc.set_org_settings({"budget": {"reveals": 1, "break_minutes": 15}}, actor="test")
    it = _flag(env)
    c, csrf = login(env, "child-safety-reviewer")
    c.post(f"/review/items/{it}/claim", data={"csrf_token": csrf})
    c.post(f"/review/items/{it}/reveal", headers={"X-CSRF-Token": csrf})
    page = c.get("/review/break").text
    assert 'id="break-done" type="submit" disabled' in page
    r = c.post("/review/break/done", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.headers["location"] == "/review/break"


def test_blur_strength_org_floor_and_user_override(env):
    assert env.svc.blur_for(None) == 24
    env.svc.set_org_settings({"blur_strength": 30}, actor="test")
    assert env.svc.blur_for(10) == 30 and env.svc.blur_for(50) == 50
    c, csrf = login(env, "admin")
    r = c.post(
        "/settings/org",
        data={"csrf_token": csrf, "blur_strength": 40, "reveals": 10, "minutes": 20, "break_minutes": 5},
        follow_redirects=False,
    )
    assert r.status_code == 303 and env.svc.org_settings()["blur_strength"] == 40
    # Only admins change organisation settings; it is audited.
    rc, rcsrf = login(env, "reviewer")
    assert (
        rc.post(
            "/settings/org",
            data={"csrf_token": rcsrf, "blur_strength": 8, "reveals": 1, "minutes": 1, "break_minutes": 0},
        ).status_code
        == 403
    )
    assert env.svc.audit.count("settings.org") == 2


def test_item_page_protective_markup(env):
    item = _flag(env)
    c, csrf = login(env, "child-safety-reviewer")
    c.post(f"/review/items/{item}/claim", data={"csrf_token": csrf})
    page = c.get(f"/review/items/{item}").text
    css = c.get("/static/console.css").text
    js = c.get("/static/console.js").text
    assert ":hover" not in css and "mouseover" not in js and "mouseenter" not in js
    assert "filter: grayscale(1) blur(" in css and ".media.revealed { filter: grayscale(1); }" in css
    assert "autoplay" not in page


def test_video_item_is_muted_without_autoplay(env):
    decision = {"action": "review", "priority": "P2", "report_queue": False, "fired": [], "policy": {}}
    item = env.svc.queue.enqueue(
        {"sha256": "a" * 64, "media_type": "video/mp4", "matches": []}, decision, None, actor="test"
    )
    c, _ = login(env, "reviewer")
    page = c.get(f"/review/items/{item}").text
    tag = page.split("<video")[1].split(">")[0]
    assert " muted" in tag and "autoplay" not in tag and 'preload="none"' in tag


def test_exposure_minutes_count_and_unhidden_reveals(env):
    from tripline.review import Budget, Exposure

    ex = Exposure(env.svc.engine)
    item = _policy_item(env, "P2")
    b = Budget(reveals=100, minutes=2, break_minutes=0)
    t0 = utcnow() - timedelta(minutes=5)
    r1 = ex.record_reveal("ann", item, now=t0)
    assert ex.record_hide("ann", r1, now=t0 + timedelta(seconds=90)) == 91
    ex.record_reveal("ann", item, now=t0)  # never hidden: counts 60 s
    st = ex.status("ann", b)
    assert st.seconds == 151 and st.exhausted and not st.on_break
    ex.start_break("ann")
    assert ex.end_break("ann", b)
    assert ex.status("ann", b).reveals == 0  # a new shift after the break
    # Someone else's reveal cannot be closed.
    r3 = ex.record_reveal("bob", item)
    assert ex.record_hide("ann", r3) is None


def test_same_content_is_queued_once(env):
    first = _flag(env, 0)
    data = photo_bytes(0)
    again = env.svc.scan(edited(data), name="again.jpg", context={"caption": "repost"}, actor="key:test")
    assert again["review_item_id"] == first
    assert len(env.svc.queue.list(["default", "child-safety"])) == 1
    assert env.svc.audit.count("review.enqueue_repeat") == 1
