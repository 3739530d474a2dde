"""The review console in a real browser: Playwright driving Debian's chromium
(headless, never a downloaded browser). Log in, claim, check the blur holds
under hover and zoom, reveal (logged), decide, and hit the forced break.

Screenshots of the queue, the blurred item view and the break screen go to
$TRIPLINE_SCREENSHOTS (default: the test's tmp folder)."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from service_support import PASSWORD, edited, make_env, photo_bytes

CHROMIUM = os.environ.get("TRIPLINE_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

sync_api = pytest.importorskip("playwright.sync_api")
if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
    pytest.skip(f"chromium not found at {CHROMIUM} (apt install chromium)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(sqlite_url, tmp_path):
    import uvicorn

    env = make_env(sqlite_url, tmp_path)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(env.client.app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield env, f"http://127.0.0.1:{port}"
    srv.should_exit = True
    t.join(5)
    env.svc.close()


def _flag(env, i):
    svc = env.svc
    if svc.store.get_bank("known-benign-test") is None:
        svc.create_bank("known-benign-test", {}, actor="test")
    data = photo_bytes(i)
    svc.add_signals("known-benign-test", [("pdq", svc.hash_bytes(data)["pdq"], None)], actor="test")
    ctx = {"caption": "at the lake", "hashtags": ["#summer"], "links": [{"url": "https://example.org/post/1"}]}
    return svc.scan(edited(data), name=f"upload{i}.jpg", context=ctx, actor="key:ingest")["review_item_id"]


def test_console_in_chromium(server, tmp_path):
    env, base = server
    shots = Path(os.environ.get("TRIPLINE_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    env.svc.set_org_settings({"budget": {"reveals": 2, "minutes": 30, "break_minutes": 15}}, actor="test")
    items = [_flag(env, i) for i in (0, 1, 2)]

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        # Only loopback traffic: anything else would be a bug.
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base) else route.abort())

        page.goto(f"{base}/login")
        page.fill("input[name=username]", "u-child-safety-reviewer")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/review")
        cookie = next(c for c in page.context.cookies() if c["name"] == "tripline_session")
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
        assert page.locator("tr[data-item]").count() == 3
        page.screenshot(path=str(shots / "queue.png"), full_page=True)

        # Claim the first (highest priority, oldest) item.
        page.locator(f"tr[data-item='{items[0]}'] button.claim").click()
        page.wait_for_url(f"{base}/review/items/{items[0]}")
        img = page.locator("#media")
        img.wait_for()
        page.locator("#media[data-state='blurred']").wait_for()
        assert img.get_attribute("data-state") == "blurred"
        for _ in range(50):  # the blurred derivative has loaded
            if page.evaluate("document.getElementById('media').naturalWidth") > 0:
                break
            page.wait_for_timeout(100)
        blurred_src = img.get_attribute("src")
        flt = page.evaluate("getComputedStyle(document.getElementById('media')).filter")
        assert "grayscale(1)" in flt and "blur(" in flt
        page.screenshot(path=str(shots / "item-blurred.png"), full_page=True)

        # Hover never reveals.
        img.hover()
        page.mouse.move(10, 10)
        img.hover()
        page.wait_for_timeout(200)
        assert img.get_attribute("src") == blurred_src
        assert page.evaluate("getComputedStyle(document.getElementById('media')).filter") == flt
        # Zoom keeps the filters.
        page.click("#zoom-in")
        page.keyboard.press("z")
        page.wait_for_timeout(250)
        assert "matrix(2" in page.evaluate("getComputedStyle(document.getElementById('media')).transform")
        assert page.evaluate("getComputedStyle(document.getElementById('media')).filter") == flt

        # Reveal: one deliberate click, logged server-side.
        before = env.svc.audit.count("review.reveal")
        page.click("#reveal")
        page.locator("#media[data-state='revealed']").wait_for()
        assert env.svc.audit.count("review.reveal") == before + 1
        flt2 = page.evaluate("getComputedStyle(document.getElementById('media')).filter")
        assert "blur(" not in flt2 and "grayscale(1)" in flt2

        # Decide while still revealed: confirm as A1. Leaving the page closes
        # the reveal (a beacon), so its exposure time is counted.
        page.check("input[name=classification][value=A1]")
        page.click("#confirm")
        page.wait_for_url(f"{base}/review")
        assert env.svc.queue.get(items[0])["outcome"]["classification"] == "A1"
        for _ in range(50):
            if env.svc.audit.count("review.hide") == 1:
                break
            page.wait_for_timeout(100)
        assert env.svc.audit.count("review.hide") == 1

        # Second reveal reaches the budget of 2: forced break.
        page.locator(f"tr[data-item='{items[1]}'] button.claim").click()
        page.wait_for_url(f"{base}/review/items/{items[1]}")
        page.click("#reveal")
        page.locator("#media[data-state='revealed']").wait_for()
        page.click("#hide")
        page.wait_for_url(f"{base}/review/break")
        assert page.locator("#break-done").is_disabled()
        assert "Time for a break" in page.inner_text("h1")
        page.screenshot(path=str(shots / "break.png"), full_page=True)
        # The queue stays closed while on break.
        page.goto(f"{base}/review")
        page.wait_for_url(f"{base}/review/break")
        browser.close()

    actions = [e["action"] for e in env.svc.audit.entries()]
    for a in (
        "auth.login",
        "review.view",
        "review.claim",
        "review.reveal",
        "media.raw_served",
        "review.decide.confirm",
        "wellbeing.break_forced",
    ):
        assert a in actions, a
    assert env.svc.audit.verify().ok
