"""Match robustness: recall per transform and false matches, Tripline vs python-threatexchange.

Banks the PDQ hash of every original photo in ../shared/corpus/photos through both
pipelines, then queries each bank with edited copies of the same photos:

  Tripline   bank = hash_bytes(original).pdq; a query matches when ANY of its 8 dihedral
             hashes is within 31 bits (inclusive) and its quality is >= 50.
  reference  bank = pdq_from_bytes(original); one hash per query, same 31 / 50 rule.

Recall for a transform = share of photos whose edited copy matches its own original.
False matches = (query photo i, bank entry j != i) pairs that match. The corpus has no
near-duplicates, so every one of those is a real false positive.

  robust     Tripline plus the normalised variants of tripline.normalise, as the scanner
             matches them: bank = plain hash + region hashes of each original (75% regions,
             5%/10% centre crops, own border/banner trimmed); query = 8 dihedral hashes + its
             border-trimmed / banner-removed variants, paired as normalise.PAIRS says; a pair
             found only through a variant must pass the verifier (<= ROBUST_STRICT bits);
             then the keypoint stage of tripline.keypoints: each original's ORB keypoints
             in an inverted file, and a query's candidates confirmed by RANSAC.

Targets (issue): Tripline recall >= reference on every transform, 100% on rotate_90,
rotate_180 and mirror, zero false matches; robust recall >= 95% on crops <= 10%, padding
<= 30% and banners <= 25% (ROBUST_TARGETS), never below plain Tripline, zero false matches.
The cost line converts bank entries and lookups per query into 10M-entry lookup time with
the scaling measured by bench/index_bench.py (bench/out/index_bench.json).
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

from tripline.banks.keypoints import RECORD as KP_RECORD
from tripline.banks.keypoints import KeypointIndex
from tripline.hashing import hash_bytes, robust_hashes
from tripline.keypoints import BANK_FEATURES, MIN_INLIERS
from tripline.keypoints import extract as extract_keypoints
from tripline.keypoints import verify as verify_keypoints
from tripline.keypoints.verify import MAX_TILT_DEGREES
from tripline.normalise import BANK_REGIONS
from tripline.normalise.variants import PAIRS, ROBUST_STRICT, verify_robust

THRESHOLD = 31  # inclusive, as the scanner and PdqSignal use it
MIN_QUALITY = 50  # PdqSignal.QUALITY_THRESHOLD
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
    noise = rng.standard_normal(arr.shape, dtype=np.float32) * sigma  # float32: 12 MP wallpapers
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


def _asym_crop(im, frac):
    # frac of each dimension removed, 70% of it from the left / bottom and 30% from the
    # right / top: an off-centre crop, as a reposter reframes a picture.
    dx, dy = im.width * frac, im.height * frac
    return im.crop((round(0.7 * dx), round(0.3 * dy), im.width - round(0.3 * dx), im.height - round(0.7 * dy)))


def _pad(im, frac, fill):
    # The picture centred on a canvas frac larger in each dimension: black, white, or the
    # picture itself enlarged and blurred behind it (as phone apps frame photos).
    w, h = round(im.width * (1 + frac)), round(im.height * (1 + frac))
    if fill == "blur":
        canvas = im.resize((w, h), Image.BILINEAR).filter(ImageFilter.GaussianBlur(max(w, h) / 25))
    else:
        canvas = Image.new("RGB", (w, h), (0, 0, 0) if fill == "black" else (255, 255, 255))
    canvas.paste(im, ((w - im.width) // 2, (h - im.height) // 2))
    return canvas


def _banner(im, frac, side, colour="white", over=True):
    # A caption strip covering (over=True) or added below/above (over=False) the picture,
    # frac of its height, with a line of text in the opposite colour.
    bh = max(8, round(im.height * frac))
    bg, fg = ((255, 255, 255), (0, 0, 0)) if colour == "white" else ((0, 0, 0), (255, 255, 255))
    if over:
        out = im.copy()
        y0 = im.height - bh if side == "bottom" else 0
    else:
        out = Image.new("RGB", (im.width, im.height + bh), bg)
        out.paste(im, (0, 0 if side == "bottom" else bh))
        y0 = im.height if side == "bottom" else 0
    draw = ImageDraw.Draw(out)
    draw.rectangle((0, y0, out.width, y0 + bh - 1), fill=bg)
    font = ImageFont.load_default(size=max(8, bh // 3))
    text = "when you see it... share before it's gone"
    box = draw.textbbox((0, 0), text, font=font)
    draw.text(
        (max(0, (out.width - (box[2] - box[0])) // 2), y0 + (bh - (box[3] - box[1])) // 2 - box[1]),
        text,
        font=font,
        fill=fg,
    )
    return out


# name -> (edit, encoder, JPEG quality); the edit gets (upright RGB image, rng).
TRANSFORMS = {
    "original": None,  # the banked file itself: recall 100% unless quality < 50
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
    # Robust-matching edits (docs/robust-matching.md).
    **{f"crop_asym_{p}": (lambda im, rng, p=p: _asym_crop(im, p / 100), "JPEG", 90) for p in (5, 10, 20)},
    **{
        f"pad_{fill}_{p}": (lambda im, rng, p=p, fill=fill: _pad(im, p / 100, fill), "JPEG", 90)
        for fill, p in (("black", 10), ("black", 30), ("white", 20), ("blur", 10), ("blur", 30))
    },
    "banner_bottom_10": (lambda im, rng: _banner(im, 0.10, "bottom"), "JPEG", 90),
    "banner_bottom_25": (lambda im, rng: _banner(im, 0.25, "bottom"), "JPEG", 90),
    "banner_top_15_black": (lambda im, rng: _banner(im, 0.15, "top", "black"), "JPEG", 90),
    "banner_added_20": (lambda im, rng: _banner(im, 0.20, "bottom", over=False), "JPEG", 90),
    "pad_black_20+q50": (lambda im, rng: _pad(im, 0.20, "black"), "JPEG", 50),
    "banner_bottom_20+q50": (lambda im, rng: _banner(im, 0.20, "bottom"), "JPEG", 50),
    "crop_asym_10+q50": (lambda im, rng: _asym_crop(im, 0.10), "JPEG", 50),
}
# Edits whose robust-recall target is >= 95% (issue: crops <= 10%, padding <= 30%, banners <= 25%).
ROBUST_TARGETS = (
    "crop_5pct",
    "crop_10pct",
    "crop_asym_5",
    "crop_asym_10",
    "crop_asym_10+q50",
    "pad_border_10pct",
    "pad_black_10",
    "pad_black_30",
    "pad_white_20",
    "pad_blur_10",
    "pad_blur_30",
    "pad_black_20+q50",
    "banner_bottom_10",
    "banner_bottom_25",
    "banner_top_15_black",
    "banner_added_20",
    "banner_bottom_20+q50",
)


EXACT_DIHEDRAL = False  # set from --exact-dihedral; read by pool workers via fork
KP_RECORD_BYTES = KP_RECORD.itemsize


# The banked originals' keypoints (tripline.banks.keypoints), set in the parent
# before the query pool forks so that every worker verifies against them.
KP_INDEX = None


# Transforms whose queries are also verified against every other banked photo, not
# only the inverted file's candidates: false matches over all distinct pairs.
KP_ALL_PAIRS = ("original", "crop_asym_10+q50", "pad_blur_10")


def _keypoint_checks(image, own: int | None = None) -> tuple:
    """What the matcher's keypoint stage does for one query: its candidates from
    the bank's inverted file, each verified. ([(bank row, inliers, confirmed)],
    extraction s, lookup+verification s, postings touched, all-pairs result). With
    ``own`` (the query's photo), also every other banked photo verified: (most
    inliers placed as a copy would be, how many confirmed)."""
    t0 = time.perf_counter()
    kp = extract_keypoints(image)
    t1 = time.perf_counter()
    checks = []
    for row, _ in KP_INDEX.candidates(kp):
        v = verify_keypoints(kp, KP_INDEX.keypoints(row))
        # Inliers of a candidate whose geometry is not a copy's are no margin.
        checks.append((row, v.inliers if v.aligned else 0, v.confirmed))
    t2 = time.perf_counter()
    every = None
    if own is not None:
        others = [verify_keypoints(kp, KP_INDEX.keypoints(r)) for r in range(len(KP_INDEX)) if r != own]
        every = (max((v.inliers for v in others if v.aligned), default=0), sum(v.confirmed for v in others))
    return checks, t1 - t0, t2 - t1, KP_INDEX.touched(kp), every


def _both(data: bytes, bank: bool = False, own: int | None = None) -> dict:
    rec = hash_bytes(data, exact_dihedral=EXACT_DIHEDRAL, keep_image=True)
    robust_s = 0.0
    variants, regions = [], []
    kp = None
    if rec.error is None:
        t = time.perf_counter()
        v, r = robust_hashes(rec.image, query=True, bank=bank)
        robust_s = time.perf_counter() - t
        variants = [(x["normalisation"], x["pdq"], x["quality"]) for x in v]
        regions = [(BANK_REGIONS[c], h, q) for c, h, q in r]
        if KP_INDEX is not None:
            kp = _keypoint_checks(rec.image, own)
    try:
        ref_hash, ref_q = pdq_from_bytes(data)
    except Exception:  # noqa: BLE001 - a reference failure is a miss, not a crash
        ref_hash, ref_q = None, 0
    return {
        "trip": list(rec.pdq_dihedral) if rec.error is None else None,
        "trip_q": rec.pdq_quality or 0,
        "ref": ref_hash,
        "ref_q": int(ref_q),
        "variants": variants,
        "regions": regions,
        "robust_s": robust_s,
        "kp": kp,
    }


def bank_keypoints(task):
    """A banked original's keypoints, as `tripline bank add --image` stores them."""
    idx, path, _ = task
    rec = hash_bytes(path.read_bytes(), keep_image=True)
    return idx, extract_keypoints(rec.image).spread(BANK_FEATURES) if rec.error is None else None


def hash_photo(task):
    """One photo -> its original and every edited copy, hashed by both pipelines."""
    idx, path, key = task
    data = path.read_bytes()
    # Seeded by the photo's name, not its position, so --limit/--subsets don't change it.
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    upright = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    out = {"original": _both(data, bank=True, own=idx if "original" in KP_ALL_PAIRS else None)}
    for name, spec in TRANSFORMS.items():
        if spec is None:
            continue
        edit, fmt, q = spec
        buf = io.BytesIO()
        edit(upright, rng).save(buf, fmt, **({"quality": q} if q else {}))
        out[name] = _both(buf.getvalue(), own=idx if name in KP_ALL_PAIRS else None)
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
    return {
        "n": len(rows),
        "hits": int(own.sum()),
        "recall": float(own.mean()),
        "low_quality": int((~good).sum()),
        "false": int(hit.sum()),
        "misses": [i for i in range(len(rows)) if not own[i]],
        "own_distance": np.diagonal(d).tolist(),
        "quality": [r[which + "_q"] for r in rows],
    }


def _word_rows(hexes: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    ok = np.array([h is not None for h in hexes])
    return _words([h if h is not None else "0" * 64 for h in hexes]), ok


def _robust_ways(results, transform: str):
    """Per (query variant -> bank hash) pairing of tripline.normalise.PAIRS, the (n, n)
    distance matrix (256 where either side lacks that hash or the query's quality < 50)."""
    rows = [r[transform] for r in results]
    origs = [r["original"] for r in results]
    n = len(rows)
    bank = {"plain": [_hashes(o, "trip")[0] for o in origs]}
    for region in BANK_REGIONS.values():
        bank[region] = [next((h for name, h, _ in o["regions"] if name == region), None) for o in origs]
    bank_words = {k: _word_rows(v) for k, v in bank.items()}
    ways = {}
    for qname, targets in PAIRS.items():
        if qname == "original":
            columns = [[r["trip"][0] if r["trip"] and r["trip_q"] >= MIN_QUALITY else None for r in rows]]
        else:  # a query may carry several variants of one kind (two banner readings)
            per_row = [[h for name, h, q in r["variants"] if name == qname and q >= MIN_QUALITY] for r in rows]
            k = max(len(x) for x in per_row)
            columns = [[x[c] if c < len(x) else None for x in per_row] for c in range(k)]
        for qh in columns:
            if not any(qh):
                continue
            qw, qok = _word_rows(qh)
            for target in targets:
                bw, bok = bank_words[target]
                d = np.bitwise_count(qw[:, None, :] ^ bw[None, :, :]).sum(axis=2, dtype=np.int32)
                d[~qok, :] = 256
                d[:, ~bok] = 256
                key = (qname, target)
                ways[key] = np.minimum(ways[key], d) if key in ways else d
    return ways, n


def _score_robust(results, transform: str, plain_trip: dict) -> dict:
    """Plain Tripline (8 dihedral) plus the normalised variants; a pair found only through
    a variant counts when the verifier confirms it (tripline.normalise.verify_robust)."""
    ways, n = _robust_ways(results, transform)
    loose = np.zeros((n, n), dtype=bool)
    best = np.full((n, n), 256, dtype=np.int32)
    via: dict[str, int] = {}
    own_plain = np.ones(n, dtype=bool)
    own_plain[plain_trip["misses"]] = False
    for (q, t), d in ways.items():
        loose |= d <= THRESHOLD
        np.minimum(best, d, out=best)
        ok = np.vectorize(lambda x: verify_robust(int(x), THRESHOLD))(np.diagonal(d)) & ~own_plain
        if ok.any():
            via[f"{q}->{t}"] = int(ok.sum())
    verified = np.vectorize(lambda x: verify_robust(int(x), THRESHOLD), otypes=[bool])(best)
    own_norm = np.diagonal(verified) | own_plain
    # The keypoint stage: a candidate the inverted file proposed and RANSAC confirmed.
    kp_true, kp_false_inliers, kp_true_inliers = np.zeros(n, dtype=bool), [0], []
    kp_ms, kp_post = [], []
    for i, r in enumerate(results):
        checks = r[transform]["kp"] or ([], 0.0, 0.0, 0, None)
        kp_ms.append(1000 * checks[2])
        kp_post.append(checks[3])
        for row, inliers, confirmed in checks[0]:
            if row == i:
                kp_true[i] |= confirmed
                if confirmed:
                    kp_true_inliers.append(inliers)
            else:
                verified[i, row] |= confirmed
                kp_false_inliers.append(inliers)
    every = [r[transform]["kp"][4] for r in results if r[transform]["kp"] and r[transform]["kp"][4]]
    own = own_norm | kp_true
    if kp_true[~own_norm].any():
        via["keypoints"] = int(kp_true[~own_norm].sum())
    own_only_robust = np.diagonal(loose) & ~own_plain
    off = ~np.eye(n, dtype=bool)
    false_d = best[off & (best <= THRESHOLD)]
    return {
        "n": n,
        "hits": int(own.sum()),
        "recall": float(own.mean()),
        "norm_recall": float(own_norm.mean()),
        "kp_recall": float(kp_true.mean()),
        "kp_false_max_inliers": int(max(kp_false_inliers)),
        "kp_true_inliers": kp_true_inliers,
        "kp_all_pairs": (
            {
                "pairs": len(every) * (n - 1),
                "max_inliers": max(e[0] for e in every),
                "confirmed": sum(e[1] for e in every),
            }
            if every
            else None
        ),
        "kp_lookup_ms": kp_ms,
        "kp_postings": kp_post,
        "false": int((verified & off).sum()) + plain_trip["false"],
        "false_loose": int((loose & off).sum()) + plain_trip["false"],
        "false_min_distance": int(best[off].min()) if n > 1 else 256,
        "false_loose_distances": sorted(false_d.tolist()),
        "true_robust_distances": sorted(np.diagonal(best)[own_only_robust].tolist()),
        "misses": [i for i in range(n) if not own[i]],
        "via": via,
    }


def _explain(keys, trip: dict, ref: dict, most: int = 6) -> str:
    """The photos Tripline missed and the reference did not (or all of Tripline's misses
    when the reference missed them too), with each side's distance and quality."""
    only = [i for i in trip["misses"] if i not in set(ref["misses"])] or trip["misses"]
    parts = [
        f"{keys[i]} ({trip['own_distance'][i]}/{ref['own_distance'][i]}, q{trip['quality'][i]}/{ref['quality'][i]})"
        for i in only[:most]
    ]
    return ", ".join(parts) + (f" and {len(only) - most} more" if len(only) > most else "")


def lookup_latency(n_images: int, regions_per_image: int = 4, items: int = 1500) -> None:
    """Single-item lookup CPU time at n_images banked images: plain (8 dihedral hashes
    in the plain index) vs robust (+ the plain hash in the regions index, and the worst
    case of 3 variants). Random codes in the indexes; queries are the dihedral hashes
    of corpus-photo edits from bench/out/index_bench_photos.npz (misses)."""
    import shutil
    import tempfile
    from pathlib import Path

    from tripline.index import PDQIndex

    photos = Path(__file__).resolve().parent / "out" / "index_bench_photos.npz"
    queries = np.load(photos)["h"][:, 1:].reshape(-1, 8, 32)[::4][:items]
    rng = np.random.default_rng(1)
    root = Path(tempfile.mkdtemp(prefix="tripline-latency-"))
    try:
        n_r = n_images * regions_per_image
        plain = PDQIndex.build(
            root / "plain", np.arange(n_images, dtype=np.int64), rng.integers(0, 256, (n_images, 32), dtype=np.uint8)
        )
        regions = PDQIndex.build(
            root / "regions", np.arange(n_r, dtype=np.int64), rng.integers(0, 256, (n_r, 32), dtype=np.uint8)
        )
        plain.search(queries[0], THRESHOLD), regions.search(queries[0], THRESHOLD)  # warm the kernels

        def run(fn):
            ts = []
            for q in queries:
                t = time.process_time()
                fn(q)
                ts.append(time.process_time() - t)
            return 1000 * np.mean(ts), 1000 * np.percentile(ts, 99)

        base = run(lambda q: plain.search(q, THRESHOLD))
        rows = {
            "plain (8 dihedral)": base,
            "robust, unedited (+1 regions)": run(
                lambda q: (plain.search(q, THRESHOLD), regions.search(q[:1], THRESHOLD))
            ),
            "robust, 3 variants (+2 plain, +3 regions)": run(
                lambda q: (
                    plain.search(q, THRESHOLD),
                    regions.search(q[:1], THRESHOLD),
                    plain.search(q[1:3], THRESHOLD),
                    regions.search(q[1:4], THRESHOLD),
                )
            ),
        }
        for name, (mean, p99) in rows.items():
            print(
                f"{n_images:>10d} banked images {name:44s} mean {mean:.3f} ms  p99 {p99:.3f} ms CPU  "
                f"x{mean / base[0]:.2f} / x{p99 / base[1]:.2f}"
            )
        print(
            f"index sizes: plain {plain.stats()['memory_bytes'] / 2**20:.0f} MB, "
            f"regions {regions.stats()['memory_bytes'] / 2**20:.0f} MB"
        )
        plain.close()
        regions.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def keypoint_scale(sizes: list[int], shared, photos_n: int = 200, queries_n: int = 100, flip: float = 0.10) -> None:
    """The keypoint stage's lookup at larger banks. Real keypoints of `photos_n` corpus
    photos are banked among synthetic banked images whose descriptors are real corpus
    descriptors with each bit flipped with probability `flip` (the local structures of
    real photos, not copies of them: true correspondences differ by ~18 bits, these by
    ~26), at random points; queries are off-centre 10% crops of real banked photos at
    JPEG q50. Reports the inverted file's memory, postings touched and lookup time
    (candidates + RANSAC of up to 5), and whether the true photo is still confirmed."""
    from tripline.banks.keypoints import RECORD, KeypointIndex

    paths = corpus_photos(shared_dir(shared), None)[::3][:photos_n]
    real = [extract_keypoints(Image.open(p).convert("RGB")) for p in paths]
    rng = np.random.default_rng(7)
    queries = []
    for i in rng.choice(len(paths), size=min(queries_n, len(paths)), replace=False):
        buf = io.BytesIO()
        _asym_crop(Image.open(paths[i]).convert("RGB"), 0.10).save(buf, "JPEG", quality=50)
        queries.append((int(i), extract_keypoints(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))))
    pool = np.concatenate([k.top(BANK_FEATURES).descriptors for k in real])
    for n in sizes:
        recs = np.zeros(n, dtype=RECORD)
        recs["entry"] = np.arange(n)
        recs["n"], recs["w"], recs["h"] = BANK_FEATURES, 512, 384
        for lo in range(0, n, 10_000):
            hi = min(n, lo + 10_000)
            d = pool[rng.integers(0, len(pool), size=(hi - lo) * BANK_FEATURES)]
            noise = np.packbits(rng.random((len(d), 256), dtype=np.float32) < flip, axis=1)
            recs["desc"][lo:hi] = (d ^ noise).reshape(hi - lo, BANK_FEATURES, 32)
            recs["pts"][lo:hi, :, 0] = rng.integers(0, 512 * 64, size=(hi - lo, BANK_FEATURES))
            recs["pts"][lo:hi, :, 1] = rng.integers(0, 384 * 64, size=(hi - lo, BANK_FEATURES))
        # The real photos take the first rows, so row i is photo i.
        real_recs = KeypointIndex.of(list(enumerate(real)))._records
        recs[: len(real)] = real_recs
        t = time.perf_counter()
        index = KeypointIndex(recs)
        build = time.perf_counter() - t
        ms, touched, found = [], [], 0
        for i, kp in queries:
            t = time.process_time()
            ok = any(
                row == i and verify_keypoints(kp, index.keypoints(row)).confirmed for row, _ in index.candidates(kp)
            )
            ms.append(1000 * (time.process_time() - t))
            touched.append(index.touched(kp))
            found += ok
        print(
            f"{n:>10d} banked images: inverted file {index.memory_bytes() / n:.0f} B per image "
            f"({index.memory_bytes() / 2**20:.0f} MB), records {RECORD.itemsize} B per image on disk, "
            f"built in {build:.1f} s; postings touched per query mean {np.mean(touched):.0f}; lookup + "
            f"verification mean {np.mean(ms):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms CPU; "
            f"true photo confirmed {found}/{len(queries)}",
            flush=True,
        )
        del index, recs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=None)
    ap.add_argument("--subsets", default="", help="comma-separated corpus subsets (default: all)")
    ap.add_argument("--limit", type=int, default=0, help="photos per subset (0 = all)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", default=None, help="write the numbers to this file")
    ap.add_argument(
        "--exact-dihedral", action="store_true", help="hash Tripline's queries as `tripline scan --exact-dihedral` does"
    )
    ap.add_argument(
        "--latency-at",
        type=int,
        default=0,
        metavar="N",
        help="only measure single-item lookup latency with N banked images (e.g. 10000000)",
    )
    ap.add_argument(
        "--keypoint-scale",
        default="",
        metavar="N,N",
        help="only measure the keypoint stage with these numbers of banked images (e.g. 10000,100000)",
    )
    args = ap.parse_args()
    if args.latency_at:
        lookup_latency(args.latency_at)
        return
    if args.keypoint_scale:
        keypoint_scale([int(x) for x in args.keypoint_scale.split(",")], args.shared)
        return
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
    tasks = sorted(
        ((i, p, k) for i, (p, k) in enumerate(zip(paths, keys, strict=True))), key=lambda t: -t[1].stat().st_size
    )
    results: list = [None] * len(paths)
    global KP_INDEX
    with Pool(args.workers) as pool:
        kps = dict(pool.imap_unordered(bank_keypoints, tasks))
    KP_INDEX = KeypointIndex.of([(i, kps[i]) for i in range(len(paths)) if kps[i] is not None])
    assert all(KP_INDEX.entry_id(row) == row for row in range(len(KP_INDEX))), "bank rows must be photo indexes"
    with Pool(args.workers) as pool:
        for idx, out in pool.imap_unordered(hash_photo, tasks):
            results[idx] = out
    hash_secs = time.perf_counter() - t0

    originals = [r["original"] for r in results]
    banks = {w: _words([_hashes(o, w)[0] for o in originals]) for w in ("ref", "trip")}
    table = {t: {w: _score(results, w, t, banks[w]) for w in ("ref", "trip")} for t in TRANSFORMS}
    for t in TRANSFORMS:
        table[t]["robust"] = _score_robust(results, t, table[t]["trip"])

    print(
        f"Tripline dihedral variants: {'exact (--exact-dihedral)' if EXACT_DIHEDRAL else 'single transform (default)'}"
    )
    print(
        f"{len(paths)} photos, {len(TRANSFORMS) - 1} transforms; threshold <= {THRESHOLD}, quality >= {MIN_QUALITY}; "
        f"{orientations} photos carry an EXIF orientation other than 1"
    )
    print(
        f"norm = tripline + normalised variants (tripline.normalise), confirmed at <= {ROBUST_STRICT} bits; "
        f"'loose' = false matches before that verification"
    )
    print(
        f"keyp = the keypoint stage alone (tripline.keypoints: inverted file, then RANSAC with >= {MIN_INLIERS} "
        f"inliers); robust = what `tripline scan` does: tripline + norm + keyp; 'kp max' = most inliers of any "
        f"non-matching candidate the inverted file proposed, among those placed as a copy would be"
    )
    print(
        f"{'transform':20s} {'n':>4s} {'reference':>10s} {'tripline':>9s} {'norm':>6s} {'keyp':>6s} {'robust':>7s} "
        f"{'ref false':>10s} {'trip false':>11s} {'rob false':>10s} {'loose':>6s} {'kp max':>6s}  "
        f"robust-only hits via (query variant->bank hash)"
    )
    failures = []
    for t, s in table.items():
        ref, trip = s["ref"], s["trip"]
        rob = s["robust"]
        via = ", ".join(f"{k} {v}" for k, v in rob["via"].items())
        print(
            f"{t:20s} {ref['n']:4d} {100 * ref['recall']:9.1f}% {100 * trip['recall']:8.1f}% "
            f"{100 * rob['norm_recall']:5.1f}% {100 * rob['kp_recall']:5.1f}% {100 * rob['recall']:6.1f}% "
            f"{ref['false']:10d} {trip['false']:11d} {rob['false']:10d} {rob['false_loose']:6d} "
            f"{rob['kp_false_max_inliers']:6d}  {via}"
        )
        if rob["hits"] < trip["hits"]:
            failures.append(f"{t}: robust below plain tripline")
        if rob["false"]:
            failures.append(f"{t}: {rob['false']} robust false matches")
        if t in ROBUST_TARGETS and rob["recall"] < 0.95:
            failures.append(f"{t}: robust recall {100 * rob['recall']:.1f}% < 95% target")
        if trip["hits"] < ref["hits"]:
            failures.append(
                f"{t}: tripline below reference; missed by tripline only (tripline/reference "
                f"distance, quality): {_explain(keys, trip, ref)}"
            )
        # The quality gate (PDQ's own rule) excludes a query from matching
        # anywhere, so "100%" is over the queries that pass it.
        if t in MUST_BE_PERFECT and trip["hits"] < trip["n"] - trip["low_quality"]:
            failures.append(
                f"{t}: tripline recall {100 * trip['recall']:.1f}% < 100% of the "
                f"{trip['n'] - trip['low_quality']} queries above the quality gate; "
                f"missed: {_explain(keys, trip, ref)}"
            )
        if trip["false"]:
            failures.append(f"{t}: {trip['false']} tripline false matches")

    edited = [t for t in TRANSFORMS if t != "original"]
    tot = {
        w: (sum(table[t][w]["hits"] for t in edited), sum(table[t][w]["false"] for t in TRANSFORMS))
        for w in ("ref", "trip", "robust")
    }
    n_q = len(edited) * len(paths)
    print(
        f"{'total':20s} {n_q:4d} {100 * tot['ref'][0] / n_q:9.1f}% {100 * tot['trip'][0] / n_q:8.1f}% "
        f"{'':6s} {'':6s} {100 * tot['robust'][0] / n_q:6.1f}% {tot['ref'][1]:10d} {tot['trip'][1]:11d} "
        f"{tot['robust'][1]:10d}"
    )
    # Cost of the robust scheme (docs/robust-matching.md): bank entries per banked image and
    # index lookups per query, converted to 10M-entry lookup time with the index bench's
    # measured scaling (qps per CPU-second 34.2k at 1M, 7.76k at 10M: time ~ N^0.64).
    per_bank = 1 + float(np.mean([len(o["regions"]) for o in originals]))
    all_rows = [r[t] for r in results for t in TRANSFORMS]
    variant_rate = float(np.mean([len(r["variants"]) for r in all_rows]))
    plain_rate = float(np.mean([len(r["variants"]) for r in (x["original"] for x in results)]))
    regions_mult = per_bank - 1
    alpha = np.log(34221.8 / 7763.4) / np.log(10)

    def cost(nv):  # lookups in plain-index units at 10M: 8 dihedral + 1 original->regions + variants
        return 8 + regions_mult**alpha + nv * (1 + regions_mult**alpha)

    print(
        f"robust cost: {per_bank:.2f} index entries per banked image (memory x{per_bank:.2f} for image-built banks); "
        f"{plain_rate:.2f} normalised variants per unedited photo, {variant_rate:.2f} over all benchmark queries; "
        f"lookup time at 10M vs plain 8-dihedral lookup: x{cost(plain_rate) / 8:.2f} (unedited), "
        f"x{cost(variant_rate) / 8:.2f} (benchmark mix), x{cost(3) / 8:.2f} (worst case, 3 variants) "
        f"[computed from bench/out/index_bench.json scaling, alpha={alpha:.2f}]"
    )
    kp_ms = [x for t in TRANSFORMS for x in table[t]["robust"]["kp_lookup_ms"]]
    kp_post = [x for t in TRANSFORMS for x in table[t]["robust"]["kp_postings"]]
    kx = [1000 * r["kp"][1] for r in all_rows if r["kp"]]
    per_image = KP_INDEX.postings() / len(KP_INDEX)
    print(
        f"keypoint stage: extraction mean {np.mean(kx):.1f} ms, p99 {np.percentile(kx, 99):.1f} ms per query; "
        f"inverted-file lookup + verification mean {np.mean(kp_ms):.2f} ms, p99 {np.percentile(kp_ms, 99):.2f} ms "
        f"at {len(KP_INDEX)} banked images; postings touched per query mean {np.mean(kp_post):.0f} "
        f"({np.mean(kp_post) / len(KP_INDEX):.3f} per banked image: ~{np.mean(kp_post) / len(KP_INDEX) * 1e7 / 1e6:.1f}M "
        f"at 10M if they grow linearly); storage per banked image {KP_RECORD_BYTES} B on disk + "
        f"{per_image:.0f} postings ({KP_INDEX.memory_bytes() / len(KP_INDEX):.0f} B) in memory"
    )
    rs = [r["robust_s"] for r in all_rows]
    print(
        f"normalisation time per query: mean {1000 * np.mean(rs):.1f} ms, p99 {1000 * np.percentile(rs, 99):.1f} ms "
        f"(decoded image, single core, loaded machine)"
    )
    true_d = [x for t in TRANSFORMS for x in table[t]["robust"]["true_robust_distances"]]
    print(
        f"robust-only true matches: {len(true_d)}, distance p50 {np.percentile(true_d, 50) if true_d else 0:.0f}, "
        f"p95 {np.percentile(true_d, 95) if true_d else 0:.0f}, max {max(true_d, default=0)} bits; closest false pair "
        f"through any variant: {min(table[t]['robust']['false_min_distance'] for t in TRANSFORMS)} bits "
        f"(over all {len(paths) * (len(paths) - 1)} distinct ordered pairs per transform)"
    )
    for t in KP_ALL_PAIRS:
        ap = table[t]["robust"]["kp_all_pairs"]
        if ap:
            print(
                f"keypoint all-pairs check, {t}: every query verified against every other banked photo "
                f"({ap['pairs']} pairs): {ap['confirmed']} confirmed, most inliers placed as a copy would be "
                f"{ap['max_inliers']}"
            )
            if ap["confirmed"]:
                failures.append(f"{t}: {ap['confirmed']} keypoint false matches in the all-pairs check")
    ti = [x for t in TRANSFORMS for x in table[t]["robust"]["kp_true_inliers"]]
    print(
        f"keypoint verification margin: true matches need >= {MIN_INLIERS} inliers (confirmed true matches: "
        f"p1 {np.percentile(ti, 1):.0f}, p5 {np.percentile(ti, 5):.0f}, median {np.median(ti):.0f}); the most inliers any "
        f"non-matching candidate placed as a copy would be (scale 1/3-3x, tilt <= {MAX_TILT_DEGREES} degrees "
        f"off a quarter turn) reached: {max(table[t]['robust']['kp_false_max_inliers'] for t in TRANSFORMS)}"
    )
    for w, label in (("ref", "reference"), ("trip", "tripline")):
        # Tripline's queries use all 8 dihedral hashes, as the scanner does.
        d = _distances([_hashes(o, w) for o in originals], banks[w])
        np.fill_diagonal(d, 256)
        print(
            f"{label:9s} originals: {table['original'][w]['false']} false matches among "
            f"{len(paths) * (len(paths) - 1)} ordered pairs, minimum distance {int(d.min())} bits; "
            f"{sum(o[w + '_q'] < MIN_QUALITY for o in originals)} originals below quality {MIN_QUALITY}"
        )
    print(f"hashing {hash_secs:.1f}s, total {time.perf_counter() - t0:.1f}s with {args.workers} workers")
    print("PASS" if not failures else "FAIL\n  " + "\n  ".join(failures))

    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "photos": keys,
                    "threshold": THRESHOLD,
                    "min_quality": MIN_QUALITY,
                    "seconds": time.perf_counter() - t0,
                    "pass": not failures,
                    "failures": failures,
                    "transforms": {
                        t: {w: {**s[w], "misses": [keys[i] for i in s[w]["misses"]]} for w in ("ref", "trip", "robust")}
                        for t, s in table.items()
                    },
                },
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()
