"""Safe still-image decoding: sniff, enforce limits, decode, orient.

Returns Pillow images ready for hashing. The fast path asks the JPEG decoder
for a reduced-size image (DCT scaling), which is where large photos spend most
of their hashing time; PDQ downsamples to 64x64 anyway, so the lost detail is
invisible to it.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from dataclasses import dataclass

from PIL import Image, ImageFile, UnidentifiedImageError

from tripline.media.limits import Limits, deadline
from tripline.media.sniff import IMAGE_TYPES, sniff
from tripline.model import ErrorCode, ItemError

try:  # HEIC needs libheif; without it HEIC files become per-item errors.
    import pillow_heif

    pillow_heif.register_heif_opener()
    _HEIF_OK = True
except ImportError:  # pragma: no cover - pillow-heif is a declared dependency
    _HEIF_OK = False

# Pillow's process-wide decompression-bomb guard stays on (other code in the
# process, such as the review console, relies on it). Our own Limits check
# runs on the header before any pixel is decoded, and is the tighter bound;
# Pillow's warning between its two thresholds is silenced only around our
# own open, where Limits already governs.
ImageFile.LOAD_TRUNCATED_IMAGES = False

_PIL_FORMAT = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
    "image/bmp": "BMP",
    "image/tiff": "TIFF",
    "image/heic": "HEIF",
    "image/avif": "AVIF",
}

# Smallest side the fast path decodes to. bench/hash_bench.py measures the
# trade-off on the large Debian photos: 512 keeps the worst case within 10 bits
# of the full-resolution reference (mean ~3); 256 is a little faster but drifts
# up to 18 bits, because PDQ's own box filter changes with the input size.
FAST_MIN_SIDE = 512


@dataclass
class DecodedImage:
    media_type: str
    width: int  # full-resolution size, after EXIF orientation
    height: int
    frames: int
    orientation: int  # EXIF orientation tag as found (1 = none)
    image: Image.Image  # mode RGB or L; may be smaller than width x height


def check_bytes(data: bytes, limits: Limits) -> str:
    """Validate size and magic bytes; return the media type."""
    if not data:
        raise ItemError(ErrorCode.EMPTY, "file is empty")
    if len(data) > limits.max_bytes:
        raise ItemError(ErrorCode.TOO_MANY_BYTES, f"{len(data)} bytes exceeds the limit of {limits.max_bytes}")
    media_type = sniff(data[:512])
    if media_type is None:
        # No bytes of the content in the message: it is printed and logged,
        # and the file may be one the operator must not see (a secret, or
        # the material itself).
        raise ItemError(ErrorCode.UNSUPPORTED_TYPE, "not a recognised media format")
    return media_type


def open_image(data: bytes, limits: Limits = Limits()) -> tuple[str, Image.Image]:
    """Sniff and open (header only) an image, enforcing byte, pixel and frame limits."""
    media_type = check_bytes(data, limits)
    if media_type not in IMAGE_TYPES:
        raise ItemError(ErrorCode.UNSUPPORTED_TYPE, f"{media_type} is not a supported image type")
    if media_type == "image/heic" and not _HEIF_OK:  # pragma: no cover
        raise ItemError(ErrorCode.UNSUPPORTED_TYPE, "HEIC support (pillow-heif) is not installed")
    if media_type == "image/png":
        data = pixel_chunks_only(data)
    try:
        # Forcing the sniffed format stops Pillow from trying every plugin,
        # which is both slower and a larger attack surface.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=[_PIL_FORMAT[media_type]])
    except Exception as exc:  # noqa: BLE001 - every decoder failure is per-item
        raise _as_item_error(exc, data, media_type) from exc
    w, h = im.size
    if w * h > limits.max_pixels:
        raise ItemError(ErrorCode.TOO_MANY_PIXELS, f"{w}x{h} = {w * h} pixels exceeds the limit of {limits.max_pixels}")
    if max(w, h) > limits.max_side:
        raise ItemError(ErrorCode.TOO_MANY_PIXELS, f"{w}x{h}: a side over {limits.max_side} px")
    if min(w, h) < limits.min_side:
        raise ItemError(ErrorCode.TOO_SMALL, f"{w}x{h} is below the minimum side of {limits.min_side} px")
    frames = getattr(im, "n_frames", 1)
    if frames > limits.max_frames:
        raise ItemError(ErrorCode.TOO_MANY_FRAMES, f"{frames} frames exceeds the limit of {limits.max_frames}")
    return media_type, im


def decode_image(
    data: bytes,
    limits: Limits = Limits(),
    *,
    exact: bool = False,
    fast_min_side: int | None = FAST_MIN_SIDE,
) -> DecodedImage:
    """Decode the first frame of an image within ``limits``.

    exact=True reproduces python-threatexchange's pipeline (full-resolution
    decode, stored orientation) so hashes are bit-identical to it; otherwise
    EXIF orientation is applied and large images take the fast path.
    """
    with deadline(limits.max_seconds, "decoding"):
        media_type, im = open_image(data, limits)
        frames = getattr(im, "n_frames", 1)
        orientation = _orientation(im)
        try:
            if exact:
                im.load()
                return DecodedImage(media_type, im.width, im.height, frames, orientation, _exact_mode(im))
            full_w, full_h = im.size
            if (
                fast_min_side
                and media_type == "image/jpeg"
                and im.mode in ("RGB", "L", "YCbCr")
                and min(im.size) >= 2 * fast_min_side
            ):
                # Large JPEGs: DCT-scaled decode straight to luma, skipping
                # chroma upsampling and colour conversion (JFIF's Y is PDQ's
                # luminance). Smaller ones decode as the reference does, so
                # their hashes are bit-identical to exchange-made hashes.
                im.draft("L", (fast_min_side, fast_min_side))
            im.load()
            if fast_min_side and min(im.size) >= 4 * fast_min_side:
                im = im.reduce(min(im.size) // (2 * fast_min_side))
            im = _rgb_or_l(im)
            if orientation in (5, 6, 7, 8):
                full_w, full_h = full_h, full_w
            im = _apply_orientation(im, orientation)
        except ItemError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _as_item_error(exc, data, media_type) from exc
        return DecodedImage(media_type, full_w, full_h, frames, orientation, im)


_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT = {b"tEXt", b"zTXt", b"iTXt"}


def pixel_chunks_only(data: bytes) -> bytes:
    """The PNG without its text chunks (tEXt/zTXt/iTXt), which carry no
    pixels. Pillow refuses a file whose text inflates past its own cap, so a
    2 KB zTXt that inflates to 2 MB would otherwise cost a banked photo its
    PDQ (and its match). The provenance reader parses the text, under its own
    caps, from the original bytes. Anything unparseable is returned as is,
    for the decoder to judge."""
    if not data.startswith(_PNG_SIG):
        return data
    out, pos, n, dropped = [_PNG_SIG], 8, len(data), False
    while pos + 12 <= n:
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > n:
            break
        if ctype in _PNG_TEXT:
            dropped = True
        else:
            out.append(data[pos:end])
        pos = end
        if ctype == b"IEND":
            break
    if not dropped:
        return data
    out.append(data[pos:])  # a torn tail stays, so truncation is still reported
    return b"".join(out)


def looks_truncated(data: bytes, media_type: str | None) -> bool:
    """Whether the data ends before its format's end marker: the upload was
    cut short (decoders word this in many ways, or not at all)."""
    tail = data.rstrip(b"\0")[-64:]
    if media_type == "image/jpeg":
        return b"\xff\xd9" not in tail
    if media_type == "image/png":
        return b"IEND" not in data[-64:]
    if media_type == "image/gif":
        return not tail.endswith(b"\x3b")
    if media_type in ("image/webp", "video/x-msvideo") and len(data) >= 8:
        return int.from_bytes(data[4:8], "little") + 8 > len(data)
    return False


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(0x0112, 1)
        return value if isinstance(value, int) and 1 <= value <= 8 else 1
    except Exception:  # noqa: BLE001 - a broken EXIF block must not fail the image
        return 1


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _apply_orientation(im: Image.Image, orientation: int) -> Image.Image:
    op = _TRANSPOSE.get(orientation)
    return im.transpose(op) if op is not None else im


def _rgb_or_l(im: Image.Image) -> Image.Image:
    if im.mode in ("RGB", "L"):
        return im
    if im.mode in ("LA", "La"):
        return im.convert("L")
    if im.mode == "P" and "transparency" in im.info:
        return im.convert("RGBA").convert("RGB")
    # 16-bit and float modes clip into 8 bits here, as python-threatexchange's
    # own conversion does, so both pipelines see the same pixels.
    return im.convert("RGB")


def _exact_mode(im: Image.Image) -> Image.Image:
    """The pixels python-threatexchange hands to PDQ, minus its two known bugs.

    It passes CMYK as raw CMYK and palette images as palette indices (see
    shared/README.md); those two are converted to RGB here. Every other mode is
    left as the reference leaves it so the hashes stay bit-identical.
    """
    if im.mode in ("LA", "I;16", "P", "CMYK"):
        return im.convert("RGB")
    return im


def _as_item_error(exc: Exception, data: bytes = b"", media_type: str | None = None) -> ItemError:
    if isinstance(exc, ItemError):
        return exc
    if isinstance(exc, Image.DecompressionBombError):
        return ItemError(ErrorCode.TOO_MANY_PIXELS, str(exc))
    if isinstance(exc, MemoryError):
        return ItemError(ErrorCode.TOO_MANY_PIXELS, "decoding ran out of memory")
    text = str(exc) or type(exc).__name__
    if "truncated" in text.lower() or isinstance(exc, EOFError) or (data and looks_truncated(data, media_type)):
        return ItemError(ErrorCode.TRUNCATED, f"the data ends before the image does ({text})")
    if isinstance(exc, UnidentifiedImageError):
        return ItemError(ErrorCode.DECODE_ERROR, "the decoder could not identify the image data")
    if isinstance(exc, zlib.error):
        return ItemError(ErrorCode.DECODE_ERROR, f"corrupt compressed data: {text}")
    return ItemError(ErrorCode.DECODE_ERROR, f"{type(exc).__name__}: {text}")
