"""Backfill benchmark: throughput of `tripline backfill` on the local engine
vs Ray Data on this machine, and a projection for 100M images.

Input: the shared photo corpus (668 benign photos) repeated (hard links, so
each copy is a distinct file with its own key) to --items items. Banks: a
bank of 20 corpus photos, so matching runs as in production. Both engines use
every core (--workers, default all), the full pipeline (hashes with dihedral
and normalised variants, provenance, match, policy) and the same shard size.

Reported:
  local   rate of the local engine (spawned processes, banks opened once each)
  ray     rate of the Ray engine (Ray Data actor pool), job time only; the
          one-off `ray.init` of a local instance is reported beside it
  overhead  local_rate / ray_rate - 1   (target <= 25%)
  projection  time and cost of 100M images on N nodes from the measured
          per-core rate (cost per node-hour is a parameter: --node-hour-usd)

Writes bench/out/backfill_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from _shared import REPO, corpus_photos, shared_dir

from tripline.banks import Banks
from tripline.batch import ray_init, run_backfill
from tripline.store import Store


def build_input(shared: Path, root: Path, n_items: int) -> Path:
    photos = corpus_photos(shared)
    src = root / "input"
    made = 0
    rep = 0
    while made < n_items:
        d = src / f"rep{rep:03d}"
        d.mkdir(parents=True)
        for p in photos:
            if made >= n_items:
                break
            target = d / f"{p.parent.name}-{p.name}"
            try:
                os.link(p, target)
            except OSError:
                shutil.copyfile(p, target)
            made += 1
        rep += 1
    return src


def make_bank(root: Path, shared: Path) -> tuple[Store, Banks]:
    from tripline.hashing import hash_bytes

    store = Store(f"sqlite:///{root / 'tripline.db'}")
    banks = Banks(store, root / "index")
    banks.create("bench-known")
    entries = []
    for p in corpus_photos(shared)[::33][:20]:
        h = hash_bytes(p.read_bytes())
        entries += [("pdq", h.pdq, None), ("md5", h.md5, None)]
    banks.add("bench-known", entries)
    return store, banks


def run(engine: str, src: Path, sink: Path, banks, workers: int, shard_size: int) -> dict:
    t0 = time.monotonic()
    res = run_backfill(
        [str(src)], str(sink), banks=banks, engine=engine, workers=workers, shard_size=shard_size, fresh=True
    )
    seconds = time.monotonic() - t0
    c = res.summary["counts"]
    return {
        "engine": engine,
        "items": c["items"],
        "seconds": round(seconds, 2),
        "items_per_second": round(c["items"] / seconds, 2),
        "flagged": c["flagged"],
        "errors": c["errors"],
    }


def project(per_core: float, node_cores: int, node_hour_usd: float, images: float = 100e6) -> list[dict]:
    rows = []
    for nodes in (1, 10, 50, 100, 500):
        rate = per_core * node_cores * nodes
        hours = images / rate / 3600
        rows.append(
            {
                "nodes": nodes,
                "cores": node_cores * nodes,
                "items_per_second": round(rate),
                "hours": round(hours, 2),
                "node_hours": round(hours * nodes, 1),
                "cost_usd": round(hours * nodes * node_hour_usd),
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared")
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--shard-size", type=int, default=128)
    ap.add_argument("--engines", default="local,ray")
    ap.add_argument("--rounds", type=int, default=1, help="alternate the engines this many times; best round counts")
    ap.add_argument("--node-cores", type=int, default=32, help="cores per node in the projection")
    ap.add_argument(
        "--node-hour-usd",
        type=float,
        default=1.36,
        help="price of one such node-hour (default: a typical 32-vCPU on-demand instance)",
    )
    args = ap.parse_args()
    shared = shared_dir(args.shared)

    with tempfile.TemporaryDirectory(prefix="tripline-backfill-bench-") as tmp:
        root = Path(tmp)
        src = build_input(shared, root, args.items)
        store, banks = make_bank(root, shared)
        results = {}
        rounds: list[dict] = []
        try:
            # Engines alternate over --rounds so that load from other work on the
            # machine hits both alike; each engine's best round is reported.
            for i in range(args.rounds):
                for engine in args.engines.split(","):
                    extra = {}
                    if engine == "ray" and "ray_init_seconds" not in results.get("ray", {}):
                        t0 = time.monotonic()
                        ray_init(num_cpus=args.workers)
                        extra["ray_init_seconds"] = round(time.monotonic() - t0, 2)
                    r = {
                        **run(engine, src, root / f"sink-{engine}", banks, args.workers, args.shard_size),
                        **extra,
                        "round": i,
                    }
                    rounds.append(r)
                    print(json.dumps(r), flush=True)
                    if engine not in results or r["items_per_second"] > results[engine]["items_per_second"]:
                        results[engine] = {**results.get(engine, {}), **r}
        finally:
            banks.close()
            store.close()

    cores = args.workers
    out = {"items": args.items, "workers": cores, "shard_size": args.shard_size, "results": results, "rounds": rounds}
    if "local" in results and "ray" in results:
        out["ray_overhead_pct"] = round(
            (results["local"]["items_per_second"] / results["ray"]["items_per_second"] - 1) * 100, 1
        )
    best = max(r["items_per_second"] for r in results.values())
    per_core = best / cores
    out["per_core_items_per_second"] = round(per_core, 2)
    out["projection_100M"] = {
        "node_cores": args.node_cores,
        "node_hour_usd": args.node_hour_usd,
        "rows": project(per_core, args.node_cores, args.node_hour_usd),
    }
    print()
    for name, r in results.items():
        print(
            f"{name:6s} {r['items']} items in {r['seconds']} s = {r['items_per_second']} items/s"
            + (f" (+ ray.init {r['ray_init_seconds']} s)" if "ray_init_seconds" in r else "")
        )
    if "ray_overhead_pct" in out:
        print(f"Ray overhead vs local on one machine: {out['ray_overhead_pct']}% (target <= 25%)")
    print(f"per-core rate: {per_core:.2f} items/s")
    print(f"100M images, {args.node_cores}-core nodes at ${args.node_hour_usd}/node-hour:")
    for row in out["projection_100M"]["rows"]:
        print(
            f"  {row['nodes']:4d} nodes: {row['hours']:8.2f} h, {row['node_hours']:9.1f} node-h, ${row['cost_usd']:,}"
        )
    (REPO / "bench" / "out").mkdir(exist_ok=True)
    (REPO / "bench" / "out" / "backfill_bench.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
