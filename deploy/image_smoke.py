"""Smoke test of the container image (`make image-test`; not part of `make test`).

Runs the image with `buildah run --isolation chroot --network host` (this
sandbox permits no `podman run`) against PostgreSQL on the host: `tripline db
upgrade`, an API key, then `tripline serve` on a free loopback port, waits for
/readyz and scans one corpus photo over HTTP. Everything talks to 127.0.0.1.
"""
from __future__ import annotations

import argparse
import json
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(admin_url: str, sql: str) -> None:
    subprocess.run(["psql", admin_url, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, timeout=60)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", default="localhost/tripline:dev")
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    ap.add_argument("--timeout", type=float, default=120.0)
    args = ap.parse_args()

    photo = sorted((Path(args.shared) / "corpus" / "photos").rglob("*.jpg"))[0]
    dbname = f"tripline_smoke_{uuid.uuid4().hex[:10]}"
    db_url = args.pg.rsplit("/", 1)[0] + "/" + dbname
    port = free_port()
    secret = secrets.token_urlsafe(48)
    psql(args.pg, f'CREATE DATABASE "{dbname}"')
    ctr = subprocess.run(["buildah", "from", "--pull=never", args.image], check=True, capture_output=True,
                         text=True).stdout.strip()
    server = None
    try:
        prefix = ["buildah", "run", "--isolation", "chroot", "--network", "host",
                  "--env", f"TRIPLINE_DB={db_url}", "--env", f"TRIPLINE_SECRET={secret}",
                  "--env", "TRIPLINE_HOST=127.0.0.1", "--env", f"TRIPLINE_PORT={port}",
                  "--env", "TRIPLINE_COOKIE_SECURE=false", ctr, "--"]

        def run(*cmd: str, **kw):
            return subprocess.run([*prefix, *cmd], **kw)

        # Serving refuses a database nobody upgraded.
        refused = run("tripline", "serve", capture_output=True, text=True, timeout=120)
        assert refused.returncode != 0 and "tripline db upgrade" in refused.stderr + refused.stdout, refused
        run("tripline", "db", "upgrade", check=True, timeout=300)
        key = run("tripline", "apikey", "create", "smoke", "--roles", "integration", check=True,
                  capture_output=True, text=True, timeout=120).stdout.strip().splitlines()[-1]
        # Bank the photo (inside the image, as its user) so the scan exercises
        # hashing, the PDQ index and the compiled matcher, not just an empty bank.
        subprocess.run(["buildah", "copy", "--chown", "10001:10001", ctr, str(photo), "/tmp/smoke.jpg"],
                       check=True, capture_output=True, timeout=60)
        run("tripline", "bank", "create", "smoke", check=True, timeout=120, capture_output=True)
        run("tripline", "bank", "add", "smoke", "--image", "/tmp/smoke.jpg", check=True, timeout=300)
        server = subprocess.Popen([*prefix, "tripline", "serve"], stdout=sys.stderr, stderr=sys.stderr)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + args.timeout
        while True:
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
                    if json.load(r) == {"status": "ok"}:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("service in the image did not become ready")
            time.sleep(0.5)
        with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
            assert json.load(r) == {"status": "ok"}
        req = urllib.request.Request(base + "/v1/scan", data=photo.read_bytes(), method="POST", headers={
            "Authorization": f"Bearer {key}", "Content-Type": "application/octet-stream"})
        with urllib.request.urlopen(req, timeout=120) as r:
            result = json.load(r)
        assert result.get("error") is None and result["matches"], result
        print(json.dumps({"image": args.image, "photo": photo.name, "status": 200,
                          "decision": result["decision"].get("action"), "flagged": result["flagged"],
                          "matches": len(result["matches"])}, indent=1))
        return 0
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        subprocess.run(["buildah", "rm", ctr], capture_output=True)
        psql(args.pg, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


if __name__ == "__main__":
    raise SystemExit(main())
