"""Load bench for the HTTP service: concurrent /v1/lookup and /v1/scan on
loopback, reporting throughput and p50/p99 latency.

Starts `tripline serve` on 127.0.0.1 with a fresh TRIPLINE_HOME, banks some
corpus photos (benign), creates an integration key, then drives it with a
small keep-alive HTTP/1.1 client (raw asyncio sockets, so the client is not
the bottleneck). Request counts are bounded; nothing leaves the machine.

    .venv/bin/python bench/service_load.py [--workers 2] [--lookups 20000] [--scans 300]

Target (issue): /v1/lookup >= 2,000 requests/s on the reference machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shared import corpus_photos, shared_dir

# `tripline serve`, whether or not the main CLI registers it yet.
SERVE = """
import sys, typer
from tripline.cli import serve_cmd
app = typer.Typer()
serve_cmd.register(app)
sys.argv = ["tripline", "serve", *sys.argv[1:]]
app()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(method: str, path: str, key: str, body: bytes, ctype: str) -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def _conn(port: int, requests: list[bytes], lat: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for req in requests:
        t0 = time.perf_counter()
        writer.write(req)
        status = await _read_response(reader)
        lat.append(time.perf_counter() - t0)
        if status != 200:
            errors.append(status)
    writer.close()


def _client(port: int, requests: list[bytes], conns: int, q) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    lat: list[float] = []
    errors: list[int] = []

    async def main():
        per = [requests[i::conns] for i in range(conns)]
        await asyncio.gather(*(_conn(port, p, lat, errors) for p in per if p))

    t0 = time.perf_counter()
    asyncio.run(main())
    q.put((time.perf_counter() - t0, lat, errors))


def drive(port: int, requests: list[bytes], conns: int, procs: int) -> dict:
    q = mp.Queue()
    chunks = [requests[i::procs] for i in range(procs)]
    ps = [mp.Process(target=_client, args=(port, c, max(1, conns // procs), q)) for c in chunks]
    t0 = time.perf_counter()
    for p in ps:
        p.start()
    results = [q.get() for _ in ps]
    wall = time.perf_counter() - t0
    for p in ps:
        p.join()
    lat = sorted(x for _, lats, _ in results for x in lats)
    errors = [e for _, _, es in results for e in es]
    return {
        "requests": len(lat),
        "errors": len(errors),
        "error_codes": sorted(set(errors))[:5],
        "seconds": round(wall, 2),
        "rps": round(len(lat) / wall, 1),
        "p50_ms": round(statistics.median(lat) * 1000, 2),
        "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=None)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--lookups", type=int, default=20000)
    ap.add_argument("--scans", type=int, default=300)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--client-procs", type=int, default=1)
    ap.add_argument("--bank-size", type=int, default=200, help="corpus photos to bank")
    ap.add_argument("--db", default=None, help="database URL (default: SQLite in a temp home)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    photos = corpus_photos(shared_dir(args.shared))
    random.Random(7).shuffle(photos)
    banked, others = photos[: args.bank_size], photos[args.bank_size : args.bank_size + 50]
    home = tempfile.mkdtemp(prefix="tripline-load-")
    base = ["--home", home] + (["--db", args.db] if args.db else [])
    env = {**os.environ, "TRIPLINE_HOME": home}

    from tripline import config as tconfig
    from tripline.audit import AuditLog
    from tripline.banks import Banks
    from tripline.hashing import hash_bytes
    from tripline.service.auth import Accounts
    from tripline.store import Store

    hashed = [hash_bytes(p.read_bytes()) for p in banked]
    store = Store(tconfig.db_url(args.db, Path(home)))
    banks = Banks(store, Path(home) / "index")
    banks.create("load")
    banks.add("load", [(t, getattr(h, t), None) for h in hashed for t in ("pdq", "md5") if getattr(h, t)])
    key = Accounts(store.engine, AuditLog(store.engine)).create_key("bench", ["integration"])
    banks.close()
    store.close()
    hashes = hashed[:50] + [hash_bytes(p.read_bytes()) for p in others[:50]]
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SERVE,
            *base,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
            "--rate",
            "1000000",
        ],
        env=env,
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(1.0)
        lookups = []
        for i in range(args.lookups):
            h = hashes[i % len(hashes)]
            body = json.dumps({"hashes": [{"pdq": h.pdq, "pdq_quality": h.pdq_quality, "md5": h.md5}]}).encode()
            lookups.append(_request("POST", "/v1/lookup", key, body, "application/json"))
        # Warm-up (every worker builds its matcher once).
        drive(port, lookups[:500], 8, 1)
        res_lookup = drive(port, lookups, args.connections, args.client_procs)
        datas = [p.read_bytes() for p in (banked[:25] + others[:25])]
        scans = [
            _request("POST", "/v1/scan", key, datas[i % len(datas)], "application/octet-stream")
            for i in range(args.scans)
        ]
        res_scan = drive(port, scans, min(16, args.connections), 1)
    finally:
        server.terminate()
        server.wait(10)
    out = {
        "machine": {"cpus": os.cpu_count()},
        "server_workers": args.workers,
        "bank_entries_pdq": len(banked),
        "db": "sqlite" if not args.db else args.db.split(":")[0],
        "lookup": res_lookup,
        "scan": res_scan,
        "lookup_target_rps": 2000,
        "lookup_target_met": res_lookup["rps"] >= 2000,
    }
    if args.json:
        print(json.dumps(out))
    else:
        for name in ("lookup", "scan"):
            r = out[name]
            print(
                f"/v1/{name}: {r['requests']} requests in {r['seconds']} s = {r['rps']} req/s; "
                f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms; errors {r['errors']} {r['error_codes']}"
            )
        print(
            f"target /v1/lookup >= 2000 req/s: {'met' if out['lookup_target_met'] else 'NOT met'} "
            f"({out['machine']['cpus']} CPUs, {args.workers} server workers)"
        )


if __name__ == "__main__":
    main()
