"""tripline.normalise: border trimming and banner detection (property tests on
generated benign pictures), and the region variants built on them."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from tripline.hashing import hamming, pdq_hash, robust_hashes
from tripline.normalise import (
    BANK_REGIONS,
    Box,
    bank_region_hashes,
    describe,
    find_banner,
    find_content_box,
    query_variants,
    region_id,
    split_region_id,
    verify_robust,
)


def picture(w: int, h: int, seed: int) -> Image.Image:
    """A busy generated picture (smooth colour field plus shapes): no flat edges."""
    rng = np.random.default_rng(seed)
    small = rng.integers(30, 226, size=(6, 8, 3), dtype=np.uint8)
    im = Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
    arr = np.asarray(im).astype(np.int16)
    arr = arr + rng.integers(-18, 19, size=arr.shape, dtype=np.int16)  # texture
    im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _ in range(12):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        r = int(rng.integers(8, max(9, min(w, h) // 4)))
        # Shapes stay clear of the border fills (near black/white): a picture
        # whose own edge is the fill colour has no recoverable boundary.
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(c) for c in rng.integers(30, 226, 3)))
    return im


def padded(im: Image.Image, left: int, top: int, right: int, bottom: int, fill) -> Image.Image:
    out = Image.new("RGB", (im.width + left + right, im.height + top + bottom), fill)
    out.paste(im, (left, top))
    return out


def within(box: Box, expected: Box, tol: int) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(box.as_tuple(), expected.as_tuple(), strict=True))


sizes = st.tuples(st.integers(160, 520), st.integers(160, 520))
fills = st.sampled_from([(0, 0, 0), (255, 255, 255), (8, 8, 8), (250, 250, 250)])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(size=sizes, seed=st.integers(0, 10_000), fill=fills, data=st.data())
def test_trimming_an_added_border_returns_the_original_within_1px(size, seed, fill, data):
    w, h = size
    im = picture(w, h, seed)
    # Any subset of sides, 2-30% of the side each.
    sides = [
        data.draw(st.one_of(st.just(0), st.integers(max(2, round(0.02 * d)), round(0.3 * d)))) for d in (w, h, w, h)
    ]
    if not any(sides):
        sides[0] = max(2, w // 10)
    framed = padded(im, *sides, fill)
    box = find_content_box(framed)
    assert box is not None
    assert abs(box.width - w) <= 1 and abs(box.height - h) <= 1
    assert within(box, Box(sides[0], sides[1], sides[0] + w, sides[1] + h), 1)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(size=sizes, seed=st.integers(0, 10_000), frac=st.floats(0.1, 0.3))
def test_grey_frame_on_all_sides_is_trimmed(size, seed, frac):
    w, h = size
    im = picture(w, h, seed)
    p = max(3, round(frac * min(w, h) / 2))
    box = find_content_box(padded(im, p, p, p, p, (128, 128, 128)))
    assert box is not None and within(box, Box(p, p, p + w, p + h), 1)


@pytest.mark.parametrize("seed", range(6))
def test_blurred_fill_frame_is_trimmed(seed):
    im = picture(400, 300, seed)
    cw, ch = 520, 390
    canvas = im.resize((cw, ch), Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(cw / 25))
    canvas.paste(im, (60, 45))
    box = find_content_box(canvas)
    assert box is not None and within(box, Box(60, 45, 460, 345), 2)


@pytest.mark.parametrize("seed", range(8))
def test_a_picture_without_border_or_banner_yields_nothing(seed):
    im = picture(480, 320, seed)
    assert find_content_box(im) is None
    assert find_banner(im) is None
    assert query_variants(im) == []


def banner(im: Image.Image, frac: float, side: str, colour=(255, 255, 255), ink=(0, 0, 0)) -> Image.Image:
    out = im.copy()
    bh = round(im.height * frac)
    y0 = im.height - bh if side == "bottom" else 0
    draw = ImageDraw.Draw(out)
    draw.rectangle((0, y0, im.width, y0 + bh - 1), fill=colour)
    font = ImageFont.load_default(size=max(8, bh // 3))
    draw.text((im.width // 10, y0 + bh // 3), "benign caption text 123", font=font, fill=ink)
    return out


@pytest.mark.parametrize("side", ["bottom", "top"])
@pytest.mark.parametrize("frac", [0.1, 0.18, 0.25])
def test_banner_over_the_picture_is_found_and_cut_away(side, frac):
    im = picture(480, 360, 7)
    edited = banner(im, frac, side) if side == "bottom" else banner(im, frac, side, (0, 0, 0), (255, 255, 255))
    found = find_banner(edited)
    assert found is not None and found[0] == side
    assert abs(found[1] - round(360 * frac)) <= 2
    # The "cover" variant is the 75% of the picture a <= 25% banner cannot
    # have touched: identical to the banked image's region hash.
    names = {v.normalisation: v for v in query_variants(edited)}
    cover = names[f"banner_cover_{side}"]
    bank = {BANK_REGIONS[c]: h for c, h, _ in bank_region_hashes(im)}
    target = "keep_top75" if side == "bottom" else "keep_bottom75"
    assert hamming(cover.hash, bank[target]) <= 8


def test_banner_added_below_is_stripped_back_to_the_original():
    im = picture(400, 300, 3)
    out = Image.new("RGB", (400, 360), (255, 255, 255))
    out.paste(im, (0, 0))
    ImageDraw.Draw(out).text(
        (40, 318), "a caption added under the picture", font=ImageFont.load_default(size=16), fill=(0, 0, 0)
    )
    strip = [v for v in query_variants(out) if v.normalisation == "banner_strip"]
    assert strip and min(hamming(v.hash, pdq_hash(im).hash) for v in strip) <= 10


def test_bank_region_hashes_and_ids():
    im = picture(400, 300, 5)
    codes = [c for c, _, _ in bank_region_hashes(im)]
    assert {BANK_REGIONS[c] for c in codes} == {"keep_top75", "keep_bottom75", "centre95", "centre90"}
    assert split_region_id(region_id(1234, 2)) == (1234, "keep_bottom75")
    framed = padded(im, 30, 30, 30, 30, (0, 0, 0))
    assert "border_trim" in {BANK_REGIONS[c] for c, _, _ in bank_region_hashes(framed)}


def test_robust_hashes_through_hashing_api():
    im = padded(picture(300, 200, 9), 20, 20, 20, 20, (0, 0, 0))
    variants, regions = robust_hashes(im, query=True, bank=True)
    assert variants[0]["normalisation"] == "border_trim" and variants[0]["box"] == [20, 20, 320, 220]
    assert len(regions) >= 4


def test_verifier_is_stricter_than_the_bank_threshold():
    assert verify_robust(24, 31) and not verify_robust(25, 31)
    assert verify_robust(20, 20) and not verify_robust(21, 20)


def test_descriptions_say_what_was_done():
    assert "trimming a border" in describe("border_trim")
    assert "banner" in describe("banner_cover_bottom", "keep_top75")
