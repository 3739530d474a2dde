"""The hostile corpus of #23, scanned end to end with and without worker
processes: the scan finishes within a wall-clock budget, every entry has
exactly one record with the expected outcome, nothing is a worker crash,
and the process tree stays under a memory bound."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import hostile_corpus as hc
import pytest

# Budgets for the 2-core test machine; override for slower hosts.
WALL_SECONDS = float(os.environ.get("TRIPLINE_HOSTILE_SECONDS", "60"))
MAX_TREE_RSS = int(os.environ.get("TRIPLINE_HOSTILE_MAX_RSS_MB", "1600")) * 1024**2
ITEM_SECONDS = "5"
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile") / "corpus"
    return folder, hc.build(folder)


def _outcome(rec: dict):
    if rec.get("skipped"):
        return rec["skipped"]["code"]
    return (rec.get("error") or {}).get("code")


@pytest.mark.parametrize("workers", ["2", "0"])
def test_hostile_corpus_scan(corpus, tmp_path, sqlite_url, workers):
    folder, expect = corpus
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        str(HERE / "treewatch.py"),
        sys.executable,
        "-m",
        "tripline.cli",
        "scan",
        str(folder),
        "--out",
        str(out),
        "--workers",
        workers,
        "--max-seconds",
        ITEM_SECONDS,
        "--home",
        str(tmp_path / "home"),
        "--db",
        sqlite_url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=WALL_SECONDS * 2)
    stats = json.loads(proc.stderr.strip().splitlines()[-1])
    print(f"workers={workers}: {stats}")
    assert proc.returncode == 2, proc.stderr[-3000:]  # item errors, no match, no scan failure
    assert stats["seconds"] < WALL_SECONDS, stats
    assert stats["peak_rss"] < MAX_TREE_RSS, stats

    lines = (out / "results.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    keys = [r["key"] for r in records]
    assert len(keys) == len(set(keys)), "one record per entry"
    got = {r["key"]: _outcome(r) for r in records}
    assert "worker_crashed" not in got.values()
    missing = set(expect) - set(got)
    assert not missing, f"entries without a record: {sorted(missing)}"
    wrong = {k: (got[k], v) for k, v in expect.items() if got[k] != v}
    assert not wrong, f"(got, expected): {wrong}"
    extra = set(got) - set(expect)
    assert not extra, f"records nobody expected: {sorted(extra)}"

    by_key = {r["key"]: r for r in records}
    bad_name = next(r for r in records if "bad\\xff\\xfe" in r["key"])
    assert bad_name.get("key_b64") and bad_name.get("pdq")
    assert any(w.startswith("carries_archive") for w in by_key[str(folder / "poly.jpg")].get("warnings", []))
    for name in ("ztxt-bomb.png", "xmp-itxt.png", "comfy-cycle.png", "lora-flood.png"):
        assert by_key[str(folder / name)].get("pdq"), name  # the pixels survive the metadata

    counts = json.loads((out / "summary.json").read_text())["counts"]
    assert counts["skipped_by_code"] == {"skipped_link": 5, "skipped_special": 2}


def test_hash_and_provenance_never_block_on_special_files(corpus):
    folder, _ = corpus
    names = ["pipe.jpg", "sock.png", "link-outside.jpg", "link-loop", "sub"]
    for command in (["hash", "--json"], ["provenance", "--json"]):
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "tripline.cli", *command, *(str(folder / n) for n in names)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert time.monotonic() - t0 < 30
        assert proc.returncode == 2
        recs = [json.loads(line) for line in proc.stdout.splitlines()]
        assert [r["error"]["code"] for r in recs] == [
            "skipped_special",
            "skipped_special",
            "skipped_link",
            "skipped_link",
            "read_error",
        ], command
        assert "root:" not in proc.stdout  # nothing of /etc/passwd is printed
