"""Run a scan: walk inputs, hash in worker processes, match in batches, and
write results durably (JSONL log, database, thumbnails), resuming where a
previous run of the same output folder stopped."""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from tripline.banks import Banks, is_flagged
from tripline.banks.video import VideoBanks, combine
from tripline.model import ErrorCode
from tripline.policy import Policy, decide, default_policy
from tripline.scan.pipeline import ScanOptions, crashed_record, process_item
from tripline.scan.html_report import write_reports
from tripline.durable import atomic_write
from tripline.scan.results import ResultLog
from tripline.scan.walker import Item, count_items, walk
from tripline.store import Store
from tripline.video import review_grid

_BATCH = 64
_BATCH_SECONDS = 1.0


@dataclass
class Progress:
    total: int | None = None
    done: int = 0          # items finished in this invocation (scanned + skipped)
    skipped: int = 0       # already in the log from an earlier run
    flagged: int = 0
    errors: int = 0
    started: float = field(default_factory=time.monotonic)


@dataclass
class RunResult:
    run_id: str
    out_dir: Path
    summary: dict


def thumb_name(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()[:20] + ".jpg"


def finish_records(records: list[dict], matcher, video_matcher, policy: Policy, context: dict | None = None) -> None:
    """Match hashed records against the banks and apply the policy, in place:
    sets ``matches``, ``flagged`` and ``decision`` (shared by scan, batch and
    the service, which also passes the upload's post/account context)."""
    video_found = video_matcher.match(records) if video_matcher else [[] for _ in records]
    for rec, found, vfound in zip(records, matcher.match(records), video_found):
        rec.pop("keypoints", None)
        found = combine(found, vfound)
        rec["matches"] = [m.to_dict() for m in found]
        rec["flagged"] = is_flagged(found)
        rec["decision"] = decide(policy, rec, context).to_dict()


class _Sink:
    """Matches finished items in batches and writes them everywhere at once."""

    def __init__(self, run_id: str, log: ResultLog, store: Store, matcher, policy: Policy, thumbs: Path,
                 progress: Progress, on_progress: Callable[[Progress], None] | None, video_matcher=None):
        self.run_id, self.log, self.store, self.matcher, self.policy = run_id, log, store, matcher, policy
        self.video_matcher = video_matcher
        self.thumbs, self.progress, self.on_progress = thumbs, progress, on_progress
        self.pending: list[tuple[dict, bytes | None]] = []
        self.last_flush = time.monotonic()

    def put(self, record: dict, thumb: bytes | None) -> None:
        self.pending.append((record, thumb))
        if len(self.pending) >= _BATCH or time.monotonic() - self.last_flush > _BATCH_SECONDS:
            self.flush()

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if not self.pending:
            return
        records = [r for r, _ in self.pending]
        finish_records(records, self.matcher, self.video_matcher, self.policy)
        for rec in records:
            rec["scanned_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for rec, thumb in self.pending:
            if isinstance(thumb, list):   # video: one grid, matched frames outlined
                thumb = review_grid(rec, thumb)
            # Anything a person may look at gets its safe thumbnail: bank
            # matches, and items the policy sends to review on other evidence.
            if thumb and (rec["matches"] or rec["decision"]["action"] != "allow"):
                atomic_write(self.thumbs / thumb_name(rec["key"]), thumb)
        # The log is the resume point: it is written (and fsynced) before the
        # database, and the database is re-synced from it on the next run.
        self.log.append(records)
        self.store.record_items(self.run_id, records)
        p = self.progress
        p.done += len(records)
        p.flagged += sum(1 for r in records if r["flagged"])
        p.errors += sum(1 for r in records if r.get("error"))
        self.pending = []
        if self.on_progress:
            self.on_progress(p)


def _run_identity(out_dir: Path, fresh: bool, args: dict) -> str:
    meta_path = out_dir / "run.json"
    if meta_path.exists() and not fresh:
        return json.loads(meta_path.read_text())["run_id"]
    run_id = uuid.uuid4().hex
    meta = {"run_id": run_id, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "args": args}
    atomic_write(meta_path, json.dumps(meta, indent=2).encode())
    return run_id


def run_scan(
    paths: list[str],
    *,
    out_dir: Path,
    store: Store,
    banks: Banks,
    bank_names: list[str] | None = None,
    options: ScanOptions = ScanOptions(),
    policy: Policy | None = None,
    workers: int | None = None,
    fresh: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
) -> RunResult:
    out_dir = Path(out_dir)
    (out_dir / "thumbs").mkdir(parents=True, exist_ok=True)
    policy = policy or default_policy()
    args = {"paths": [str(Path(p).resolve()) for p in paths], "banks": bank_names, "exact": options.exact,
            "exact_dihedral": options.exact_dihedral, "policy": policy.meta}
    run_id = _run_identity(out_dir, fresh, args)
    log = ResultLog(out_dir / "results.jsonl")
    if fresh:
        log.reset()
    done = log.load()
    _resync_database(store, run_id, done)
    matcher = banks.matcher(bank_names)
    video_matcher = VideoBanks.of(banks).matcher(bank_names)
    if options.keypoints and not matcher.uses_keypoints:
        options = replace(options, keypoints=False)   # no bank to compare them with
    store.start_run(run_id, args=args, out_dir=str(out_dir))

    progress = Progress(total=count_items(paths))
    sink = _Sink(run_id, log, store, matcher, policy, out_dir / "thumbs", progress, on_progress, video_matcher)
    if on_progress:
        on_progress(progress)
    status = "interrupted"
    try:
        todo = _skip_finished(walk(paths, max_bytes=options.limits.max_bytes), done, progress)
        n_workers = (os.cpu_count() or 1) if workers is None else workers
        if n_workers <= 0:
            for item in todo:
                sink.put(*process_item(item, options))
        else:
            _run_parallel(todo, options, n_workers, sink)
        sink.flush()
        status = "finished"
    finally:
        sink.flush()
        log.close()
        matcher.close()
        video_matcher.close()
        summary = write_reports(out_dir, run_id, progress, thumb_name, policy.meta)
        store.finish_run(run_id, status=status, counts=summary["counts"])
    return RunResult(run_id, out_dir, summary)


def _skip_finished(items: Iterable[Item], done: dict[str, dict], progress: Progress):
    for item in items:
        prev = done.get(item.key)
        if prev is not None and item.stamp and prev.get("stamp") == item.stamp:
            progress.skipped += 1
            progress.done += 1
            continue
        yield item


def _resync_database(store: Store, run_id: str, done: dict[str, dict]) -> None:
    """Records that reached the log but not the database before a kill."""
    if not done:
        return
    have = store.finished_keys(run_id)
    missing = [r for k, r in done.items() if k not in have]
    for i in range(0, len(missing), 500):
        store.record_items(run_id, missing[i : i + 500])


def _new_pool(n: int) -> ProcessPoolExecutor:
    # spawn: workers must not inherit the parent's database connections,
    # open index maps or threads.
    return ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"))


def _run_parallel(items: Iterable[Item], options: ScanOptions, n_workers: int, sink: _Sink) -> None:
    window = n_workers * 4
    # A worker stuck where SIGALRM cannot reach it (inside C code) is killed
    # once it overstays the per-item limit by this much.
    hard_limit = max(options.limits.max_seconds * 2 + 10, options.video.limits.max_decode_seconds + 60)
    pool = _new_pool(n_workers)
    inflight: dict[Future, tuple[Item, float]] = {}
    suspects: list[Item] = []
    overdue: set[str] = set()
    it = iter(items)
    exhausted = False
    try:
        while True:
            while not exhausted and len(inflight) < window:
                item = next(it, None)
                if item is None:
                    exhausted = True
                    break
                inflight[pool.submit(process_item, item, options)] = (item, time.monotonic())
            if not inflight:
                break
            finished, _ = wait(list(inflight), timeout=1.0, return_when=FIRST_COMPLETED)
            broken = False
            for fut in finished:
                item, _ = inflight.pop(fut)
                try:
                    sink.put(*fut.result())
                except BrokenProcessPool:
                    suspects.append(item)
                    broken = True
            now = time.monotonic()
            stuck = [f for f, (item, t0) in inflight.items() if now - t0 > hard_limit and f.running()]
            if stuck:
                overdue.update(inflight[f][0].key for f in stuck)
                _kill_workers(pool)
                broken = True
            if broken:
                # Every in-flight item failed with the pool; only one of them
                # (usually) is to blame, so each is retried alone.
                suspects.extend(item for item, _ in inflight.values())
                inflight.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = _new_pool(n_workers)
                _retry_alone(suspects, options, sink, overdue, hard_limit)
                suspects.clear()
            if not finished:
                sink.flush()  # nothing new: still write out what waits
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _retry_alone(items: list[Item], options: ScanOptions, sink: _Sink, overdue: set[str], hard_limit: float) -> None:
    for item in items:
        pool = _new_pool(1)
        try:
            fut = pool.submit(process_item, item, options)
            try:
                sink.put(*fut.result(timeout=hard_limit))
            except TimeoutError:
                _kill_workers(pool)
                sink.put(crashed_record(item, f"still running after {hard_limit:g} s; worker killed", ErrorCode.TIMEOUT), None)
            except BrokenProcessPool:
                code = ErrorCode.TIMEOUT if item.key in overdue else ErrorCode.WORKER_CRASHED
                sink.put(crashed_record(item, "the worker process died while processing this item", code), None)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    # ProcessPoolExecutor has no public way to stop one task; killing its
    # processes breaks the pool, which the caller then replaces.
    for proc in list(getattr(pool, "_processes", {}).values()):
        proc.kill()
