"""Hashing speed and conformance: Tripline vs python-threatexchange's PdqSignal.

Prints, per corpus subset, the mean per-image time of both pipelines measured
in the same run on the same bytes (files are read into memory first so disk
cache state does not favour either side), the speed ratio, and the mean and
maximum bit distance between Tripline's default-mode hash and the reference.

Target (issue 2): >= 10x on debian_photos, >= 1.5x on bsds500.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

from _shared import corpus_photos, shared_dir
from PIL import Image
from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_bytes
from threatexchange.signal_type.pdq.signal import PdqSignal

from tripline.hashing import hamming, hash_bytes, pdq_hash
from tripline.media import decode_image


def _time(fn, datas, repeat):
    best = []
    for data in datas:
        samples = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn(data)
            samples.append(time.perf_counter() - t0)
        best.append(min(samples))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=None)
    ap.add_argument("--subsets", default="debian_photos,bsds500")
    ap.add_argument("--limit", type=int, default=0, help="images per subset (0 = all)")
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats per image (min is kept)")
    ap.add_argument(
        "--fast-sides", default="512,256", help="fast-path decode sizes to compare (the first is Tripline's default)"
    )
    args = ap.parse_args()
    shared = shared_dir(args.shared)

    print(
        f"{'subset':15s} {'side':>5s} {'n':>4s} {'reference ms':>13s} {'pdq-only ms':>12s} {'full ms':>9s} "
        f"{'x pdq-only':>10s} {'x full':>7s} {'mean bits':>10s} {'max bits':>9s}"
    )
    for subset in args.subsets.split(","):
        paths = corpus_photos(shared, subset)
        if args.limit:
            paths = paths[: args.limit]
        datas = [p.read_bytes() for p in paths]
        ref = _time(PdqSignal.hash_from_bytes, datas, args.repeat)
        # PdqSignal returns '' below quality 50, so distances use the hasher underneath it.
        ref_hashes = [pdq_from_bytes(d)[0] for d in datas]
        for side in (int(s) for s in args.fast_sides.split(",")):
            # PDQ alone (decode + one hash), the like-for-like comparison ...
            ours_pdq = _time(
                lambda d, side=side: pdq_hash(decode_image(d, fast_min_side=side).image), datas, args.repeat
            )
            # ... and everything `tripline hash` computes: MD5, SHA-256, 8 dihedral PDQs.
            ours_full = _time(lambda d, side=side: _full(d, side), datas, args.repeat)
            dists = [hamming(h, _full(d, side).pdq) for d, h in zip(datas, ref_hashes, strict=True)]
            r, p, f = (statistics.mean(x) * 1000 for x in (ref, ours_pdq, ours_full))
            print(
                f"{subset:15s} {side:5d} {len(datas):4d} {r:13.2f} {p:12.2f} {f:9.2f} {r / p:10.2f} {r / f:7.2f} "
                f"{statistics.mean(dists):10.2f} {max(dists):9d}"
            )
            # Progressive JPEGs must be entropy-decoded in full whatever the
            # output size, which bounds any reduced-size decode; show the split.
            prog = [_progressive(d) for d in datas]
            for label, want in (("progressive", True), ("baseline", False)):
                sel = [i for i, pr in enumerate(prog) if pr == want]
                if sel and len(sel) < len(datas):
                    rr = statistics.mean(ref[i] for i in sel) * 1000
                    pp = statistics.mean(ours_pdq[i] for i in sel) * 1000
                    print(f"  {label:13s} {side:5d} {len(sel):4d} {rr:13.2f} {pp:12.2f} {'':9s} {rr / pp:10.2f}")


def _progressive(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as im:
        return bool(im.info.get("progressive") or im.info.get("progression"))


def _full(data: bytes, side: int):
    return hash_bytes(data, fast_min_side=side)


if __name__ == "__main__":
    main()
