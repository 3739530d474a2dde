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

from tripline.cli import _register, app
from tripline.store import Store
from shared_data import photos

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

    result = runner.invoke(app, ["scan", str(up), "--out", str(out), "--workers", "0", "--no-provenance",
                                 "--home", str(home), "--db", db_url])
    assert result.exit_code == 1, result.output  # matches found
    recs = {_name(k): r for k, r in _records(out).items()}
    assert set(recs) == {"rotated.jpg", "mirrored.jpg", "copy.png", "broken.jpg", "inner/original.png",
                         *(p.name for p in clean)}
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
    runner.invoke(app, ["scan", str(up), "--out", str(out), "--workers", "0", "--no-provenance",
                        "--home", str(home), "--db", sqlite_url])
    html = (out / "report.html").read_text()
    assert "copy.png" in html and "review P0" in html  # grouped by decision and priority
    assert str(up) not in html.replace(str(up / "copy.png"), "")  # no links to originals
    thumbs = list((out / "thumbs").iterdir())
    assert len(thumbs) == 1
    with Image.open(thumbs[0]) as t:
        assert t.mode == "L" and max(t.size) <= 96
    assert "src=\"file:" not in html and "<a " not in html


def test_allow_list_suppresses_and_says_so(tmp_path, sqlite_url, uploads):
    banked, _, up = uploads
    home, out = tmp_path / "home", tmp_path / "out"
    cli("bank", "create", "known", home=home, db=sqlite_url)
    cli("bank", "add", "known", "--image", str(banked[2]), home=home, db=sqlite_url)
    cli("bank", "create", "benign", "--kind", "allow", home=home, db=sqlite_url)
    cli("bank", "add", "benign", "--image", str(banked[2]), home=home, db=sqlite_url)
    result = runner.invoke(app, ["scan", str(up / "copy.png"), "--out", str(out), "--workers", "0",
                                 "--no-provenance", "--home", str(home), "--db", sqlite_url])
    assert result.exit_code == 0, result.output
    (rec,) = _records(out).values()
    assert rec["flagged"] is False
    known = [m for m in rec["matches"] if m["bank"] == "known"]
    assert known and all(m["suppressed"] for m in known)
    assert json.loads((out / "summary.json").read_text())["counts"]["allow_listed"] == 1


def test_exit_code_2_on_errors_without_matches(tmp_path, sqlite_url):
    (tmp_path / "bad.jpg").write_bytes(b"not an image at all")
    result = runner.invoke(app, ["scan", str(tmp_path / "bad.jpg"), "--out", str(tmp_path / "out"),
                                 "--workers", "0", "--home", str(tmp_path / "h"), "--db", sqlite_url])
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
        runner.invoke(app, ["scan", str(up), "--out", str(out), "--workers", workers, "--no-provenance",
                            "--home", str(home), "--db", sqlite_url])
        outs.append({k: (r.get("pdq"), r["flagged"], len(r["matches"]), (r.get("error") or {}).get("code"))
                     for k, r in _records(out).items()})
    assert outs[0] == outs[1] and len(outs[0]) == 8


@pytest.mark.slow
def test_kill_9_then_resume_loses_nothing_and_repeats_nothing(tmp_path, db_url):
    src = photos("bsds500", 120)
    up = tmp_path / "up"
    up.mkdir()
    for p in src:
        shutil.copy(p, up / p.name)
    home, out = tmp_path / "home", tmp_path / "out"
    cmd = [sys.executable, "-m", "tripline.cli", "scan", str(up), "--out", str(out), "--workers", "1",
           "--home", str(home), "--db", db_url]
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
