"""Robust PDQ variants: the hashes Tripline takes besides the plain one.

Query side (any bank): the upload with its border trimmed (``border_trim``),
with a caption banner removed (``banner_strip``, for a banner added *below or
above* the picture), and, for a banner drawn *over* the picture, the part of
the upload that the banner cannot have covered (``banner_cover_bottom`` /
``banner_cover_top``: the upper or lower 75%).

Bank side (banks built from images only; hash lists have no pixels): the
same two 75% regions of every banked image, plus its trimmed / banner-free
hash when the banked image itself carries a border or banner. These live in
a second per-bank index ("regions") under ids ``entry_id * REGION_SLOTS +
code``; the bank's own stored PDQ stays the plain hash.

Every variant is hashed at its native resolution (PDQ's box filter depends on
the input size; resizing first would add error). Which query variant may
meet which bank hash is fixed by ``PAIRS``; see docs/robust-matching.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from tripline.hashing.pdq import pdq_hash
from tripline.normalise.borders import Box, find_banner, find_content_box

COVER_KEEP = 0.75  # a banner over the picture may cover up to 25% of it
REGION_SLOTS = 8  # region ids: entry_id * REGION_SLOTS + code

# Bank-side region codes (stored in the "regions" index).
BANK_REGIONS = {
    1: "keep_top75",  # upper 75% of the banked picture
    2: "keep_bottom75",  # lower 75%
    3: "border_trim",  # the banked image with its own border trimmed
    4: "banner_strip",  # the banked image without its own banner
    5: "centre95",  # centre crops: 5% and 10% of each dimension removed
    6: "centre90",
}
CENTRE_CROPS = {"centre95": 0.05, "centre90": 0.10}
REGION_CODE = {v: k for k, v in BANK_REGIONS.items()}

# Which bank hashes each query variant is compared with: "plain" is the
# bank's stored PDQ, a region name is a hash in the regions index.
PAIRS = {
    "original": ("border_trim", "banner_strip", "centre95", "centre90"),
    "border_trim": ("plain", "border_trim", "banner_strip"),
    "banner_strip": ("plain", "border_trim", "banner_strip"),
    "banner_cover_bottom": ("keep_top75",),
    "banner_cover_top": ("keep_bottom75",),
}

NORMALISATION_DESCRIPTIONS = {
    None: "",
    "border_trim": "after trimming a border (letterbox, padding or frame) from the upload",
    "banner_strip": "after removing a caption banner from the upload",
    "banner_cover_bottom": "after cutting away a caption banner over the bottom of the upload "
    "(compared with the upper 75% of the banked image)",
    "banner_cover_top": "after cutting away a caption banner over the top of the upload "
    "(compared with the lower 75% of the banked image)",
}
BANK_SIDE_DESCRIPTIONS = {
    "plain": "",
    "keep_top75": "",
    "keep_bottom75": "",
    "border_trim": "the banked image's own border trimmed",
    "banner_strip": "the banked image's own banner removed",
    "centre95": "a 5% centre crop of the banked image (the upload looks cropped)",
    "centre90": "a 10% centre crop of the banked image (the upload looks cropped)",
}


# Verification of matches that only the normalised variants found: these
# compare partial or re-framed pictures, so they must be closer than a plain
# PDQ match (see docs/robust-matching.md for the measured margins).
ROBUST_STRICT = 24


def verify_robust(distance: int, threshold: int) -> bool:
    """Whether a match found only through a normalised variant is confirmed."""
    return distance <= min(threshold, ROBUST_STRICT)


def region_id(entry_id: int, code: int) -> int:
    return entry_id * REGION_SLOTS + code


def split_region_id(rid: int) -> tuple[int, str]:
    return rid // REGION_SLOTS, BANK_REGIONS.get(rid % REGION_SLOTS, "?")


@dataclass(frozen=True)
class RobustHash:
    normalisation: str  # a key of PAIRS other than "original"
    hash: str
    quality: int
    box: tuple[int, int, int, int]  # region of the decoded image that was hashed


def describe(normalisation: str | None, bank_region: str | None = None) -> str:
    """What a reviewer reads about a match found through a normalisation."""
    parts = [NORMALISATION_DESCRIPTIONS.get(normalisation, normalisation or "")]
    if bank_region and BANK_SIDE_DESCRIPTIONS.get(bank_region):
        parts.append("against " + BANK_SIDE_DESCRIPTIONS[bank_region])
    return "; ".join(p for p in parts if p)


def _hash(im: Image.Image, box: Box) -> tuple[str, int]:
    r = pdq_hash(im.crop(box.as_tuple()))
    return r.hash, r.quality


def _banner_boxes(im: Image.Image, within: Box) -> tuple[Box, Box, str] | None:
    """(banner-free box, picture box incl. a banner drawn over it, banner side)
    for a banner found inside ``within``."""
    inner = im if within == Box(0, 0, im.width, im.height) else im.crop(within.as_tuple())
    banner = find_banner(inner)
    if banner is None:
        return None
    side, bh = banner
    if side == "bottom":
        free = Box(within.left, within.top, within.right, within.bottom - bh)
    else:
        free = Box(within.left, within.top + bh, within.right, within.bottom)
    return free, within, side


def _regions(im: Image.Image) -> tuple[Box, list[tuple[Box, Box, str]]]:
    """(content box, banner readings). A banner is looked for inside the
    trimmed picture and, when a border was trimmed, also in the whole image
    (a banner's flat margin looks like a border; trimming it first would cut
    the banner in two). The second reading's free part is trimmed again."""
    full = Box(0, 0, im.width, im.height)
    content = find_content_box(im) or full
    readings = []
    a = _banner_boxes(im, content)
    if a is not None:
        readings.append(a)
    if content != full:
        b = _banner_boxes(im, full)
        if b is not None:
            free, _, side = b
            sub = find_content_box(im.crop(free.as_tuple()))
            if sub is not None:
                free = Box(free.left + sub.left, free.top + sub.top, free.left + sub.right, free.top + sub.bottom)
            picture = Box(
                free.left,
                free.top if side == "bottom" else 0,
                free.right,
                im.height if side == "bottom" else free.bottom,
            )
            if not any(r[:2] == (free, picture) for r in readings):
                readings.append((free, picture, side))
    return content, readings


def _keep(content: Box, side: str) -> Box:
    cut = round(content.height * (1 - COVER_KEEP))
    if side == "top":  # keep the top: drop the bottom share
        return Box(content.left, content.top, content.right, content.bottom - cut)
    return Box(content.left, content.top + cut, content.right, content.bottom)


def query_variants(im: Image.Image) -> list[RobustHash]:
    """The normalised variants of an upload (none for most photos)."""
    full = Box(0, 0, im.width, im.height)
    content, readings = _regions(im)
    out = []
    if content != full:
        out.append(RobustHash("border_trim", *_hash(im, content), content.as_tuple()))
    for free, picture, side in readings:
        if free.height < 16:
            continue
        out.append(RobustHash("banner_strip", *_hash(im, free), free.as_tuple()))
        if picture.height - free.height <= picture.height * (1 - COVER_KEEP) * 1.1:
            # Banner drawn over the picture: the rows it cannot have covered.
            keep = _keep(picture, "top" if side == "bottom" else "bottom")
            out.append(RobustHash(f"banner_cover_{side}", *_hash(im, keep), keep.as_tuple()))
    return out


def bank_region_hashes(im: Image.Image) -> list[tuple[int, str, int]]:
    """(region code, hash, quality) of a banked image, for the regions index."""
    full = Box(0, 0, im.width, im.height)
    content, readings = _regions(im)
    # The 75% regions are of the whole banked image: a banked photo's flat
    # sky would otherwise be "trimmed" and the regions shift.
    out = [
        (REGION_CODE["keep_top75"], *_hash(im, _keep(full, "top"))),
        (REGION_CODE["keep_bottom75"], *_hash(im, _keep(full, "bottom"))),
    ]
    for name, frac in CENTRE_CROPS.items():
        dx, dy = round(im.width * frac / 2), round(im.height * frac / 2)
        out.append((REGION_CODE[name], *_hash(im, Box(dx, dy, im.width - dx, im.height - dy))))
    if content != full:
        out.append((REGION_CODE["border_trim"], *_hash(im, content)))
    if readings and readings[0][0].height >= 16:
        out.append((REGION_CODE["banner_strip"], *_hash(im, readings[0][0])))
    return out
