"""Cost of the hostile corpus (tests/hostile/hostile_corpus.py) against an
anchor of ordinary photos with the same number of regular files, scanned the
same way in the same run: wall time and peak RSS of the whole process tree.

    python bench/hostile_bench.py [--workers 2] [--max-seconds 5]

Prints one line per folder and the hostile/anchor ratios.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "hostile"))

import hostile_corpus  # noqa: E402


def scan(folder: Path, work: Path, workers: str, max_seconds: str) -> dict:
    cmd = [
        sys.executable,
        str(REPO / "tests" / "hostile" / "treewatch.py"),
        sys.executable,
        "-m",
        "tripline.cli",
        "scan",
        str(folder),
        "--out",
        str(work / f"out-{folder.name}"),
        "--workers",
        workers,
        "--max-seconds",
        max_seconds,
        "--home",
        str(work / "home"),
        "--db",
        f"sqlite:///{work / 'db.sqlite'}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return json.loads(proc.stderr.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", default="2")
    ap.add_argument("--max-seconds", default="5")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        expect = hostile_corpus.build(work / "hostile")
        regular = sum(1 for v in expect.values() if v not in ("skipped_link", "skipped_special"))
        anchor = work / "anchor"
        anchor.mkdir()
        photos = hostile_corpus.photos(regular)
        for n in range(regular):
            src = photos[n % len(photos)]
            shutil.copy(src, anchor / f"{n:03d}{src.suffix}")
        base = scan(anchor, work, args.workers, args.max_seconds)
        hostile = scan(work / "hostile", work, args.workers, args.max_seconds)
    print(f"anchor   {regular} photos: {base['seconds']:.2f} s, peak tree RSS {base['peak_rss'] / 2**20:.0f} MiB")
    print(
        f"hostile  {len(expect)} entries: {hostile['seconds']:.2f} s, peak tree RSS {hostile['peak_rss'] / 2**20:.0f} MiB"
    )
    print(
        f"ratio    time x{hostile['seconds'] / base['seconds']:.2f}, memory x{hostile['peak_rss'] / base['peak_rss']:.2f}"
        f"  (workers={args.workers}, max-seconds={args.max_seconds})"
    )


if __name__ == "__main__":
    main()
