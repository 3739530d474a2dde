"""`tripline scan` on videos, end to end. Skipped until scan/pipeline.py and
scan/runner.py are wired to tripline.video (see docs/video.md); then it runs."""

from __future__ import annotations

import io
import json
import shutil

import pytest
from PIL import Image

from shared_data import shared
from tripline.banks import Banks
from tripline.banks.video import VideoBanks
from tripline.scan.pipeline import ScanOptions
from tripline.store import Store

pytestmark = pytest.mark.skipif(
    "video" not in getattr(ScanOptions, "__dataclass_fields__", {}),
    reason="scan is not wired to tripline.video yet (ScanOptions has no 'video' field)",
)


def test_scan_flags_an_edited_copy_of_a_banked_video(tmp_path):
    from tripline.scan.runner import run_scan, thumb_name

    clips = shared("fixtures", "vpdq", "videos")
    inp = tmp_path / "in"
    inp.mkdir()
    for name in ("chair-22-sd-sepia-bar", "doorknob-hd-no-bar"):
        shutil.copy(clips / f"{name}.mp4", inp / f"{name}.mp4")
    (inp / "broken.mp4").write_bytes((clips / "doorknob-hd-no-bar.mp4").read_bytes()[:4000])
    with Store(f"sqlite:///{tmp_path / 'db.sqlite'}") as store:
        banks = Banks(store, tmp_path / "idx")
        banks.create("known")
        VideoBanks.of(banks).add_video("known", (clips / "chair-orig-22-sd-bar.mp4").read_bytes())
        VideoBanks.of(banks).close()
        result = run_scan([str(inp)], out_dir=tmp_path / "out", store=store, banks=banks, workers=0)
        banks.close()
    records = {r["key"].rsplit("/", 1)[-1]: r for r in map(json.loads, (tmp_path / "out" / "results.jsonl").open())}
    sepia = records["chair-22-sd-sepia-bar.mp4"]
    assert sepia["flagged"] and sepia["matches"][0]["signal_type"] == "vpdq"
    assert sepia["matches"][0]["segments"][0]["start"] == 0.0
    assert not records["doorknob-hd-no-bar.mp4"]["flagged"]
    assert records["broken.mp4"]["error"]["code"] == "truncated"
    assert result.summary["counts"]["flagged"] == 1
    grid = Image.open(io.BytesIO((tmp_path / "out" / "thumbs" / thumb_name(sepia["key"])).read_bytes()))
    assert grid.mode == "L"
