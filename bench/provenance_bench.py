"""Provenance benchmark and watermark false-positive baseline.

    .venv/bin/python bench/provenance_bench.py [--shared ../shared] [--limit N]

Measures on every photo of shared/corpus/photos:
* metadata extraction (``read_provenance`` with watermarks off): median ms per
  photo, target <= 10 ms; and sd-parsers 0.6 on the same bytes in the same run;
* invisible-watermark decoding (all schemes, both channel orders, excluding
  the image decode): median ms per megapixel, target <= 30 ms/MP;
* the watermark false-positive rate: corpus photos are ordinary photographs,
  so any detection is a false positive.
Also times both readers on the generator fixtures. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from tripline.provenance import ProvenanceOptions, read_provenance  # noqa: E402
from tripline.provenance import watermark as wm  # noqa: E402


def _time(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(REPO.parent / "shared"))
    ap.add_argument("--limit", type=int, default=0, help="only the first N corpus photos")
    args = ap.parse_args()
    shared = Path(args.shared)
    corpus = shared / "corpus" / "photos"
    if not corpus.is_dir():
        print(f"error: corpus not found at {corpus} (expected ../shared from the repo root)", file=sys.stderr)
        return 2
    files = sorted(p for p in corpus.rglob("*") if p.is_file())
    if args.limit:
        files = files[: args.limit]
    try:
        from sd_parsers import ParserManager
    except ImportError:
        ParserManager = None  # noqa: N806
        print("sd-parsers not installed: no comparison (pip install 'sd-parsers==0.6')")
    sdp = ParserManager() if ParserManager else None

    meta_opts = ProvenanceOptions(watermarks=False)
    ours_ms, theirs_ms, wm_ms_per_mp, mp_list = [], [], [], []
    fps: list[tuple[str, str, int, int, str]] = []
    bit_rule_fps: list[tuple[str, str, int, int, str, float]] = []
    best_by_scheme: dict[str, int] = {}
    read_provenance(files[0].read_bytes(), options=meta_opts)  # warm imports
    for path in files:
        data = path.read_bytes()
        ours_ms.append(_time(lambda data=data: read_provenance(data, options=meta_opts)) * 1000)
        if sdp is not None:
            theirs_ms.append(_time(lambda data=data: sdp.parse(io.BytesIO(data))) * 1000)
        rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        mp = rgb.shape[0] * rgb.shape[1] / 1e6
        scores = []
        t = _time(lambda scores=scores, rgb=rgb: scores.append(wm.score_array(rgb)), repeat=2)
        wm_ms_per_mp.append(t * 1000 / mp)
        mp_list.append(mp)
        for sc in scores[0]:
            best_by_scheme[sc.scheme.name] = max(best_by_scheme.get(sc.scheme.name, 0), sc.matched)
            rel = path.relative_to(corpus).as_posix()
            if sc.confidence:
                fps.append((rel, sc.scheme.name, sc.matched, sc.total, sc.confidence))
            if sc.bits_confidence:
                bit_rule_fps.append((rel, sc.scheme.name, sc.matched, sc.total, sc.bits_confidence, sc.block_z))

    n = len(files)
    med_ours = statistics.median(ours_ms)
    med_wm = statistics.median(wm_ms_per_mp)
    print(f"corpus photos: {n} ({sum(mp_list):.1f} MP total, median {statistics.median(mp_list):.2f} MP)")
    print(
        f"metadata extraction, tripline: median {med_ours:.3f} ms/photo, p95 {np.percentile(ours_ms, 95):.3f} ms "
        f"(target <= 10 ms) {'PASS' if med_ours <= 10 else 'FAIL'}"
    )
    if theirs_ms:
        med_theirs = statistics.median(theirs_ms)
        print(
            f"metadata extraction, sd-parsers 0.6: median {med_theirs:.3f} ms/photo, p95 {np.percentile(theirs_ms, 95):.3f} ms"
        )
        print(
            f"  ratio sd-parsers/tripline (median): {med_theirs / med_ours:.2f}x; "
            f"total {sum(theirs_ms):.0f} ms vs {sum(ours_ms):.0f} ms"
        )
    print(
        f"watermark decoding (5 schemes x 2 channel orders): median {med_wm:.2f} ms/MP, "
        f"max {max(wm_ms_per_mp):.2f} ms/MP (target <= 30 ms/MP) {'PASS' if med_wm <= 30 else 'FAIL'}"
    )
    print(
        f"watermark false positives: {len(fps)}/{n} photos = {100 * len(fps) / n:.2f}% "
        f"(very likely: {sum(1 for f in fps if f[4] == 'very_likely')}, likely: {sum(1 for f in fps if f[4] == 'likely')})"
    )
    for f in fps:
        print(f"  FP {f[0]}: {f[1]} {f[2]}/{f[3]} {f[4]}")
    n_bit = len({f[0] for f in bit_rule_fps})
    print(f"  with the bit-count rule alone (no block-agreement gate): {n_bit}/{n} photos = {100 * n_bit / n:.2f}%")
    for f in bit_rule_fps:
        print(f"    {f[0]}: {f[1]} {f[2]}/{f[3]} {f[4]} (block z {f[5]:.1f})")
    print(
        "  highest chance agreement per scheme: "
        + ", ".join(
            f"{k} {v}/{len(next(s for s in wm.SCHEMES if s.name == k).bits)} (likely >= {wm.thresholds(len(next(s for s in wm.SCHEMES if s.name == k).bits))[0]})"
            for k, v in best_by_scheme.items()
        )
    )

    gen_dir = shared / "fixtures" / "provenance" / "generators"
    gens = sorted(p for p in gen_dir.rglob("*") if p.suffix in (".png", ".jpg"))
    if gens:
        ours = [_time(lambda p=p: read_provenance(p.read_bytes(), options=meta_opts), 5) * 1000 for p in gens]
        line = f"generator fixtures ({len(gens)}): tripline median {statistics.median(ours):.3f} ms"
        if sdp is not None:
            theirs = [_time(lambda p=p: sdp.parse(io.BytesIO(p.read_bytes())), 5) * 1000 for p in gens]
            line += (
                f", sd-parsers median {statistics.median(theirs):.3f} ms, "
                f"ratio {statistics.median(theirs) / statistics.median(ours):.2f}x"
            )
        print(line)
    ok = med_ours <= 10 and med_wm <= 30
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
