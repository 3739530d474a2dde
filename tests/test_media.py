import io
import struct
import zlib

import pytest
from PIL import Image

from shared_data import encode, shared
from tripline.media import Limits, decode_image, sniff
from tripline.model import ErrorCode, ItemError


def _img(w=64, h=48):
    im = Image.new("RGB", (w, h))
    im.putdata([((x * 7) % 256, (y * 5) % 256, (x * y) % 256) for y in range(h) for x in range(w)])
    return im


@pytest.mark.parametrize(
    "fmt,kw,expected",
    [
        ("JPEG", {}, "image/jpeg"),
        ("PNG", {}, "image/png"),
        ("GIF", {}, "image/gif"),
        ("WEBP", {}, "image/webp"),
        ("BMP", {}, "image/bmp"),
        ("TIFF", {}, "image/tiff"),
        ("AVIF", {}, "image/avif"),
        ("HEIF", {}, "image/heic"),
    ],
)
def test_every_supported_format_is_sniffed_and_decoded(fmt, kw, expected):
    if fmt == "HEIF":
        import pillow_heif  # noqa: F401  (registers the HEIF encoder)
    data = encode(_img(), fmt, **kw)
    assert sniff(data[:512]) == expected
    d = decode_image(data)
    assert d.media_type == expected
    assert (d.width, d.height) == (64, 48)


def test_type_comes_from_content_not_name(tmp_path):
    png_named_jpg = encode(_img(), "PNG")
    assert decode_image(png_named_jpg).media_type == "image/png"
    with pytest.raises(ItemError) as e:
        decode_image(b"GIF? no, this is a text file that claims to be a .jpg\n" * 3)
    assert e.value.code == ErrorCode.UNSUPPORTED_TYPE


@pytest.mark.parametrize(
    "name,code",
    [
        ("empty_file.png", ErrorCode.EMPTY),
        ("empty_image.jpg", ErrorCode.TOO_SMALL),
        ("empty_image.png", ErrorCode.TOO_SMALL),
        ("text_after_idat.png", ErrorCode.TOO_SMALL),
    ],
)
def test_malformed_fixtures_give_clear_codes(name, code):
    data = shared("fixtures", "provenance", "malformed", name).read_bytes()
    with pytest.raises(ItemError) as e:
        decode_image(data)
    assert e.value.code == code
    assert e.value.message


def test_truncated_jpeg():
    data = encode(_img(640, 480), "JPEG", quality=95)
    with pytest.raises(ItemError) as e:
        decode_image(data[: len(data) // 2])
    assert e.value.code == ErrorCode.TRUNCATED


def _png_header_only(w, h):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def test_decompression_bomb_is_refused_from_the_header():
    with pytest.raises(ItemError) as e:
        decode_image(_png_header_only(60_000, 60_000))
    assert e.value.code == ErrorCode.TOO_MANY_PIXELS


def test_byte_limit():
    data = encode(_img(), "PNG")
    with pytest.raises(ItemError) as e:
        decode_image(data, Limits(max_bytes=len(data) - 1))
    assert e.value.code == ErrorCode.TOO_MANY_BYTES


def test_frame_limit():
    frames = [_img().rotate(i * 10) for i in range(5)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    assert decode_image(buf.getvalue(), Limits(max_frames=5)).frames == 5
    with pytest.raises(ItemError) as e:
        decode_image(buf.getvalue(), Limits(max_frames=4))
    assert e.value.code == ErrorCode.TOO_MANY_FRAMES


def test_time_limit():
    data = encode(Image.effect_noise((3000, 3000), 60).convert("RGB"), "PNG", compress_level=1)
    with pytest.raises(ItemError) as e:
        decode_image(data, Limits(max_seconds=0.001))
    assert e.value.code == ErrorCode.TIMEOUT


def test_exif_orientation_is_applied():
    im = _img(80, 40)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: display rotated 90 degrees clockwise
    d = decode_image(encode(im, "JPEG", exif=exif, quality=95))
    assert (d.width, d.height) == (40, 80)
    assert d.image.size == (40, 80)
    assert d.orientation == 6
    exact = decode_image(encode(im, "JPEG", exif=exif, quality=95), exact=True)
    assert exact.image.size == (80, 40)  # the reference pipeline ignores orientation
