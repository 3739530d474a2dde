"""Bank changes across instances (docs/consistency.md).

    .venv/bin/python bench/bank_sync_bench.py [--size 10000000] [--delta 1000000] [--changes 100]
                                              [--pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Runs on a scratch PostgreSQL database (created on the given server, dropped
at the end; loopback only):

1. Propagation: two `tripline serve` processes with their own state folders;
   ``--changes`` random adds and removes through the store; for each, the time
   until both instances' /v1/lookup agree with the database. Printed as
   p50/p99 against the 2 s budget.
2. Delta against rebuild: a bank of ``--size`` random PDQ hashes, indexed by a
   process cache (tripline.banks.indexes); ``--delta`` more hashes are added
   to the database and the cache applies them as a delta (reconcile + index
   add + compaction). The anchor, in the same run, is a full rebuild of the
   same index from the database.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # instance_support: the serve-process helper the tests use


def random_pdq(rng, n: int) -> list[str]:
    from tripline.index import codes_to_hex

    return codes_to_hex(rng.integers(0, 256, (n, 32), dtype=np.uint8))


def propagation(url: str, work: Path, changes: int, rng) -> dict:
    from instance_support import Instance, wait_agree
    from tripline.audit import AuditLog
    from tripline.service.auth import Accounts
    from tripline.store import Store

    store = Store(url)
    store.create_bank("b")
    key = Accounts(store.engine, AuditLog(store.engine)).create_key("bench", ["integration"], actor="bench")
    instances = [Instance(url, work / name, key) for name in ("a", "b")]
    try:
        for inst in instances:
            inst.wait_ready()
        present: list[str] = []
        delays = []
        for _ in range(changes):
            if present and rng.random() < 0.5:
                v = present.pop(int(rng.integers(len(present))))
                store.remove_entries("b", "pdq", [v])
                delays.append(wait_agree(instances, ("pdq", v), False, 30))
            else:
                v = random_pdq(rng, 1)[0]
                store.add_entries("b", [("pdq", v, None)])
                present.append(v)
                delays.append(wait_agree(instances, ("pdq", v), True, 30))
    finally:
        for inst in instances:
            inst.stop()
        store.close()
    d = np.sort(np.asarray(delays))
    return {
        "changes": changes,
        "p50_s": float(np.percentile(d, 50)),
        "p99_s": float(np.percentile(d, 99)),
        "max_s": float(d[-1]),
    }


def delta_vs_rebuild(url: str, work: Path, size: int, delta: int, rng) -> dict:
    from tripline.banks.indexes import SyncedIndexes
    from tripline.store import Store

    store = Store(url)
    store.create_bank("big")
    t0 = time.perf_counter()
    for start in range(0, size, 1_000_000):
        store.add_entries("big", (("pdq", v, None) for v in random_pdq(rng, min(1_000_000, size - start))))
    load_s = time.perf_counter() - t0
    with store.engine.connect() as conn:
        # What autovacuum does after a bulk load; without statistics the
        # planner may sort the whole bank for every keyset page of a rebuild.
        conn.execute(text("ANALYZE bank_entries"))
        conn.commit()
    cache = SyncedIndexes(store, work / "cache")
    row = store.get_bank("big")
    t0 = time.perf_counter()
    n0 = len(cache.pdq(row))
    first_build_s = time.perf_counter() - t0
    store.add_entries("big", (("pdq", v, None) for v in random_pdq(rng, delta)))
    t0 = time.perf_counter()
    cache.sync()
    delta_s = time.perf_counter() - t0
    n1 = len(cache.pdq(row))
    t0 = time.perf_counter()
    n2 = len(cache.rebuild(row))
    rebuild_s = time.perf_counter() - t0
    cache.close()
    store.close()
    assert n0 == size and n1 == n2 == size + delta, (n0, n1, n2)
    return {
        "size": size,
        "delta": delta,
        "db_load_s": load_s,
        "first_build_s": first_build_s,
        "delta_apply_s": delta_s,
        "full_rebuild_s": rebuild_s,
        "delta_over_rebuild": delta_s / rebuild_s,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=10_000_000)
    ap.add_argument("--delta", type=int, default=1_000_000)
    ap.add_argument("--changes", type=int, default=100)
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--skip-propagation", action="store_true")
    ap.add_argument("--skip-delta", action="store_true")
    args = ap.parse_args()
    admin_url = make_url(args.pg)
    if admin_url.host not in ("127.0.0.1", "::1", "localhost"):
        sys.exit("the bench only talks to a loopback PostgreSQL")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    rng = np.random.default_rng(16)
    work = Path(tempfile.mkdtemp(prefix="bank-sync-bench-"))
    results = {}
    try:
        for part, run in (
            (
                "propagation",
                None if args.skip_propagation else lambda url: propagation(url, work / "prop", args.changes, rng),
            ),
            (
                "delta",
                None
                if args.skip_delta
                else lambda url: delta_vs_rebuild(url, work / "delta", args.size, args.delta, rng),
            ),
        ):
            if run is None:
                continue
            name = f"tripline_bench_{uuid.uuid4().hex[:10]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                results[part] = run(admin_url.set(database=name).render_as_string(hide_password=False))
            finally:
                with admin.connect() as conn:
                    conn.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :n AND pid <> pg_backend_pid()"
                        ),
                        {"n": name},
                    )
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            print(part, json.dumps(results[part]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        admin.dispose()
    if "propagation" in results:
        p = results["propagation"]
        print(
            f"change visible on both instances: p50 {p['p50_s']:.3f} s, p99 {p['p99_s']:.3f} s "
            f"({p['p99_s'] / 2.0:.0%} of the 2 s budget), max {p['max_s']:.3f} s, {p['changes']} changes"
        )
    if "delta" in results:
        d = results["delta"]
        print(
            f"{d['delta']:,}-hash delta on a {d['size']:,}-hash index: applied in {d['delta_apply_s']:.1f} s; "
            f"full rebuild from the database {d['full_rebuild_s']:.1f} s; ratio {d['delta_over_rebuild']:.2f} "
            f"(database load {d['db_load_s']:.0f} s, first build {d['first_build_s']:.1f} s)"
        )


if __name__ == "__main__":
    main()
