"""A real `tripline serve` on 127.0.0.1 in a subprocess, for the tests that
measure the server's peak memory (VmHWM of the server process)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


@contextmanager
def live_server(home: Path, *, prepare=None):
    """Start the server over a fresh SQLite store in ``home``; ``prepare(svc)``
    runs first against the same store (create keys and users)."""
    from tripline.service.config import ServiceConfig
    from tripline.service.core import Service

    db = f"sqlite:///{home / 'tripline.db'}"
    prepared = None
    if prepare is not None:
        svc = Service(ServiceConfig(home=str(home), db=db))
        try:
            prepared = prepare(svc)
        finally:
            svc.close()
    port = free_port()
    exe = Path(sys.executable).with_name("tripline")
    proc = subprocess.Popen(
        [
            str(exe),
            "serve",
            "--home",
            str(home),
            "--db",
            db,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--insecure-cookies",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                httpx.get(base + "/login", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base, proc.pid, prepared
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
