"""Video benchmark: vPDQ hashing speed and conformance, and match time against
a bank of 100k video frames, Tripline vs the anchors in the same run.

Hashing (the 14 sample clips in ../shared/fixtures/vpdq/videos):
  tripline   tripline.video.hash_video (vpdq in a killable child process)
  vpdq       vpdq.computeHash in-process (the reference binding: the C++ hasher)
  te         python-threatexchange VPDQSignal.hash_from_file (1 frame per second only)
  every frame (conformance mode, also checked against expected/) and 1 fps.

Matching: a bank of the sample clips' 1-fps hashes plus synthetic videos
(random frame hashes, 100 frames each) up to --bank-frames frames; every
sample clip is a query.
  tripline   VideoBanks + VideoMatcher (frame PDQIndex, multi-index hashing)
  te         python-threatexchange VPDQIndex (faiss)
Both must agree on which banked videos match each query.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import vpdq
from _shared import REPO  # noqa: F401 - puts the repo layout in one place

from tripline.banks import Banks
from tripline.banks.video import VideoBanks, signal_id
from tripline.hashing import hamming
from tripline.store import Store
from tripline.video import Frame, hash_video, to_te_signal


def clips(shared: Path) -> list[Path]:
    return sorted((shared / "fixtures" / "vpdq" / "videos").glob("*.mp4"))


def expected(shared: Path, name: str):
    lines = (shared / "fixtures" / "vpdq" / "expected" / f"{name}.txt").read_text().split()
    return [(int(n), int(q), h) for n, q, h, _ in (line.split(",") for line in lines)]


def bench_hashing(paths: list[Path], shared: Path) -> dict[str, list[Frame]]:
    print("== hashing: frames hashed per second (all 14 clips) ==")
    n_every = 0
    t_trip = t_ref = 0.0
    bad = 0
    for p in paths:
        data = p.read_bytes()
        t0 = time.perf_counter()
        got = hash_video(data, seconds_per_hash=0)
        t_trip += time.perf_counter() - t0
        t0 = time.perf_counter()
        ref = vpdq.computeHash(str(p), seconds_per_hash=0, thread_count=1)
        t_ref += time.perf_counter() - t0
        n_every += len(got)
        want = expected(shared, p.stem)
        ok = len(got) == len(want) == len(ref)
        far = sum(
            1
            for (_, q, h), g in zip(want, got, strict=False)
            if q >= 50 and g.quality >= 50 and hamming(h, g.pdq) >= 31
        )
        bad += (not ok) + far
        print(f"  {p.stem:34s} frames {len(got):4d}/{len(want):4d}  frames at distance >= 31: {far}")
    print(f"  conformance: {'PASS' if bad == 0 else 'FAIL'} ({len(paths)} clips, {n_every} frames)")
    print(
        f"  every frame  tripline {n_every / t_trip:7.1f} fps   vpdq in-process {n_every / t_ref:7.1f} fps   ratio {t_ref / t_trip:.2f}"
    )

    hashes: dict[str, list[Frame]] = {}
    t_trip = t_te = 0.0
    n1 = 0
    try:
        from threatexchange.extensions.vpdq.vpdq import VPDQSignal
    except ImportError:
        VPDQSignal = None
    for p in paths:
        data = p.read_bytes()
        t0 = time.perf_counter()
        hashes[p.stem] = hash_video(data)
        t_trip += time.perf_counter() - t0
        n1 += len(hashes[p.stem])
        if VPDQSignal is not None:
            t0 = time.perf_counter()
            VPDQSignal.hash_from_file(p)
            t_te += time.perf_counter() - t0
    line = f"  1 per second tripline {t_trip:6.2f} s ({n1} hashes)"
    if VPDQSignal is not None:
        line += f"   python-threatexchange {t_te:6.2f} s   ratio {t_te / t_trip:.2f}"
    print(line)
    return hashes


def bench_matching(hashes: dict[str, list[Frame]], bank_frames: int, seed: int = 7) -> None:
    print(f"== matching: {len(hashes)} query clips against a bank of {bank_frames} frames ==")
    rng = random.Random(seed)
    bank: list[tuple[list[Frame], str]] = [(f, n) for n, f in hashes.items()]
    total = sum(len(f) for f, _ in bank)
    i = 0
    while total < bank_frames:
        frames = [Frame(f"{rng.getrandbits(256):064x}", 100, float(t)) for t in range(100)]
        bank.append((frames, f"synthetic-{i}"))
        total += 100
        i += 1
    queries = [{"vpdq": {"frames": [[f.pdq, f.quality, f.timestamp] for f in fs]}} for fs in hashes.values()]

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/bench.db")
        banks = Banks(store, Path(tmp) / "idx")
        vb = VideoBanks.of(banks)
        banks.create("bench")
        t0 = time.perf_counter()
        vb.add("bench", bank)
        t_add = time.perf_counter() - t0
        t0 = time.perf_counter()
        matcher = vb.matcher(["bench"])
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        found = matcher.match(queries)
        t_match = time.perf_counter() - t0
        matcher.close()
        vb.close()
        banks.close()
        store.close()
    names = {signal_id(f): n for f, n in bank}
    trip = [sorted(names[m.value] for m in ms) for ms in found]
    print(
        f"  tripline  bank add {t_add:6.2f} s  matcher load {t_load:5.2f} s  "
        f"match {t_match * 1000:7.1f} ms for {len(queries)} queries ({t_match * 1000 / len(queries):.2f} ms/query)"
    )

    try:
        from threatexchange.extensions.vpdq.vpdq_index import VPDQIndex
    except ImportError:
        print("  python-threatexchange not installed: no anchor")
        return
    t0 = time.perf_counter()
    index = VPDQIndex.build((to_te_signal(f), n) for f, n in bank)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    te = [sorted(m.metadata for m in index.query(to_te_signal(fs))) for fs in hashes.values()]
    t_te = time.perf_counter() - t0
    print(
        f"  te/faiss  build {t_build:6.2f} s  match {t_te * 1000:7.1f} ms ({t_te * 1000 / len(queries):.2f} ms/query)"
        f"   ratio {t_te / t_match:.2f}"
    )
    print(f"  same matches as python-threatexchange: {trip == te}")
    for n, ms in zip(hashes, trip, strict=True):
        print(f"    {n:34s} -> {', '.join(ms) or '-'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    ap.add_argument("--bank-frames", type=int, default=100_000)
    args = ap.parse_args()
    shared = Path(args.shared)
    paths = clips(shared)
    if not paths:
        raise SystemExit(f"no sample videos under {shared}/fixtures/vpdq/videos")
    hashes = bench_hashing(paths, shared)
    bench_matching(hashes, args.bank_frames)


if __name__ == "__main__":
    main()
