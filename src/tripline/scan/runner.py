"""Run a scan: walk inputs, hash in worker processes, match in batches, and
write results durably (JSONL log, database, thumbnails), resuming where a
previous run of the same output folder stopped."""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import multiprocessing
import os
import resource
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from tripline.banks import Banks, is_flagged
from tripline.banks.video import VideoBanks, combine
from tripline.classifiers.runtime import open_stage, run_classifiers, with_classifier_input
from tripline.durable import atomic_write
from tripline.model import ErrorCode
from tripline.policy import Policy, decide, default_policy
from tripline.scan.html_report import write_reports
from tripline.scan.pipeline import ScanOptions, crashed_record, process_item
from tripline.scan.results import ResultLog
from tripline.scan.walker import Item, count_items, walk
from tripline.store import Store
from tripline.video import review_grid

_BATCH = 64
_BATCH_SECONDS = 1.0


@dataclass
class Progress:
    total: int | None = None
    done: int = 0  # items finished in this invocation (scanned + skipped)
    skipped: int = 0  # already in the log from an earlier run
    flagged: int = 0
    errors: int = 0
    started: float = field(default_factory=time.monotonic)


@dataclass
class RunResult:
    run_id: str
    out_dir: Path
    summary: dict


def thumb_name(key: str) -> str:
    # surrogateescape: keys of old logs may still hold undecodable bytes.
    return hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest()[:20] + ".jpg"


def finish_records(
    records: list[dict], matcher, video_matcher, policy: Policy, context: dict | None = None, classifiers=None
) -> None:
    """Match hashed records against the banks, run the classifier stage and
    apply the policy, in place: sets ``matches``, ``flagged``,
    ``classifiers`` and ``decision`` (shared by scan, batch and the service,
    which also passes the upload's post/account context)."""
    video_found = video_matcher.match(records) if video_matcher else [[] for _ in records]
    for rec, found, vfound in zip(records, matcher.match(records), video_found, strict=True):
        rec.pop("keypoints", None)
        found = combine(found, vfound)
        rec["matches"] = [m.to_dict() for m in found]
        rec["flagged"] = is_flagged(found)
    run_classifiers(classifiers, records, context)
    for rec in records:
        rec["decision"] = decide(policy, rec, context).to_dict()


class _Sink:
    """Matches finished items in batches and writes them everywhere at once."""

    def __init__(
        self,
        run_id: str,
        log: ResultLog,
        store: Store,
        matcher,
        policy: Policy,
        thumbs: Path,
        progress: Progress,
        on_progress: Callable[[Progress], None] | None,
        video_matcher=None,
        classifiers=None,
    ):
        self.run_id, self.log, self.store, self.matcher, self.policy = run_id, log, store, matcher, policy
        self.video_matcher, self.classifiers = video_matcher, classifiers
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
        finish_records(records, self.matcher, self.video_matcher, self.policy, classifiers=self.classifiers)
        for rec in records:
            rec["scanned_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        for rec, thumb in self.pending:
            if isinstance(thumb, list):  # video: one grid, matched frames outlined
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
    meta = {"run_id": run_id, "created": datetime.now(UTC).isoformat(timespec="seconds"), "args": args}
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
    follow_links: bool = False,
) -> RunResult:
    out_dir = Path(out_dir)
    (out_dir / "thumbs").mkdir(parents=True, exist_ok=True)
    policy = policy or default_policy()
    # Opened first: a classifier that cannot open stops the run before it starts.
    classifiers = open_stage(policy, store.engine)  # None unless the policy configures classifiers
    options = with_classifier_input(options, classifiers)
    args = {
        "paths": [str(Path(p).resolve()) for p in paths],
        "banks": bank_names,
        "exact": options.exact,
        "exact_dihedral": options.exact_dihedral,
        "policy": policy.meta,
    }
    run_id = _run_identity(out_dir, fresh, args)
    log = ResultLog(out_dir / "results.jsonl")
    if fresh:
        log.reset()
    done = log.load()
    _resync_database(store, run_id, done)
    matcher = banks.matcher(bank_names)
    video_matcher = VideoBanks.of(banks).matcher(bank_names)
    if options.keypoints and not matcher.uses_keypoints:
        options = replace(options, keypoints=False)  # no bank to compare them with
    store.start_run(run_id, args=args, out_dir=str(out_dir))

    progress = Progress(total=count_items(paths, follow_links=follow_links))
    sink = _Sink(
        run_id, log, store, matcher, policy, out_dir / "thumbs", progress, on_progress, video_matcher, classifiers
    )
    if on_progress:
        on_progress(progress)
    status = "interrupted"
    try:
        todo = _skip_finished(
            walk(paths, max_bytes=options.limits.max_bytes, follow_links=follow_links), done, progress
        )
        n_workers = (os.cpu_count() or 1) if workers is None else workers
        if n_workers <= 0:
            for item in todo:
                sink.put(*_work(item, options))
        else:
            _run_parallel(todo, options, n_workers, sink)
        sink.flush()
        status = "finished"
    finally:
        try:
            sink.flush()
        finally:
            log.close()
            matcher.close()
            video_matcher.close()
            if classifiers is not None:
                classifiers.close()
        summary = _with_skipped(out_dir, write_reports(out_dir, run_id, progress, thumb_name, policy.meta))
        store.finish_run(run_id, status=status, counts=summary["counts"])
    return RunResult(run_id, out_dir, summary)


def _with_skipped(out_dir: Path, summary: dict) -> dict:
    """Add the entries listed but never opened (links, FIFOs, sockets,
    devices) to the summary's counts, by reason."""
    from collections import Counter

    from tripline.scan.results import iter_records

    skipped = Counter(r["skipped"]["code"] for r in iter_records(out_dir / "results.jsonl") if r.get("skipped"))
    summary["counts"]["skipped"] = sum(skipped.values())
    summary["counts"]["skipped_by_code"] = dict(sorted(skipped.items()))
    atomic_write(out_dir / "summary.json", json.dumps(summary, indent=2).encode())
    return summary


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


def _work(item: Item, options: ScanOptions) -> tuple[dict, bytes | None]:
    """process_item, with whatever escapes it confined to the item: running
    out of the worker's memory cap, or a bug in some stage."""
    try:
        return process_item(item, options)
    except MemoryError:
        return crashed_record(
            item, "the item needed more memory than the worker's limit (--max-worker-memory)", ErrorCode.TOO_MANY_PIXELS
        ), None
    except Exception as exc:  # noqa: BLE001 - one item's failure never ends the scan
        return crashed_record(item, f"internal error: {type(exc).__name__}: {exc}", ErrorCode.DECODE_ERROR), None


def _worker_init(parent_pid: int, max_memory: int) -> None:
    """Runs first in every worker. The kernel kills the worker when the scan
    process dies, even by SIGKILL, so no orphan keeps hashing; and the
    worker's address space is capped, so an item that needs too much memory
    fails alone with a MemoryError instead of taking the machine."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    if max_memory > 0:
        try:
            soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
            cap = max_memory if hard == resource.RLIM_INFINITY else min(max_memory, hard)
            resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))
        except (ValueError, OSError):
            pass


def _new_pool(n: int, options: ScanOptions) -> ProcessPoolExecutor:
    # spawn: workers must not inherit the parent's database connections,
    # open index maps or threads.
    return ProcessPoolExecutor(
        max_workers=n,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_init,
        initargs=(os.getpid(), options.max_worker_memory),
    )


def _result(fut: Future, item: Item, timeout: float | None = None) -> tuple[dict, bytes | None]:
    """The worker's answer; a worker-side failure that is not the pool's
    (e.g. a result that cannot be sent back) stays a per-item error."""
    try:
        return fut.result(timeout=timeout)
    except (BrokenProcessPool, TimeoutError):
        raise
    except Exception as exc:  # noqa: BLE001 - never let one item's failure end the scan
        return crashed_record(item, f"{type(exc).__name__}: {exc}"), None


def _run_parallel(items: Iterable[Item], options: ScanOptions, n_workers: int, sink: _Sink) -> None:
    window = n_workers * 4
    # A worker stuck where SIGALRM cannot reach it (inside C code) is killed
    # once it overstays the per-item limit by this much.
    hard_limit = max(options.limits.max_seconds * 2 + 10, options.video.limits.max_decode_seconds + 60)
    pool = _new_pool(n_workers, options)
    inflight: dict[Future, tuple[Item, float]] = {}
    suspects: list[Item] = []
    overdue: set[str] = set()
    it = iter(items)
    exhausted = False
    held = 0  # archive-member bytes in flight
    try:
        while True:
            broken = False
            while not exhausted and len(inflight) < window and (held < options.max_inflight_bytes or not inflight):
                item = next(it, None)
                if item is None:
                    exhausted = True
                    break
                try:
                    inflight[pool.submit(_work, item, options)] = (item, time.monotonic())
                    held += len(item.data or b"")
                except BrokenProcessPool:  # a worker died since the last wait()
                    suspects.append(item)
                    broken = True
                    break
            if not inflight and not broken:
                break
            finished, _ = wait(list(inflight), timeout=1.0, return_when=FIRST_COMPLETED) if inflight else (set(), set())
            for fut in finished:
                item, _ = inflight.pop(fut)
                held -= len(item.data or b"")
                try:
                    sink.put(*_result(fut, item))
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
                held = 0
                pool.shutdown(wait=False, cancel_futures=True)
                pool = _new_pool(n_workers, options)
                _retry_alone(suspects, options, sink, overdue, hard_limit)
                suspects.clear()
            if not finished:
                sink.flush()  # nothing new: still write out what waits
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _retry_alone(items: list[Item], options: ScanOptions, sink: _Sink, overdue: set[str], hard_limit: float) -> None:
    for item in items:
        pool = _new_pool(1, options)
        try:
            try:
                fut = pool.submit(_work, item, options)
                sink.put(*_result(fut, item, hard_limit))
            except TimeoutError:
                _kill_workers(pool)
                sink.put(
                    crashed_record(item, f"still running after {hard_limit:g} s; worker killed", ErrorCode.TIMEOUT),
                    None,
                )
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
