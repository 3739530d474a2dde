"""Identify media by magic bytes. File names lie; the first bytes rarely do."""

from __future__ import annotations

# Media types Tripline decodes as still images.
IMAGE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff", "image/heic", "image/avif"}
)

_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
_AVIF_BRANDS = {b"avif", b"avis"}
# mif1/msf1 are generic HEIF brands: the compatible-brand list says which codec.
_VIDEO_BRANDS = {
    b"isom",
    b"iso2",
    b"iso4",
    b"iso5",
    b"iso6",
    b"mp41",
    b"mp42",
    b"avc1",
    b"dash",
    b"M4V ",
    b"M4A ",
    b"3gp4",
    b"3gp5",
    b"3g2a",
    b"mmp4",
}


def _isobmff_type(head: bytes) -> str | None:
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    box_len = int.from_bytes(head[0:4], "big")
    major = head[8:12]
    end = min(len(head), box_len if 16 <= box_len <= 4096 else 64)
    brands = {major} | {head[i : i + 4] for i in range(16, end - 3, 4)}
    if brands & _AVIF_BRANDS:
        return "image/avif"
    if brands & _HEIC_BRANDS:
        return "image/heic"
    if major == b"qt  ":
        return "video/quicktime"
    if brands & _VIDEO_BRANDS:
        return "video/mp4"
    if brands & {b"mif1", b"msf1"}:
        return "image/heic"
    return None


def sniff(head: bytes) -> str | None:
    """Return the media type of data starting with ``head`` (64 bytes suffice), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head[:2] == b"BM" and len(head) >= 26:
        return "image/bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm"
    if head[:5] == b"%PDF-":
        return "application/pdf"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):  # an empty zip is only its end record
        return "application/zip"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "application/x-tar"
    if head[:3] == b"\x1f\x8b\x08":
        return "application/gzip"
    return _isobmff_type(head)


# What a file's extension claims, to flag mismatches (informational only).
EXTENSION_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".jpe": "image/jpeg",
    ".jfif": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".heic": "image/heic",
    ".heif": "image/heic",
    ".avif": "image/avif",
}
