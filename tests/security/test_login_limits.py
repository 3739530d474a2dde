"""15.9: login limits per address, trusted-proxy addresses, Origin check and
a login token bound to the browser (login CSRF)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service_support import PASSWORD, env_any, make_env  # noqa: F401


def _form(c):
    page = c.get("/login")
    return page.text.split('name="login_token" value="')[1].split('"')[0]


def test_one_address_cannot_try_many_usernames(env_any):  # noqa: F811 - pytest fixture imported from service_support
    env = env_any
    c = TestClient(env.client.app, base_url="https://testserver")
    token = _form(c)
    codes = [
        c.post(
            "/login",
            data={"username": f"victim{i}", "password": "wrong password!", "login_token": token},
            follow_redirects=False,
        ).status_code
        for i in range(60)
    ]
    assert 429 in codes
    # (plus the few tokens that refill while the attempts run)
    assert codes.index(429) <= 3 * env.cfg.login_attempts_per_minute + 5
    failed = env.svc.audit.count(action="auth.login_failed")
    assert failed <= 3 * env.cfg.login_attempts_per_minute + 5


def test_login_token_is_bound_to_the_browser(env_any):  # noqa: F811 - pytest fixture imported from service_support
    env = env_any
    attacker = TestClient(env.client.app, base_url="https://testserver")
    token = _form(attacker)
    victim = TestClient(env.client.app, base_url="https://testserver")
    r = victim.post(
        "/login", data={"username": "u-reviewer", "password": PASSWORD, "login_token": token}, follow_redirects=False
    )
    assert r.status_code == 403
    r = attacker.post(
        "/login", data={"username": "u-reviewer", "password": PASSWORD, "login_token": token}, follow_redirects=False
    )
    assert r.status_code == 303


def test_cross_origin_login_is_refused(env_any):  # noqa: F811 - pytest fixture imported from service_support
    env = env_any
    c = TestClient(env.client.app, base_url="https://testserver")
    token = _form(c)
    r = c.post(
        "/login",
        data={"username": "u-reviewer", "password": PASSWORD, "login_token": token},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert r.status_code == 403


def test_forwarded_address_only_from_trusted_proxies(sqlite_url, tmp_path):
    from tripline.service.security import client_ip

    class Req:
        def __init__(self, app, peer, xff):
            self.app, self.headers = app, {"x-forwarded-for": xff}
            self.client = type("C", (), {"host": peer})()

    env = make_env(sqlite_url, tmp_path, trusted_proxies=["10.0.0.0/8"])
    try:
        app = env.client.app
        assert client_ip(Req(app, "10.1.2.3", "198.51.100.7, 203.0.113.9")) == "203.0.113.9"
        assert client_ip(Req(app, "10.1.2.3", "203.0.113.9, 10.9.9.9")) == "203.0.113.9"
        assert client_ip(Req(app, "192.0.2.1", "203.0.113.9")) == "192.0.2.1"  # not a trusted proxy
    finally:
        env.svc.close()
