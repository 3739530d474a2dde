"""Shared set-up for the backfill tests: a small upload folder, a bank of
some of its photos, and a comparison of records with timing fields removed."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

from PIL import Image

from shared_data import photos
from tripline.batch import read_records

TIMING = ("scanned_at",)


def make_uploads(root: Path) -> tuple[list[Path], Path]:
    banked = photos("kodak24", 2)
    clean = photos("bsds500", 3)
    up = root / "uploads"
    (up / "sub").mkdir(parents=True)
    with Image.open(banked[0]) as im:
        im.convert("RGB").rotate(90, expand=True).save(up / "rotated.jpg", quality=90)
    shutil.copy(banked[1], up / "copy.png")
    for p in clean:
        shutil.copy(p, up / "sub" / p.name)
    whole = clean[0].read_bytes()
    (up / "broken.jpg").write_bytes(whole[: len(whole) // 2])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(banked[0], "inner/original.png")
        zf.write(clean[1], "inner/clean.jpg")
    (up / "batch.zip").write_bytes(buf.getvalue())
    return banked, up


def cli_app():
    """The tripline app with the backfill command registered (once)."""
    from tripline.cli import _register, app, backfill_cmd

    if not any(c.name == "scan" for c in app.registered_commands):
        _register()
    if not any(c.name == "backfill" for c in app.registered_commands):
        backfill_cmd.register(app)
    return app


def make_bank(db_url: str, home: Path, images: list[Path], name: str = "known") -> None:
    """A bank built from images (PDQ, MD5, SHA-256 and region hashes), as `bank add --image` does."""
    from typer.testing import CliRunner

    runner, app = CliRunner(), cli_app()
    common = ["--home", str(home), "--db", db_url]
    runner.invoke(app, ["bank", "create", name, *common])
    res = runner.invoke(app, ["bank", "add", name, *[a for p in images for a in ("--image", str(p))], *common])
    assert res.exit_code == 0, res.output


def strip(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if k not in TIMING}


def scan_records(out: Path) -> dict[str, dict]:
    return {r["key"]: strip(r) for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}


def sink_records(sink: str) -> dict[str, dict]:
    recs = [strip(r) for r in read_records(sink)]
    keys = [r["key"] for r in recs]
    assert len(keys) == len(set(keys)), "an item was written twice"
    return {r["key"]: r for r in recs}
