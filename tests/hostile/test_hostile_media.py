"""Hostile still images (#23 items 4, 9, 12): each reproducer from the issue."""

import time

import hostile_corpus as hc
import pytest
from PIL import Image

from tripline.hashing import hash_bytes
from tripline.media import Limits, decode_image
from tripline.model import ErrorCode, ItemError


@pytest.fixture(scope="module")
def photo_png():
    with Image.open(hc.photos(1)[0]) as im:
        return hc.encode(im.convert("RGB"), "PNG")


def _code(data: bytes) -> str | None:
    h = hash_bytes(data)
    return None if h.error is None else str(h.error.code)


def test_ztxt_that_inflates_to_megabytes_keeps_the_pixels(photo_png):
    # Regression (#23.9): a 2 KB zTXt inflating to 2 MB made a banked photo decode_error, with no PDQ.
    bomb = hc.png_with_chunks(photo_png, hc.ztxt(b"Comment", b"\0" * 2 * 1024**2))
    assert len(bomb) - len(photo_png) < 4096
    plain, hostile = hash_bytes(photo_png), hash_bytes(bomb)
    assert hostile.error is None and hostile.pdq == plain.pdq


def test_huge_compressed_xmp_keeps_the_pixels_and_is_a_provenance_note(photo_png):
    from tripline.provenance import read_provenance

    big = hc.png_with_chunks(
        photo_png, hc.itxt(b"XML:com.adobe.xmp", b"<x:xmpmeta>" + b" " * 8 * 1024**2, compressed=True)
    )
    assert hash_bytes(big).pdq == hash_bytes(photo_png).pdq
    rec = read_provenance(big).to_dict()
    assert rec.get("errors") and any("max_chunk_bytes" in e["message"] for e in rec["errors"])


def test_tall_strip_is_refused_before_decoding():
    # Regression (#23.4): a 112 KB 8 x 12,500,000 PNG took 2.7 GB and ended in an OpenCV assertion.
    data = hc.tall_png()
    assert len(data) < 200_000
    t0 = time.monotonic()
    with pytest.raises(ItemError) as exc:
        decode_image(data)
    assert exc.value.code == ErrorCode.TOO_MANY_PIXELS and time.monotonic() - t0 < 1


def test_pillow_bomb_guard_is_not_switched_off_process_wide():
    assert Image.MAX_IMAGE_PIXELS is not None
    with pytest.raises(ItemError) as exc:
        decode_image(hc.pixel_bomb_png())
    assert exc.value.code == ErrorCode.TOO_MANY_PIXELS
    # between Pillow's warning threshold and our limit: decoded, no warning escapes
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        big = hc.encode(Image.new("L", (9500, 9500)), "PNG")
        assert decode_image(big, Limits(max_pixels=100_000_000)).width == 9500


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("keep", [0.2, 0.5, 0.9])
def test_truncated_images_say_truncated(fmt, keep):
    # Regression (#23.12): cut files mostly said decode_error.
    with Image.open(hc.photos(1)[0]) as im:
        whole = hc.encode(im.convert("RGB"), fmt)
    assert _code(whole[: int(len(whole) * keep)]) == "truncated"


def test_truncated_animated_gif_says_truncated():
    from tripline.scan.pipeline import ScanOptions, process_item
    from tripline.scan.walker import Item

    gif = hc.animated_gif()
    rec, _ = process_item(Item("cut.gif", "s", 0, data=gif[: len(gif) // 2]), ScanOptions(provenance=False))
    assert rec["error"]["code"] == "truncated"


def test_random_bytes_after_a_webm_header_are_not_an_mp4_truncation():
    from tripline.scan.pipeline import ScanOptions, process_item
    from tripline.scan.walker import Item

    rec, _ = process_item(Item("x.webm", "s", 0, data=hc.webm_garbage()), ScanOptions(provenance=False))
    assert rec["error"]["code"] == "decode_error"
    assert "last box" not in rec["error"]["message"]


def test_unsupported_type_message_carries_no_file_content():
    secret = b"root:x:0:0:root:/root:/bin/bash\n"
    h = hash_bytes(secret)
    assert h.error.code == ErrorCode.UNSUPPORTED_TYPE
    assert secret[:8].hex() not in h.error.message and "root" not in h.error.message


def test_animation_deadline_follows_the_item_limit():
    # Regression (#23.6): a 20k-frame GIF on a 2000x2000 screen took 302 s; --max-seconds did not shorten it.
    from tripline.media import Limits
    from tripline.scan.pipeline import ScanOptions, process_item
    from tripline.scan.walker import Item

    gif = hc.many_frame_gif(20_000, 2000)
    assert len(gif) < 1_000_000
    t0 = time.monotonic()
    rec, _ = process_item(
        Item("slow.gif", "s", 0, data=gif), ScanOptions(limits=Limits(max_seconds=2), provenance=False)
    )
    assert time.monotonic() - t0 < 8
    assert rec["error"]["code"] == "timeout"
