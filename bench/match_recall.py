"""Match robustness: recall per transform and false matches, Tripline vs python-threatexchange.

Banks the PDQ hash of every original photo in ../shared/corpus/photos through both
pipelines, then queries each bank with edited copies of the same photos:

  Tripline   bank = hash_bytes(original).pdq; a query matches when ANY of its 8 dihedral
             hashes is within 31 bits (inclusive) and its quality is >= 50.
  reference  bank = pdq_from_bytes(original); one hash per query, same 31 / 50 rule.

Recall for a transform = share of photos whose edited copy matches its own original.
False matches = (query photo i, bank entry j != i) pairs that match. The corpus has no
near-duplicates, so every one of those is a real false positive.

Targets (issue): Tripline recall >= reference on every transform, 100% on rotate_90,
rotate_180 and mirror, zero false matches.
"""
from __future__ import annotations

import argparse
import io
import json
import time
import zlib
from multiprocessing import Pool

import numpy as np
from _shared import corpus_photos, shared_dir
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps
from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_bytes

from tripline.hashing import hash_bytes

THRESHOLD = 31      # inclusive, as the scanner and PdqSignal use it
MIN_QUALITY = 50    # PdqSignal.QUALITY_THRESHOLD
MUST_BE_PERFECT = ("rotate_90", "rotate_180", "mirror")


def _scaled(im, f):
    return im.resize((max(1, round(im.width * f)), max(1, round(im.height * f))), Image.LANCZOS)


def _centre_crop(im, frac):
    # frac of each dimension is removed in total, half from each side.
    dx, dy = round(im.width * frac / 2), round(im.height * frac / 2)
    return im.crop((dx, dy, im.width - dx, im.height - dy))


def _gamma(im, g):
    lut = [round(255 * (i / 255) ** g) for i in range(256)]
    return im.point(lut * len(im.getbands()))


def _noise(im, sigma, rng):
    arr = np.asarray(im, dtype=np.float32)
    noise = rng.standard_normal(arr.shape, dtype=np.float32) * sigma   # float32: 12 MP wallpapers
    return Image.fromarray(np.clip(arr + noise, 0, 255).astype(np.uint8))


def _text_overlay(im):
    # A watermark-like caption across the lower part, sized to the picture so that it
    # covers a comparable share of a 481px and a 4000px photo.
    out = im.convert("RGBA")
    layer = Image.new("RGBA", out.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    font = ImageFont.load_default(size=max(10, im.height // 14))
    text = "(c) Holiday photos 2024 - shared"
    box = draw.textbbox((0, 0), text, font=font)
    x = max(0, (im.width - (box[2] - box[0])) // 2)
    y = im.height - (box[3] - box[1]) - im.height // 12
    draw.text((x, y), text, font=font, fill=(255, 255, 255, 170), stroke_width=1, stroke_fill=(0, 0, 0, 170))
    return Image.alpha_composite(out, layer).convert("RGB")


def _logo_overlay(im):
    out = im.copy()
    s, m = min(im.size) // 8, min(im.size) // 30
    draw = ImageDraw.Draw(out)
    draw.rounded_rectangle((im.width - m - s, m, im.width - m, m + s), radius=s // 5, fill=(220, 40, 40))
    draw.ellipse((im.width - m - s * 3 // 4, m + s // 4, im.width - m - s // 4, m + s * 3 // 4), fill=(255, 255, 255))
    return out


def _screenshot(im):
    # A picture shown in a viewer window and captured: smaller, on a grey canvas with a
    # title bar, saved as PNG as screenshot tools do.
    small = _scaled(im, 0.6)
    bar, pad = max(8, small.height // 20), max(4, small.width // 10)
    canvas = Image.new("RGB", (small.width + 2 * pad, small.height + 2 * pad + bar), (200, 200, 200))
    ImageDraw.Draw(canvas).rectangle((0, 0, canvas.width, bar), fill=(60, 60, 64))
    canvas.paste(small, (pad, bar + pad))
    return canvas


# name -> (edit, encoder, JPEG quality); the edit gets (upright RGB image, rng).
TRANSFORMS = {
    "original": None,   # the banked file itself: recall 100% unless quality < 50
    **{f"jpeg_q{q}": (lambda im, rng: im, "JPEG", q) for q in (30, 50, 75, 95)},
    "resize_0.25": (lambda im, rng: _scaled(im, 0.25), "JPEG", 90),
    "resize_0.5": (lambda im, rng: _scaled(im, 0.5), "JPEG", 90),
    "crop_5pct": (lambda im, rng: _centre_crop(im, 0.05), "JPEG", 90),
    "crop_10pct": (lambda im, rng: _centre_crop(im, 0.10), "JPEG", 90),
    "rotate_90": (lambda im, rng: im.transpose(Image.Transpose.ROTATE_90), "JPEG", 90),
    "rotate_180": (lambda im, rng: im.transpose(Image.Transpose.ROTATE_180), "JPEG", 90),
    "mirror": (lambda im, rng: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "JPEG", 90),
    "gamma_0.6": (lambda im, rng: _gamma(im, 0.6), "JPEG", 90),
    "gamma_1.6": (lambda im, rng: _gamma(im, 1.6), "JPEG", 90),
    "blur_r2": (lambda im, rng: im.filter(ImageFilter.GaussianBlur(2)), "JPEG", 90),
    "noise_s10": (lambda im, rng: _noise(im, 10, rng), "JPEG", 90),
    "text_overlay": (lambda im, rng: _text_overlay(im), "JPEG", 90),
    "logo_overlay": (lambda im, rng: _logo_overlay(im), "JPEG", 90),
    "pad_border_10pct": (lambda im, rng: ImageOps.expand(im, min(im.size) // 10, fill=0), "JPEG", 90),
    "grayscale": (lambda im, rng: ImageOps.grayscale(im), "JPEG", 90),
    "screenshot": (lambda im, rng: _screenshot(im), "PNG", None),
}


EXACT_DIHEDRAL = False  # set from --exact-dihedral; read by pool workers via fork


def _both(data: bytes) -> dict:
    rec = hash_bytes(data, exact_dihedral=EXACT_DIHEDRAL)
    try:
        ref_hash, ref_q = pdq_from_bytes(data)
    except Exception:  # noqa: BLE001 - a reference failure is a miss, not a crash
        ref_hash, ref_q = None, 0
    return {"trip": list(rec.pdq_dihedral) if rec.error is None else None,
            "trip_q": rec.pdq_quality or 0, "ref": ref_hash, "ref_q": int(ref_q)}


def hash_photo(task):
    """One photo -> its original and every edited copy, hashed by both pipelines."""
    idx, path, key = task
    data = path.read_bytes()
    # Seeded by the photo's name, not its position, so --limit/--subsets don't change it.
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    upright = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    out = {"original": _both(data)}
    for name, spec in TRANSFORMS.items():
        if spec is None:
            continue
        edit, fmt, q = spec
        buf = io.BytesIO()
        edit(upright, rng).save(buf, fmt, **({"quality": q} if q else {}))
        out[name] = _both(buf.getvalue())
    return idx, out


def _words(hexes: list[str]) -> np.ndarray:
    # Byte order is irrelevant: only popcounts of XORs are taken.
    return np.frombuffer(bytes.fromhex("".join(hexes)), dtype=np.uint64).reshape(len(hexes), 4)


def _distances(queries: list[list[str]], bank: np.ndarray) -> np.ndarray:
    """(n_query, n_bank) distance, the minimum over each query's hashes (1 or 8)."""
    k = len(queries[0])
    q = _words([h for hs in queries for h in hs]).reshape(len(queries), k, 4)
    d = np.full((len(queries), len(bank)), 256, dtype=np.int32)
    for v in range(k):
        np.minimum(d, np.bitwise_count(q[:, v, None, :] ^ bank[None, :, :]).sum(axis=2, dtype=np.int32), out=d)
    return d


def _hashes(row: dict, which: str) -> list[str]:
    """A query's hashes: 8 dihedral for Tripline, 1 for the reference. A failed hash is
    a placeholder that its quality of 0 keeps from ever matching."""
    if row[which] is None:
        return ["0" * 64] * (8 if which == "trip" else 1)
    return row[which] if which == "trip" else [row[which]]


def _score(results, which: str, transform: str, bank: np.ndarray) -> dict:
    rows = [r[transform] for r in results]
    good = np.array([r[which + "_q"] for r in rows]) >= MIN_QUALITY
    d = _distances([_hashes(r, which) for r in rows], bank)
    hit = (d <= THRESHOLD) & good[:, None]
    own = np.diagonal(hit).copy()
    np.fill_diagonal(hit, False)
    return {"n": len(rows), "hits": int(own.sum()), "recall": float(own.mean()),
            "low_quality": int((~good).sum()), "false": int(hit.sum()),
            "misses": [i for i in range(len(rows)) if not own[i]],
            "own_distance": np.diagonal(d).tolist(), "quality": [r[which + "_q"] for r in rows]}


def _explain(keys, trip: dict, ref: dict, most: int = 6) -> str:
    """The photos Tripline missed and the reference did not (or all of Tripline's misses
    when the reference missed them too), with each side's distance and quality."""
    only = [i for i in trip["misses"] if i not in set(ref["misses"])] or trip["misses"]
    parts = [f"{keys[i]} ({trip['own_distance'][i]}/{ref['own_distance'][i]}, "
             f"q{trip['quality'][i]}/{ref['quality'][i]})" for i in only[:most]]
    return ", ".join(parts) + (f" and {len(only) - most} more" if len(only) > most else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=None)
    ap.add_argument("--subsets", default="", help="comma-separated corpus subsets (default: all)")
    ap.add_argument("--limit", type=int, default=0, help="photos per subset (0 = all)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", default=None, help="write the numbers to this file")
    ap.add_argument("--exact-dihedral", action="store_true",
                    help="hash Tripline's queries as `tripline scan --exact-dihedral` does")
    args = ap.parse_args()
    global EXACT_DIHEDRAL
    EXACT_DIHEDRAL = args.exact_dihedral
    shared = shared_dir(args.shared)
    root = shared / "corpus" / "photos"

    paths = []
    for subset in args.subsets.split(",") if args.subsets else [None]:
        found = corpus_photos(shared, subset)
        paths += found[: args.limit] if args.limit else found
    keys = [str(p.relative_to(root)) for p in paths]
    orientations = sum(1 for p in paths if Image.open(p).getexif().get(0x0112, 1) != 1)

    t0 = time.perf_counter()
    # Largest files first, so the big wallpapers don't leave one worker running alone at the end.
    tasks = sorted(((i, p, k) for i, (p, k) in enumerate(zip(paths, keys))), key=lambda t: -t[1].stat().st_size)
    results: list = [None] * len(paths)
    with Pool(args.workers) as pool:
        for idx, out in pool.imap_unordered(hash_photo, tasks):
            results[idx] = out
    hash_secs = time.perf_counter() - t0

    originals = [r["original"] for r in results]
    banks = {w: _words([_hashes(o, w)[0] for o in originals]) for w in ("ref", "trip")}
    table = {t: {w: _score(results, w, t, banks[w]) for w in ("ref", "trip")} for t in TRANSFORMS}

    print(f"Tripline dihedral variants: {'exact (--exact-dihedral)' if EXACT_DIHEDRAL else 'single transform (default)'}")
    print(f"{len(paths)} photos, {len(TRANSFORMS) - 1} transforms; threshold <= {THRESHOLD}, quality >= {MIN_QUALITY}; "
          f"{orientations} photos carry an EXIF orientation other than 1")
    print(f"{'transform':18s} {'n':>4s} {'reference':>10s} {'tripline':>9s} {'delta':>7s} {'ref false':>10s} {'trip false':>11s}")
    failures = []
    for t, s in table.items():
        ref, trip = s["ref"], s["trip"]
        delta = 100 * (trip["recall"] - ref["recall"])
        print(f"{t:18s} {ref['n']:4d} {100 * ref['recall']:9.1f}% {100 * trip['recall']:8.1f}% {delta:+6.1f} "
              f"{ref['false']:10d} {trip['false']:11d}")
        if trip["hits"] < ref["hits"]:
            failures.append(f"{t}: tripline below reference; missed by tripline only (tripline/reference "
                            f"distance, quality): {_explain(keys, trip, ref)}")
        # The quality gate (PDQ's own rule) excludes a query from matching
        # anywhere, so "100%" is over the queries that pass it.
        if t in MUST_BE_PERFECT and trip["hits"] < trip["n"] - trip["low_quality"]:
            failures.append(f"{t}: tripline recall {100 * trip['recall']:.1f}% < 100% of the "
                            f"{trip['n'] - trip['low_quality']} queries above the quality gate; "
                            f"missed: {_explain(keys, trip, ref)}")
        if trip["false"]:
            failures.append(f"{t}: {trip['false']} tripline false matches")

    edited = [t for t in TRANSFORMS if t != "original"]
    tot = {w: (sum(table[t][w]["hits"] for t in edited), sum(table[t][w]["false"] for t in TRANSFORMS))
           for w in ("ref", "trip")}
    n_q = len(edited) * len(paths)
    print(f"{'total':18s} {n_q:4d} {100 * tot['ref'][0] / n_q:9.1f}% {100 * tot['trip'][0] / n_q:8.1f}% "
          f"{100 * (tot['trip'][0] - tot['ref'][0]) / n_q:+6.1f} {tot['ref'][1]:10d} {tot['trip'][1]:11d}")
    for w, label in (("ref", "reference"), ("trip", "tripline")):
        # Tripline's queries use all 8 dihedral hashes, as the scanner does.
        d = _distances([_hashes(o, w) for o in originals], banks[w])
        np.fill_diagonal(d, 256)
        print(f"{label:9s} originals: {table['original'][w]['false']} false matches among "
              f"{len(paths) * (len(paths) - 1)} ordered pairs, minimum distance {int(d.min())} bits; "
              f"{sum(o[w + '_q'] < MIN_QUALITY for o in originals)} originals below quality {MIN_QUALITY}")
    print(f"hashing {hash_secs:.1f}s, total {time.perf_counter() - t0:.1f}s with {args.workers} workers")
    print("PASS" if not failures else "FAIL\n  " + "\n  ".join(failures))

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"photos": keys, "threshold": THRESHOLD, "min_quality": MIN_QUALITY,
                       "seconds": time.perf_counter() - t0, "pass": not failures, "failures": failures,
                       "transforms": {t: {w: {**s[w], "misses": [keys[i] for i in s[w]["misses"]]}
                                          for w in ("ref", "trip")} for t, s in table.items()}}, f, indent=1)


if __name__ == "__main__":
    main()
