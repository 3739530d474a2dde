"""A `tripline serve` process on 127.0.0.1 for multi-instance tests and
bench/bank_sync_bench.py: its own state folder, one shared database."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

# Every instance on one database shares one service secret (docs/deploy.md).
SHARED_SECRET = "multi-instance-test-secret-" + "x" * 16


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Instance:
    def __init__(self, db: str, home: Path, key: str):
        self.db, self.home, self.key = db, home, key
        self.port = _port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        self.proc = None
        self.start()

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TRIPLINE_SECRET": SHARED_SECRET}
        self.home.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(self.home.with_suffix(".log"), "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tripline.cli",
                "serve",
                "--home",
                str(self.home),
                "--db",
                self.db,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--insecure-cookies",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def wait_ready(self, timeout: float = 120) -> None:
        """Until /readyz answers 200 and this instance's cache has applied
        every bank change in the database (the probe itself says only ok)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"serve exited: {self.home.with_suffix('.log').read_text()[-3000:]}"
            try:
                r = self.http.get("/readyz")
                if r.status_code == 200 and self.slot_seq() >= self.db_seq():
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.url} not ready after {timeout} s")

    def db_seq(self) -> int:
        engine = create_engine(self.db.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            with engine.connect() as conn:
                return conn.execute(text("SELECT COALESCE(MAX(seq), 0) FROM bank_changes")).scalar_one()
        finally:
            engine.dispose()

    def lookup(self, values: list[tuple[str, str]]) -> list[bool]:
        r = self.http.post("/v1/lookup", json={"hashes": [{t: v} for t, v in values]})
        assert r.status_code < 500, f"{self.url} answered {r.status_code}: {r.text[:300]}"
        assert r.status_code == 200, r.text
        return [any(m["bank"] == "b" for m in res["matches"]) for res in r.json()["results"]]

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def slot_seq(self) -> int:
        try:
            return json.loads((self.home / "index" / "slot-0" / "STATE.json").read_text())["seq"]
        except (OSError, ValueError, KeyError):
            return -1


def wait_agree(instances, value, expected: bool, limit: float) -> float:
    """Seconds until every instance's lookup of ``value`` is ``expected``."""
    t0 = time.monotonic()
    pending = list(instances)
    while pending:
        pending = [i for i in pending if i.lookup([value])[0] != expected]
        if not pending:
            break
        if time.monotonic() - t0 > limit:
            raise AssertionError(
                f"{[(i.url, i.slot_seq()) for i in pending]} still {'miss' if expected else 'match'} "
                f"{value} after {limit} s"
            )
        time.sleep(0.02)
    return time.monotonic() - t0
