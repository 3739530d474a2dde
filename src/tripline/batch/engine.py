"""Plan a backfill into shards, run them on an engine, and keep the checkpoint.

Engines:

- ``local``: shards run in ``workers`` spawned processes on this machine (or
  in-process with ``workers=0``); each process opens the banks once.
- ``ray``: a Ray Data pipeline, ``from_items(shards).map_batches(ShardActor)``
  over an actor pool; the bank snapshot is ``ray.put`` once and each actor
  fetches it once in its constructor. Actors are restartable and their tasks
  retried, so a worker that dies mid-shard has the shard redone elsewhere.

Exactly-once: a shard's output files are named after the shard and replaced
atomically; a shard counts only once it is in the checkpoint, which is
rewritten atomically; a resumed job skips checkpointed shards; counts come
from the checkpoint, one entry per shard. A shard finished but not yet
checkpointed when the job died is simply redone and overwrites its own files.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tripline.batch.sink import CHECKPOINT, SUMMARY, Sink
from tripline.batch.snapshot import BankSnapshot
from tripline.batch.sources import is_url, list_units
from tripline.batch.worker import ShardProcessor
from tripline.policy import Policy, default_policy
from tripline.scan.pipeline import ScanOptions

DEFAULT_SHARD_SIZE = 256
_CHECKPOINT_SECONDS = 2.0
_LOCAL_ATTEMPTS = 3
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


class BackfillError(RuntimeError):
    pass


@dataclass
class BackfillProgress:
    shards_total: int = 0
    shards_done: int = 0  # including shards finished by an earlier run
    shards_resumed: int = 0  # finished by an earlier run (skipped now)
    units_total: int = 0
    units_done: int = 0  # in this invocation
    items_done: int = 0  # in this invocation
    flagged: int = 0
    by_decision: dict[str, int] = field(default_factory=dict)
    errors_by_code: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    @property
    def items_per_second(self) -> float:
        return self.items_done / self.elapsed

    @property
    def eta_seconds(self) -> float | None:
        if not self.units_done:
            return None
        return (self.units_total - self.units_done) * self.elapsed / self.units_done

    def line(self) -> str:
        eta = self.eta_seconds
        errs = ", ".join(f"{k} {v}" for k, v in sorted(self.errors_by_code.items())) or "none"
        return (
            f"shards {self.shards_done}/{self.shards_total}  items {self.items_done}  "
            f"{self.items_per_second:.1f} items/s  ETA {'-' if eta is None else f'{eta:.0f} s'}  "
            f"flagged {self.flagged}  errors: {errs}"
        )


@dataclass
class BackfillResult:
    run_id: str
    sink: str
    summary: dict


def _shard_id(i: int, payload: list[str]) -> str:
    return f"{i:06d}-{hashlib.sha1(chr(10).join(payload).encode()).hexdigest()[:8]}"


def plan_scan(sources: list[str], shard_size: int) -> list[dict]:
    units = list_units(sources)
    cwd = os.getcwd()  # relative local paths keep their key (as in scan) but are read from here
    return [
        {
            "id": _shard_id(i // shard_size, units[i : i + shard_size]),
            "kind": "scan",
            "cwd": cwd,
            "units": units[i : i + shard_size],
            "n": len(units[i : i + shard_size]),
        }
        for i in range(0, len(units), shard_size)
    ]


def plan_rematch(sources: list[str], shard_size: int) -> list[dict]:
    """Stored hashes: a scan's results.jsonl (or its folder), or an earlier backfill sink."""
    from tripline.scan.results import ResultLog

    shards: list[dict] = []
    for src in sources:
        local = not is_url(src)
        if local and os.path.isdir(src) and os.path.exists(os.path.join(src, "results.jsonl")):
            src = os.path.join(src, "results.jsonl")
        if local and src.endswith(".jsonl"):
            lines = [
                json.dumps(r, separators=(",", ":"), sort_keys=True)
                for r in sorted(ResultLog(src).load().values(), key=lambda r: r["key"])
            ]
            for i in range(0, len(lines), shard_size):
                chunk = lines[i : i + shard_size]
                shards.append({"kind": "rematch", "records": chunk, "n": len(chunk), "_id": f"{src}#{i}"})
        else:
            files = Sink(src).data_files()
            if not files:
                raise BackfillError(f"{src}: no results.jsonl and no backfill Parquet files to re-match")
            for f in files:
                shards.append({"kind": "rematch", "file": f, "n": 1, "_id": f})
    for i, s in enumerate(shards):
        s["id"] = _shard_id(i, [s.pop("_id")])
    return shards


def _fingerprint(mode: str, shards: list[dict], bank_names, policy: Policy, options: ScanOptions) -> str:
    h = hashlib.sha256()
    h.update(
        json.dumps(
            {"mode": mode, "banks": sorted(bank_names or []), "policy": policy.meta, "options": repr(options)},
            sort_keys=True,
            default=str,
        ).encode()
    )
    for s in shards:
        h.update(s["id"].encode())
    return h.hexdigest()


def run_backfill(
    sources: list[str],
    sink: str,
    *,
    banks,
    store=None,
    bank_names: list[str] | None = None,
    policy: Policy | None = None,
    options: ScanOptions = ScanOptions(),
    engine: str = "local",
    address: str | None = None,
    workers: int | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    rematch: bool = False,
    fresh: bool = False,
    on_progress: Callable[[BackfillProgress], None] | None = None,
    on_item: Callable[[dict], None] | None = None,
) -> BackfillResult:
    """Run (or resume) a backfill of ``sources`` into ``sink``; flagged items also go to ``store``."""
    policy = policy or default_policy()
    if not is_url(sink):
        sink = os.path.abspath(sink)
    if engine not in ("local", "ray"):
        raise BackfillError(f"unknown engine {engine!r} (local or ray)")
    out = Sink(sink)
    if rematch and any(_same_place(s, sink) for s in sources):
        raise BackfillError("a rematch needs a new sink: it reads the old one")
    shards = plan_rematch(sources, shard_size) if rematch else plan_scan(sources, shard_size)
    mode = "rematch" if rematch else "scan"
    job = _fingerprint(mode, shards, bank_names, policy, options)
    if fresh:
        out.clear()
    out.makedirs()
    ckpt = out.read_json(CHECKPOINT)
    if ckpt is not None and ckpt.get("job") != job:
        raise BackfillError(
            f"{sink} holds the checkpoint of a different job (other sources, banks, policy or "
            "options); use --fresh to start over there, or another sink"
        )
    if ckpt is None:
        ckpt = {
            "job": job,
            "run_id": uuid.uuid4().hex,
            "mode": mode,
            "sources": sources,
            "created": _now(),
            "shards": {},
        }
        out.write_json(CHECKPOINT, ckpt)
    run_id = ckpt["run_id"]
    done = ckpt["shards"]
    todo = [s for s in shards if s["id"] not in done]
    progress = BackfillProgress(
        shards_total=len(shards),
        shards_done=len(shards) - len(todo),
        shards_resumed=len(shards) - len(todo),
        units_total=sum(s["n"] for s in todo),
    )
    args = {
        "sources": sources,
        "sink": sink,
        "engine": engine,
        "mode": mode,
        "banks": bank_names,
        "policy": policy.meta,
    }
    if store is not None:
        store.start_run(run_id, args=args, out_dir=sink)
    if on_progress:
        on_progress(progress)
    status = "interrupted"
    last_write = time.monotonic()
    try:
        if todo:
            snapshot = BankSnapshot.capture(banks, bank_names)
            run = _run_ray if engine == "ray" else _run_local
            for summary in run(todo, snapshot, policy, options, out.url, workers, address, on_item, progress):
                flagged = summary.pop("flagged_records", [])
                if store is not None and flagged:
                    store.record_items(run_id, flagged)
                done[summary["shard"]] = summary
                _account(progress, summary)
                if time.monotonic() - last_write > _CHECKPOINT_SECONDS:
                    out.write_json(CHECKPOINT, ckpt)
                    last_write = time.monotonic()
                if on_progress:
                    on_progress(progress)
        status = "finished"
    finally:
        out.write_json(CHECKPOINT, ckpt)
        summary = summarize(ckpt, progress, status)
        out.write_json(SUMMARY, summary)
        if store is not None:
            store.finish_run(run_id, status=status, counts=summary["counts"])
    return BackfillResult(run_id, sink, summary)


def _same_place(a: str, b: str) -> bool:
    if is_url(a) or is_url(b):
        return a.rstrip("/") == b.rstrip("/")
    return os.path.abspath(a) == os.path.abspath(b)


def _account(p: BackfillProgress, s: dict) -> None:
    p.shards_done += 1
    p.units_done += s.get("n", 0)
    p.items_done += s["items"]
    p.flagged += s["flagged"]
    for k, v in s["by_decision"].items():
        p.by_decision[k] = p.by_decision.get(k, 0) + v
    for k, v in s["errors_by_code"].items():
        p.errors_by_code[k] = p.errors_by_code.get(k, 0) + v


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def summarize(ckpt: dict, progress: BackfillProgress, status: str) -> dict:
    """Totals over every finished shard (each counted once), plus this invocation's rate."""
    counts = {"items": 0, "flagged": 0, "errors": 0, "by_decision": {}, "errors_by_code": {}, "flagged_by_bank": {}}
    for s in ckpt["shards"].values():
        counts["items"] += s["items"]
        counts["flagged"] += s["flagged"]
        for name in ("by_decision", "errors_by_code", "flagged_by_bank"):
            for k, v in s[name].items():
                counts[name][k] = counts[name].get(k, 0) + v
    counts["errors"] = sum(counts["errors_by_code"].values())
    return {
        "run_id": ckpt["run_id"],
        "mode": ckpt["mode"],
        "status": status,
        "finished_at": _now(),
        "shards": {"total": progress.shards_total, "done": len(ckpt["shards"]), "resumed": progress.shards_resumed},
        "counts": counts,
        "this_invocation": {
            "items": progress.items_done,
            "seconds": round(progress.elapsed, 3),
            "items_per_second": round(progress.items_per_second, 2),
            "retries": progress.retries,
        },
    }


# ---------------------------------------------------------------- local engine

_PROC: ShardProcessor | None = None


def _one_thread_per_worker() -> None:
    """Each worker process is one core, as a Ray actor with num_cpus=1 (where Ray
    sets OMP_NUM_THREADS=1): the index's numba kernels must not start a thread
    per core in every worker, which oversubscribes the machine."""
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import numba

        numba.set_num_threads(1)
    except Exception:  # noqa: BLE001 - only a performance setting
        pass


def _init_worker(snapshot, policy, options, sink_url, on_item) -> None:
    global _PROC
    _one_thread_per_worker()
    _PROC = ShardProcessor(snapshot, policy, options, sink_url, on_item)


def _run_in_worker(shard: dict) -> dict:
    assert _PROC is not None
    s = _PROC(shard)
    s["n"] = shard["n"]
    return s


def _run_local(todo, snapshot, policy, options, sink_url, workers, address, on_item, progress) -> Iterator[dict]:
    n = (os.cpu_count() or 1) if workers is None else workers
    if n <= 0:
        proc = ShardProcessor(snapshot, policy, options, sink_url, on_item)
        try:
            for shard in todo:
                s = proc(shard)
                s["n"] = shard["n"]
                yield s
        finally:
            proc.close()
        return
    ctx = multiprocessing.get_context("spawn")
    # One core per worker process, as Ray does for num_cpus=1 actors: spawned
    # children inherit these before numpy, OpenBLAS or numba start their pools.
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    os.environ.update({k: "1" for k in _THREAD_VARS})

    def new_pool():
        return ProcessPoolExecutor(
            max_workers=n,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(snapshot, policy, options, sink_url, on_item),
        )

    pending = list(reversed(todo))
    pool = new_pool()
    inflight: dict = {}
    try:
        while pending or inflight:
            while pending and len(inflight) < n * 2:
                shard = pending.pop()
                inflight[pool.submit(_run_in_worker, shard)] = shard
            finished, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
            broken = False
            for fut in finished:
                shard = inflight.pop(fut)
                try:
                    yield fut.result()
                except BrokenProcessPool:
                    broken = True
                    pending.append(shard)
            if broken:
                # A worker died: every shard in flight died with the pool; redo them on a fresh one.
                pending.extend(inflight.values())
                inflight.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                progress.retries += 1
                if progress.retries > _LOCAL_ATTEMPTS * max(1, len(todo)):
                    raise BackfillError("worker processes keep dying; stopping (the job resumes from its checkpoint)")
                pool = new_pool()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ---------------------------------------------------------------- Ray engine


class ShardActor:
    """Ray Data callable class: constructed once per worker actor, where it
    fetches the bank snapshot from the object store and builds its indexes."""

    def __init__(self, snapshot_ref, policy, options, sink_url, on_item=None):
        import ray

        snapshot = ray.get(snapshot_ref[0])  # wrapped in a list so Ray hands us the reference
        self.proc = ShardProcessor(snapshot, policy, options, sink_url, on_item)

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        out = []
        for raw in batch["shard"]:
            shard = json.loads(raw)
            s = self.proc(shard)
            s["n"] = shard["n"]
            out.append(json.dumps(s))
        return {"summary": np.asarray(out, dtype=object)}


def ray_init(address: str | None = None, **kwargs) -> None:
    import ray

    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False, include_dashboard=False, **kwargs)


def _run_ray(todo, snapshot, policy, options, sink_url, workers, address, on_item, progress) -> Iterator[dict]:
    import ray
    import ray.data

    ray_init(address)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.verbose_progress = False
    n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    ref = ray.put(snapshot)
    ds = ray.data.from_items([{"shard": json.dumps(s)} for s in todo], override_num_blocks=len(todo))
    ds = ds.map_batches(
        ShardActor,
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=min(n, len(todo))),
        num_cpus=1,
        fn_constructor_kwargs={
            "snapshot_ref": [ref],
            "policy": policy,
            "options": options,
            "sink_url": sink_url,
            "on_item": on_item,
        },
        # Ray Data's actor pools are restartable with unlimited task retries by
        # default (max_restarts=-1, max_task_retries=-1): a worker that dies
        # mid-shard is restarted and the shard retried. Not overridden here.
    )
    for row in ds.iter_rows():
        yield json.loads(row["summary"])
