"""15.1: no body is read before authentication, and every route caps its body."""

from __future__ import annotations

import socket

import pytest
from live_server import live_server, peak_rss_mb

from service_support import env, env_any  # noqa: F401 - fixtures

BIG = 200 * 1024 * 1024
CHUNK = b"[" + b" " * (1024 * 1024 - 1)


def _stream_post(base: str, path: str, *, chunked: bool, headers: dict | None = None) -> int:
    """POST BIG bytes of JSON-ish filler; returns the status the server answered."""
    host, port = base.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=60)
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    for k, v in (headers or {}).items():
        head += f"{k}: {v}\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {BIG}\r\n\r\n"
    s.sendall(head.encode())
    try:
        for _ in range(BIG // len(CHUNK)):
            if chunked:
                s.sendall(f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n")
            else:
                s.sendall(CHUNK)
        if chunked:
            s.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server answered and closed: what we want
    s.settimeout(60)
    data = b""
    try:
        while b"\r\n" not in data:
            part = s.recv(4096)
            if not part:
                break
            data += part
    except OSError:
        pass
    s.close()
    return int(data.split(b" ")[1]) if data.startswith(b"HTTP/1.1") else -1


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    def prepare(svc):
        return svc.accounts.create_key("k-int", ["integration"], actor="test")

    with live_server(tmp_path_factory.mktemp("live"), prepare=prepare) as srv:
        yield srv


@pytest.mark.parametrize("path", ["/v1/lookup", "/v1/banks", "/v1/reports", "/v1/vault/" + "a" * 64 + "/hold"])
@pytest.mark.parametrize("chunked", [False, True])
def test_unauthenticated_big_post_is_refused_without_buffering(server, path, chunked):
    base, pid, _key = server
    before = peak_rss_mb(pid)
    status = _stream_post(base, path, chunked=chunked)
    # A declared oversize length may be refused before authentication.
    assert status == 401 or (status == 413 and not chunked)
    grew = peak_rss_mb(pid) - before
    assert grew < 40, f"server peak RSS grew {grew:.0f} MB for an unauthenticated {path}"


def test_authenticated_streamed_json_stops_at_the_cap(server):
    base, pid, key = server
    before = peak_rss_mb(pid)
    status = _stream_post(base, "/v1/lookup", chunked=True, headers={"Authorization": f"Bearer {key}"})
    assert status == 413
    assert peak_rss_mb(pid) - before < 40


def test_declared_oversize_is_refused_at_once(env_any):  # noqa: F811 - pytest fixture imported from service_support
    r = env_any.client.post(
        "/v1/lookup", content=b"{}", headers={**env_any.h("integration"), "Content-Length": str(50 * 1024 * 1024)}
    )
    assert r.status_code == 413


def test_upload_route_cap_is_the_configured_upload_limit(env):  # noqa: F811 - pytest fixture imported from service_support
    env.cfg.max_upload_bytes = 1000
    r = env.client.post("/v1/scan", content=b"x" * 2000, headers=env.h("integration"))
    assert r.status_code == 413
    r = env.client.post("/v1/lookup", json={"hashes": [{"md5": "0" * 32}]}, headers=env.h("integration"))
    assert r.status_code == 200


def test_unauthenticated_console_post_redirects_without_reading(env):  # noqa: F811 - pytest fixture imported from service_support
    r = env.client.post("/review/items/1/decide", data={"outcome": "x"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
