"""Backfills on a real local Ray instance (2 CPUs, one per module): the same
records as `tripline scan`, and a worker killed mid-job that Ray retries with
no item lost or written twice."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

# Everything below imports after the importorskip, so that without ray the module is skipped.
ray = pytest.importorskip("ray")
from ray import cloudpickle  # noqa: E402

from batch_support import cli_app, make_bank, make_uploads, scan_records, sink_records  # noqa: E402
from tripline.banks import Banks  # noqa: E402
from tripline.batch import ray_init, run_backfill  # noqa: E402
from tripline.scan import ScanOptions  # noqa: E402
from tripline.store import Store  # noqa: E402

# Hooks defined here travel to Ray workers by value (workers cannot import test modules).
cloudpickle.register_pickle_by_value(sys.modules[__name__])

OPTS = ScanOptions(provenance=False)


@pytest.fixture(scope="module")
def ray_cluster():
    ray_init(num_cpus=2)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def env(tmp_path_factory, ray_cluster):
    root = tmp_path_factory.mktemp("batch-ray")
    banked, up = make_uploads(root)
    home, db = root / "home", f"sqlite:///{root / 'db' / 'tripline.db'}"
    make_bank(db, home, banked)
    from typer.testing import CliRunner

    out = root / "scan-out"
    res = CliRunner().invoke(
        cli_app(),
        ["scan", str(up), "--out", str(out), "--workers", "0", "--no-provenance", "--home", str(home), "--db", db],
    )
    assert res.exit_code == 1, res.output
    store = Store(db)
    banks = Banks(store, home / "index")
    yield root, up, banks, store, scan_records(out)
    banks.close()
    store.close()


def test_ray_backfill_matches_scan(env):
    root, up, _banks, store, expected = env
    from typer.testing import CliRunner

    sink = root / "ray-sink"
    cli = CliRunner().invoke(
        cli_app(),
        [
            "backfill",
            "--engine",
            "ray",
            "--source",
            str(up),
            "--sink",
            str(sink),
            "--workers",
            "2",
            "--shard-size",
            "3",
            "--no-provenance",
            "--home",
            str(root / "home"),
            "--db",
            f"sqlite:///{root / 'db' / 'tripline.db'}",
        ],
    )
    assert cli.exit_code == 1, cli.output
    assert sink_records(str(sink)) == expected
    summary = json.loads((sink / "_summary.json").read_text())
    assert summary["counts"]["items"] == len(expected) == 8
    assert summary["counts"]["flagged"] == 3 and summary["status"] == "finished"
    flagged_db = {r["key"] for r in store.run_items(summary["run_id"])}
    assert flagged_db == {k for k, r in expected.items() if r["flagged"]}


def test_killed_ray_worker_is_retried_without_loss_or_duplicates(env):
    root, up, banks, _store, expected = env
    marker = root / "killed-marker"
    marker_path = str(marker)

    def die_once(rec):
        m = Path(marker_path)
        if rec["key"].endswith("rotated.jpg") and not m.exists():
            m.write_text(str(os.getpid()))
            os._exit(1)  # the worker process dies mid-shard, as on an OOM kill or a lost node

    seen_driver_pid = os.getpid()
    res = run_backfill(
        [str(up)],
        str(root / "ray-kill"),
        banks=banks,
        options=OPTS,
        engine="ray",
        workers=2,
        shard_size=1,
        on_item=die_once,
    )
    assert marker.exists() and int(marker.read_text()) != seen_driver_pid  # a worker really died
    got = sink_records(str(root / "ray-kill"))
    assert got == expected
    assert res.summary["counts"]["items"] == 8 and res.summary["shards"]["done"] == 7
    ckpt = json.loads((root / "ray-kill" / "_checkpoint.json").read_text())
    assert sum(s["items"] for s in ckpt["shards"].values()) == 8
