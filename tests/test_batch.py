"""Backfills on the local engine: same records as `tripline scan`, every
source kind (folders, archives, manifests, fsspec), the Parquet + database
sinks, re-matching without decoding, and resuming after a kill."""

from __future__ import annotations

import json
import os
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from batch_support import cli_app, make_bank, make_uploads, scan_records, sink_records
from shared_data import photos
from tripline.banks import Banks
from tripline.batch import BackfillError, plan_scan, run_backfill
from tripline.scan import ScanOptions
from tripline.store import Store

runner = CliRunner()
OPTS = ScanOptions(provenance=False)


@pytest.fixture
def env(tmp_path):
    banked, up = make_uploads(tmp_path)
    home = tmp_path / "home"
    db = f"sqlite:///{tmp_path / 'db' / 'tripline.db'}"
    make_bank(db, home, banked)
    return up, home, db


def invoke(*args, home, db):
    return runner.invoke(cli_app(), [*args, "--home", str(home), "--db", db], catch_exceptions=False)


def open_banks(home, db):
    store = Store(db)
    return store, Banks(store, Path(home) / "index")


def test_backfill_cli_gives_the_same_records_as_scan(env, tmp_path):
    up, home, db = env
    out, sink = tmp_path / "scan-out", tmp_path / "sink"
    res = invoke("scan", str(up), "--out", str(out), "--workers", "0", "--no-provenance", home=home, db=db)
    assert res.exit_code == 1, res.output
    expected = scan_records(out)
    assert len(expected) == 8 and sum(r["flagged"] for r in expected.values()) == 3

    res = invoke(
        "backfill",
        "--source",
        str(up),
        "--sink",
        str(sink),
        "--workers",
        "2",
        "--shard-size",
        "3",
        "--no-provenance",
        home=home,
        db=db,
    )
    assert res.exit_code == 1, res.output
    assert "items/s" in res.output + (res.stderr if hasattr(res, "stderr") else "")
    got = sink_records(str(sink))
    assert got == expected

    # Partitioned by decision; every row's partition is its decision.
    parts = {p.name for p in sink.iterdir() if p.is_dir()}
    assert parts <= {"decision=block", "decision=review", "decision=allow"} and "decision=review" in parts
    for f in sink.glob("decision=*/*.parquet"):
        t = pq.read_table(f)
        assert set(t.column("action").to_pylist()) == {f.parent.name.removeprefix("decision=")}

    summary = json.loads((sink / "_summary.json").read_text())
    assert summary["counts"]["items"] == 8 and summary["counts"]["flagged"] == 3
    assert summary["counts"]["errors_by_code"] == {"truncated": 1}

    # The database holds the flagged items only.
    store = Store(db)
    try:
        stored = {r["key"] for r in store.run_items(summary["run_id"])}
    finally:
        store.close()
    assert stored == {k for k, r in expected.items() if r["flagged"]}


def test_backfill_matches_an_off_centre_crop_as_scan_does(tmp_path):
    # The snapshot shipped to workers carries the banks' keypoint records.
    banked = photos("kodak24", 4)[3:]
    up, home = tmp_path / "up", tmp_path / "home"
    up.mkdir()
    db = f"sqlite:///{tmp_path / 'kp.db'}"
    make_bank(db, home, banked)
    with Image.open(banked[0]) as im:
        w, h = im.size
        im.convert("RGB").crop((w // 12, h // 30, w - w // 40, h - h // 11)).save(up / "reframed.jpg", quality=80)
    out, sink = tmp_path / "scan-out", tmp_path / "sink"
    res = invoke("scan", str(up), "--out", str(out), "--workers", "0", "--no-provenance", home=home, db=db)
    assert res.exit_code == 1, res.output
    expected = scan_records(out)
    res = invoke(
        "backfill", "--source", str(up), "--sink", str(sink), "--workers", "0", "--no-provenance", home=home, db=db
    )
    assert res.exit_code == 1, res.output
    got = sink_records(str(sink))
    assert got == expected
    [rec] = got.values()
    assert rec["flagged"] and rec["matches"][0]["normalisation"] == "keypoints"


def test_manifests_and_fsspec_sources(env, tmp_path):
    up, home, db = env
    store, banks = open_banks(home, db)
    try:
        base = run_backfill([str(up)], str(tmp_path / "s0"), banks=banks, options=OPTS, workers=0)
        expected = sink_records(str(tmp_path / "s0"))
        files = sorted(str(p) for p in up.rglob("*") if p.is_file())

        # JSONL manifest: strings and {"uri": ...} objects; duplicates listed once.
        man = tmp_path / "m.jsonl"
        man.write_text("\n".join([json.dumps(files[0]), *(json.dumps({"uri": f}) for f in files)]) + "\n")
        run_backfill([f"manifest:{man}"], str(tmp_path / "s1"), banks=banks, options=OPTS, workers=0)
        assert sink_records(str(tmp_path / "s1")) == expected

        # Parquet manifest.
        pq.write_table(pa.table({"uri": files}), tmp_path / "m.parquet")
        run_backfill([f"manifest:{tmp_path / 'm.parquet'}"], str(tmp_path / "s2"), banks=banks, options=OPTS, workers=0)
        assert sink_records(str(tmp_path / "s2")) == expected

        # fsspec: file:// and memory:// (an object store stand-in), sink on memory:// too.
        run_backfill([f"file://{up}"], str(tmp_path / "s3"), banks=banks, options=OPTS, workers=0)
        mem = fsspec.filesystem("memory")
        for f in files:
            mem.pipe_file(f"/bucket/uploads/{os.path.relpath(f, up)}", Path(f).read_bytes())
        res = run_backfill(["memory://bucket/uploads"], "memory://bucket/results", banks=banks, options=OPTS, workers=0)
        assert res.summary["counts"]["flagged"] == base.summary["counts"]["flagged"] == 3
        for name, got in (("s3", sink_records(str(tmp_path / "s3"))), ("mem", sink_records("memory://bucket/results"))):
            assert len(got) == len(expected), name
            by_rel = {k.split("uploads/", 1)[1]: r for k, r in got.items()}
            for key, want in expected.items():
                rec = by_rel[key.split("uploads/", 1)[1]]
                for field in ("md5", "sha256", "pdq", "pdq_dihedral", "flagged", "decision", "error"):
                    assert rec.get(field) == want.get(field), (name, key, field)
                assert [m["value"] for m in rec["matches"]] == [m["value"] for m in want["matches"]]
        assert all(
            k.startswith("memory://") and "/bucket/uploads/" in k for k in sink_records("memory://bucket/results")
        )
    finally:
        banks.close()
        store.close()
        fsspec.filesystem("memory").rm("/bucket", recursive=True)


def test_rematch_joins_stored_hashes_against_new_banks_without_decoding(env, tmp_path, monkeypatch):
    up, home, db = env
    scan_out, first = tmp_path / "scan-out", tmp_path / "first"
    invoke("scan", str(up), "--out", str(scan_out), "--workers", "0", "--no-provenance", home=home, db=db)
    store, banks = open_banks(home, db)
    try:
        run_backfill([str(up)], str(first), banks=banks, options=OPTS, workers=0)
    finally:
        banks.close()
        store.close()
    before = sink_records(str(first))
    newly = [k for k in before if k.endswith("sub/" + photos("bsds500", 3)[2].name)]
    assert len(newly) == 1 and not before[newly[0]]["flagged"]

    make_bank(db, home, [photos("bsds500", 3)[2]], name="new-list")  # a new hash list arrives

    def no_decode(*a, **k):
        raise AssertionError("rematch decoded media")

    from tripline import hashing, media
    from tripline.batch import worker
    from tripline.media import decode

    monkeypatch.setattr(decode, "decode_image", no_decode)
    monkeypatch.setattr(media, "decode_image", no_decode)
    monkeypatch.setattr(hashing, "hash_bytes", no_decode)
    monkeypatch.setattr(worker, "process_item", no_decode)

    for src, sink in ((str(first), tmp_path / "re1"), (str(scan_out), tmp_path / "re2")):
        res = invoke("backfill", "--rematch", "--source", src, "--sink", str(sink), "--workers", "0", home=home, db=db)
        assert res.exit_code == 1, res.output
        after = sink_records(str(sink))
        assert set(after) == set(before)
        assert after[newly[0]]["flagged"] and after[newly[0]]["matches"][0]["bank"] == "new-list"
        for k, r in after.items():
            assert r["pdq"] == before[k].get("pdq") if "pdq" in r else True
            if k != newly[0]:
                assert r["flagged"] == before[k]["flagged"]
                assert r["decision"]["action"] == before[k]["decision"]["action"]

    # A rematch cannot overwrite what it reads.
    with pytest.raises(BackfillError):
        store, banks = open_banks(home, db)
        try:
            run_backfill([str(first)], str(first), banks=banks, rematch=True, workers=0)
        finally:
            banks.close()
            store.close()


class _Killed(Exception):
    pass


def test_a_killed_job_resumes_without_redoing_or_double_counting(env, tmp_path):
    up, home, db = env
    sink = tmp_path / "sink"
    store, banks = open_banks(home, db)
    try:
        shards = plan_scan([str(up)], 2)
        assert len(shards) == 4
        victim = shards[2]["units"][0]

        def kill(rec):
            if rec["key"].startswith(victim):
                raise _Killed()

        with pytest.raises(_Killed):
            run_backfill(
                [str(up)], str(sink), banks=banks, store=store, options=OPTS, workers=0, shard_size=2, on_item=kill
            )
        ckpt = json.loads((sink / "_checkpoint.json").read_text())
        assert sorted(ckpt["shards"]) == [shards[0]["id"], shards[1]["id"]]
        assert json.loads((sink / "_summary.json").read_text())["status"] == "interrupted"

        # A shard that finished writing but died before its checkpoint entry: redone, overwritten, not doubled.
        del ckpt["shards"][shards[1]["id"]]
        (sink / "_checkpoint.json").write_text(json.dumps(ckpt))

        seen: list[str] = []
        res = run_backfill(
            [str(up)],
            str(sink),
            banks=banks,
            store=store,
            options=OPTS,
            workers=0,
            shard_size=2,
            on_item=lambda r: seen.append(r["key"]),
        )
        assert res.summary["shards"] == {"total": 4, "done": 4, "resumed": 1}
        assert not any(k.startswith(tuple(shards[0]["units"])) for k in seen)  # finished shard not redone
        got = sink_records(str(sink))
        assert len(got) == res.summary["counts"]["items"] == 8
        assert res.summary["counts"]["flagged"] == 3
        assert res.summary["status"] == "finished"

        # Another job in the same sink is refused; --fresh starts over.
        with pytest.raises(BackfillError):
            run_backfill([str(up / "sub")], str(sink), banks=banks, options=OPTS, workers=0, shard_size=2)
        res = run_backfill([str(up / "sub")], str(sink), banks=banks, options=OPTS, workers=0, shard_size=2, fresh=True)
        assert len(sink_records(str(sink))) == res.summary["counts"]["items"] == 3
    finally:
        banks.close()
        store.close()


def crash_once(rec):
    """Kills the worker process the first time it reaches the copy (marker file beside the sink)."""
    marker = Path(os.environ["TRIPLINE_TEST_MARKER"])
    if rec["key"].endswith("copy.png") and not marker.exists():
        marker.write_text("x")
        os._exit(3)


def test_local_worker_crash_is_retried(env, tmp_path, monkeypatch):
    up, home, db = env
    monkeypatch.setenv("TRIPLINE_TEST_MARKER", str(tmp_path / "marker"))
    store, banks = open_banks(home, db)
    try:
        res = run_backfill(
            [str(up)], str(tmp_path / "sink"), banks=banks, options=OPTS, workers=2, shard_size=2, on_item=crash_once
        )
    finally:
        banks.close()
        store.close()
    assert (tmp_path / "marker").exists() and res.summary["this_invocation"]["retries"] >= 1
    got = sink_records(str(tmp_path / "sink"))
    assert len(got) == res.summary["counts"]["items"] == 8 and res.summary["counts"]["flagged"] == 3
