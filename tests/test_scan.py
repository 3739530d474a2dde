"""End-to-end scans through the CLI, on SQLite and PostgreSQL."""

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from PIL import Image, ImageOps
from typer.testing import CliRunner

from shared_data import photos
from tripline.cli import _register, app
from tripline.store import Store

_register()
runner = CliRunner()


def cli(*args, home, db):
    result = runner.invoke(app, [*args, "--home", str(home), "--db", db])
    return result


@pytest.fixture
def uploads(tmp_path):
    banked = photos("kodak24", 3)
    clean = photos("bsds500", 3)
    up = tmp_path / "uploads"
    up.mkdir()
    with Image.open(banked[0]) as im:
        im.convert("RGB").rotate(90, expand=True).save(up / "rotated.jpg", quality=90)
    with Image.open(banked[1]) as im:
        ImageOps.mirror(im.convert("RGB")).save(up / "mirrored.jpg", quality=90)
    shutil.copy(banked[2], up / "copy.png")
    for p in clean:
        shutil.copy(p, up / p.name)
    whole = clean[0].read_bytes()
    (up / "broken.jpg").write_bytes(whole[: len(whole) // 2])  # an upload cut short
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(banked[0], "inner/original.png")
    (up / "batch.zip").write_bytes(buf.getvalue())
    return banked, clean, up


def _records(out: Path) -> dict[str, dict]:
    return {r["key"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}


def _name(key: str) -> str:
    return key.split("!", 1)[1] if "!" in key else Path(key).name


def test_scan_flags_edited_copies_and_explains_every_hit(tmp_path, db_url, uploads):
    banked, clean, up = uploads
    home, out = tmp_path / "home", tmp_path / "out"
    assert cli("bank", "create", "known", home=home, db=db_url).exit_code == 0
    add = cli("bank", "add", "known", *[a for p in banked for a in ("--image", str(p))], home=home, db=db_url)
    assert add.exit_code == 0, add.output

    result = runner.invoke(
        app,
        ["scan", str(up), "--out", str(out), "--workers", "0", "--no-provenance", "--home", str(home), "--db", db_url],
    )
    assert result.exit_code == 1, result.output  # matches found
    recs = {_name(k): r for k, r in _records(out).items()}
    assert set(recs) == {
        "rotated.jpg",
        "mirrored.jpg",
        "copy.png",
        "broken.jpg",
        "inner/original.png",
        *(p.name for p in clean),
    }
    flagged = {n for n, r in recs.items() if r["flagged"]}
    assert flagged == {"rotated.jpg", "mirrored.jpg", "copy.png", "inner/original.png"}

    rot = recs["rotated.jpg"]["matches"]
    assert [m["signal_type"] for m in rot] == ["pdq"] and rot[0]["variant"] != "original"
    assert rot[0]["bank"] == "known" and 0 <= rot[0]["distance"] <= 31
    assert recs["mirrored.jpg"]["matches"][0]["variant"] in ("flip_x", "flip_y")
    copy_types = sorted(m["signal_type"] for m in recs["copy.png"]["matches"])
    assert copy_types == ["md5", "pdq", "sha256"]
    assert recs["broken.jpg"]["error"]["code"] == "truncated"
    assert len(recs["broken.jpg"]["md5"]) == 32  # exact hashes still computed
    for key in ("path", "media_type", "width", "height", "pdq", "pdq_quality", "md5", "sha256"):
        assert key in recs["copy.png"]

    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["flagged"] == 4 and summary["counts"]["errors_by_code"] == {"truncated": 1}

    # The database holds the same results as the log.
    store = Store(db_url)
    try:
        stored = {r["key"]: r for r in store.run_items(summary["run_id"])}
        assert set(stored) == set(_records(out))
        assert sum(1 for r in stored.values() if r.get("flagged")) == 4
    finally:
        store.close()


def test_report_shows_only_blurred_grayscale_thumbnails(tmp_path, sqlite_url, uploads):
    banked, _, up = uploads
    home, out = tmp_path / "home", tmp_path / "out"
    cli("bank", "create", "known", home=home, db=sqlite_url)
    cli("bank", "add", "known", "--image", str(banked[2]), home=home, db=sqlite_url)
    runner.invoke(
        app,
        [
            "scan",
            str(up),
            "--out",
            str(out),
            "--workers",
            "0",
            "--no-provenance",
            "--home",
            str(home),
            "--db",
            sqlite_url,
        ],
    )
    html = (out / "report.html").read_text()
    assert "copy.png" in html and "review P0" in html  # grouped by decision and priority
    assert str(up) not in html.replace(str(up / "copy.png"), "")  # no links to originals
    thumbs = list((out / "thumbs").iterdir())
    assert len(thumbs) == 1
    with Image.open(thumbs[0]) as t:
        assert t.mode == "L" and max(t.size) <= 96
    assert 'src="file:' not in html and "<a " not in html


def test_allow_list_suppresses_and_says_so(tmp_path, sqlite_url, uploads):
    banked, _, up = uploads
    home, out = tmp_path / "home", tmp_path / "out"
    cli("bank", "create", "known", home=home, db=sqlite_url)
    cli("bank", "add", "known", "--image", str(banked[2]), home=home, db=sqlite_url)
    cli("bank", "create", "benign", "--kind", "allow", home=home, db=sqlite_url)
    cli("bank", "add", "benign", "--image", str(banked[2]), home=home, db=sqlite_url)
    result = runner.invoke(
        app,
        [
            "scan",
            str(up / "copy.png"),
            "--out",
            str(out),
            "--workers",
            "0",
            "--no-provenance",
            "--home",
            str(home),
            "--db",
            sqlite_url,
        ],
    )
    assert result.exit_code == 0, result.output
    (rec,) = _records(out).values()
    assert rec["flagged"] is False
    known = [m for m in rec["matches"] if m["bank"] == "known"]
    assert known and all(m["suppressed"] for m in known)
    assert json.loads((out / "summary.json").read_text())["counts"]["allow_listed"] == 1


def test_exit_code_2_on_errors_without_matches(tmp_path, sqlite_url):
    (tmp_path / "bad.jpg").write_bytes(b"not an image at all")
    result = runner.invoke(
        app,
        [
            "scan",
            str(tmp_path / "bad.jpg"),
            "--out",
            str(tmp_path / "out"),
            "--workers",
            "0",
            "--home",
            str(tmp_path / "h"),
            "--db",
            sqlite_url,
        ],
    )
    assert result.exit_code == 2
    (rec,) = _records(tmp_path / "out").values()
    assert rec["error"]["code"] == "unsupported_type"


def test_parallel_workers_give_the_same_results(tmp_path, sqlite_url, uploads):
    banked, _, up = uploads
    home = tmp_path / "home"
    cli("bank", "create", "known", home=home, db=sqlite_url)
    cli("bank", "add", "known", *[a for p in banked for a in ("--image", str(p))], home=home, db=sqlite_url)
    outs = []
    for workers in ("0", "2"):
        out = tmp_path / f"out{workers}"
        runner.invoke(
            app,
            [
                "scan",
                str(up),
                "--out",
                str(out),
                "--workers",
                workers,
                "--no-provenance",
                "--home",
                str(home),
                "--db",
                sqlite_url,
            ],
        )
        outs.append(
            {
                k: (r.get("pdq"), r["flagged"], len(r["matches"]), (r.get("error") or {}).get("code"))
                for k, r in _records(out).items()
            }
        )
    assert outs[0] == outs[1] and len(outs[0]) == 8


@pytest.mark.slow
def test_kill_9_then_resume_loses_nothing_and_repeats_nothing(tmp_path, db_url):
    src = photos("bsds500", 120)
    up = tmp_path / "up"
    up.mkdir()
    for p in src:
        shutil.copy(p, up / p.name)
    home, out = tmp_path / "home", tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "tripline.cli",
        "scan",
        str(up),
        "--out",
        str(out),
        "--workers",
        "1",
        "--home",
        str(home),
        "--db",
        db_url,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    log = out / "results.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if log.exists() and log.read_bytes().count(b"\n") >= 10:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    lines_before = log.read_bytes().count(b"\n")
    assert 10 <= lines_before < len(src), "the kill should land mid-scan"
    with open(log, "ab") as f:  # a torn last write
        f.write(b'{"key": "half a rec')

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = log.read_text().splitlines()
    keys = [json.loads(line)["key"] for line in lines]
    assert len(keys) == len(set(keys)) == len(src)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["this_invocation"]["skipped_already_done"] >= lines_before
    store = Store(db_url)
    try:
        assert len(store.finished_keys(summary["run_id"])) == len(src)
    finally:
        store.close()


# --- hostile inputs (#23) -------------------------------------------------------------------------


def _scan(tmp_path, db, *paths, workers="2", out=None, extra=()):
    out = out or tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "scan",
            *map(str, paths),
            "--out",
            str(out),
            "--workers",
            workers,
            "--no-provenance",
            *extra,
            "--home",
            str(tmp_path / "home"),
            "--db",
            db,
        ],
    )
    return result, out


def test_missing_path_is_a_read_error_not_a_worker_crash(tmp_path, sqlite_url):
    # Regression (#23.1): the walker's ItemError failed to unpickle in the worker.
    result, out = _scan(tmp_path, sqlite_url, "/nonexistent/tripline")
    assert result.exit_code == 2, result.output
    (rec,) = _records(out).values()
    assert rec["error"]["code"] == "read_error"


def test_errors_found_while_walking_never_kill_the_scan(tmp_path, sqlite_url):
    # Regression (#23.1): a 4-byte "zip" among photos broke the pool; 1 run in 3 lost half the items.
    up = tmp_path / "up"
    up.mkdir()
    for p in photos("bsds500", 12):
        shutil.copy(p, up / p.name)
    (up / "m.zip").write_bytes(b"PK\x03\x04")
    (up / "n.zip").write_bytes(b"PK\x03\x04")
    result, out = _scan(tmp_path, sqlite_url, up)
    assert result.exit_code == 2, result.output
    recs = _records(out)
    assert len(recs) == 14
    codes = {_name(k): (r.get("error") or {}).get("code") for k, r in recs.items()}
    assert codes["m.zip"] == codes["n.zip"] == "decode_error"
    assert "worker_crashed" not in codes.values()


def test_broken_pool_at_submit_is_retried_not_fatal(tmp_path, sqlite_url, monkeypatch):
    from concurrent.futures.process import BrokenProcessPool

    from tripline.scan import runner as scan_runner

    real = scan_runner._new_pool
    calls = {"n": 0}

    class Flaky:
        def __init__(self, pool):
            self.pool = pool

        def submit(self, *a, **kw):
            calls["n"] += 1
            if calls["n"] == 2:
                raise BrokenProcessPool("a worker died")
            return self.pool.submit(*a, **kw)

        def __getattr__(self, name):
            return getattr(self.pool, name)

    monkeypatch.setattr(scan_runner, "_new_pool", lambda n, o: Flaky(real(n, o)))
    up = tmp_path / "up"
    up.mkdir()
    for p in photos("bsds500", 4):
        shutil.copy(p, up / p.name)
    result, out = _scan(tmp_path, sqlite_url, up)
    assert result.exit_code == 0, result.output
    assert len(_records(out)) == 4


def test_fifo_and_links_are_listed_and_the_scan_finishes(tmp_path, db_url):
    # Regression (#23.3, #23.11): a FIFO hung the scan; links vanished without a trace.
    up = tmp_path / "up"
    up.mkdir()
    (src,) = photos("bsds500", 1)
    shutil.copy(src, up / "a.jpg")
    os.mkfifo(up / "pipe.jpg")
    (up / "link.jpg").symlink_to(up / "a.jpg")
    (up / "dangling.jpg").symlink_to(up / "gone.jpg")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tripline.cli",
            "scan",
            str(up),
            "--out",
            str(tmp_path / "out"),
            "--workers",
            "0",
            "--no-provenance",
            "--home",
            str(tmp_path / "home"),
            "--db",
            db_url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    recs = {_name(k): r for k, r in _records(tmp_path / "out").items()}
    assert {n: (r.get("skipped") or {}).get("code") for n, r in recs.items()} == {
        "a.jpg": None,
        "pipe.jpg": "skipped_special",
        "link.jpg": "skipped_link",
        "dangling.jpg": "skipped_link",
    }
    counts = json.loads((tmp_path / "out" / "summary.json").read_text())["counts"]
    assert counts["skipped"] == 3 and counts["skipped_by_code"] == {"skipped_link": 2, "skipped_special": 1}
    assert counts["errors"] == 0
    # --follow-links: the link leads inside the scanned folder, so it is scanned
    result, out = _scan(tmp_path, db_url, up, workers="0", out=tmp_path / "out2", extra=["--follow-links"])
    recs = {_name(k): r for k, r in _records(out).items()}
    assert recs["link.jpg"].get("skipped") is None and recs["link.jpg"]["pdq"] == recs["a.jpg"]["pdq"]


def test_flagged_item_with_a_non_utf8_name(tmp_path, db_url):
    # Regression (#23.2): the thumbnail name of b"bad\xff\xfe.png" crashed every flush.
    (banked,) = photos("kodak24", 1)
    home = tmp_path / "home"
    cli("bank", "create", "known", home=home, db=db_url)
    cli("bank", "add", "known", "--image", str(banked), home=home, db=db_url)
    up = tmp_path / "up"
    up.mkdir()
    raw = os.fsencode(str(up)) + b"/bad\xff\xfe.png"
    with open(raw, "wb") as f:
        f.write(banked.read_bytes())
    for _attempt in range(2):  # the rerun resumes cleanly too
        result, out = _scan(tmp_path, db_url, up)
        assert result.exit_code == 1, result.output
    (rec,) = _records(out).values()
    assert rec["flagged"] and rec["key"].endswith("bad\\xff\\xfe.png")
    from tripline.scan.walker import name_bytes

    assert name_bytes(rec) == raw
    assert len(list((out / "thumbs").iterdir())) == 1


def test_unwritable_output_is_exit_3_with_a_message(tmp_path, sqlite_url):
    # #23.8: no traceback, an exit code that is not "matches found".
    (src,) = photos("bsds500", 1)
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    if os.access(out, os.W_OK):  # root ignores the mode bits
        out.chmod(0o700)
        out = Path("/proc/tripline-out")
    result, _ = _scan(tmp_path, sqlite_url, src, out=out)
    assert result.exit_code == 3, result.output
    assert "cannot write to the output folder" in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_disk_full_mid_batch_leaves_no_half_line(tmp_path, monkeypatch):
    from tripline.scan.results import ResultLog

    log = ResultLog(tmp_path / "results.jsonl")
    log.append([{"key": "a"}])
    real_write = log._fh.write

    def full(payload):
        real_write(payload[:5])
        log._fh.flush()  # the half line reached the disk
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(log._fh, "write", full, raising=False)
    with pytest.raises(OSError):
        log.append([{"key": "b"}, {"key": "c"}])
    assert (tmp_path / "results.jsonl").read_bytes() == b'{"key":"a"}\n'
    assert list(ResultLog(tmp_path / "results.jsonl").load()) == ["a"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG and /proc are Linux")
def test_workers_die_with_a_killed_scan(tmp_path, sqlite_url):
    # Regression (#23.7): kill -9 of the scan left its workers running.
    up = tmp_path / "up"
    up.mkdir()
    for p in photos("bsds500", 60):
        shutil.copy(p, up / p.name)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tripline.cli",
            "scan",
            str(up),
            "--out",
            str(tmp_path / "out"),
            "--workers",
            "2",
            "--home",
            str(tmp_path / "home"),
            "--db",
            sqlite_url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def children(pid):
        found = []
        for task in Path(f"/proc/{pid}/task").glob("*"):
            for c in (task / "children").read_text().split():
                found.append(int(c))
        return found

    workers: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(workers) < 2:
        try:
            workers = [
                c for c in children(proc.pid) if b"resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes()
            ]
        except (FileNotFoundError, ProcessLookupError):
            workers = []
        time.sleep(0.1)
    assert len(workers) >= 2, "the scan should have started its workers"
    tracker = [c for c in children(proc.pid) if c not in workers]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    def alive(pid):
        try:
            return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
        except FileNotFoundError:
            return False

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(alive(p) for p in workers + tracker):
        time.sleep(0.2)
    assert not [p for p in workers + tracker if alive(p)]


def test_worker_memory_cap_fails_one_item_not_the_worker(tmp_path, sqlite_url):
    # #23.4: memory per item is bounded by configuration (RLIMIT_DATA of each worker).
    up = tmp_path / "up"
    up.mkdir()
    Image.new("RGB", (9900, 9900), (10, 20, 30)).save(up / "big.png")
    Image.new("RGB", (200, 150), (10, 200, 30)).save(up / "small.png")
    result, out = _scan(tmp_path, sqlite_url, up, workers="1", extra=["--max-worker-memory", "550"])
    assert result.exit_code == 2, result.output
    recs = {_name(k): r for k, r in _records(out).items()}
    assert recs["big.png"]["error"]["code"] == "too_many_pixels"
    assert recs["small.png"].get("error") is None and recs["small.png"]["pdq"]
