"""Parse a file's container once and expose a shared read-only view.

Every source parser reads from :class:`ContainerView`: PNG text chunks, EXIF
(main IFD + Exif IFD, with UserComment decoded), XMP, JPEG comments, whether a
C2PA JUMBF store is embedded, and (lazily) the decoded pixels. The walkers are
hand-written, bounded and never raise: a damaged container yields what could
be read plus an entry in ``errors``.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from functools import cached_property
from typing import Any

from .options import ProvenanceOptions

PNG_SIG = b"\x89PNG\r\n\x1a\n"

# EXIF tag numbers used by the sources.
TAG_IMAGE_DESCRIPTION = 0x010E
TAG_MAKE = 0x010F
TAG_MODEL = 0x0110
TAG_SOFTWARE = 0x0131
TAG_ARTIST = 0x013B
TAG_DOCUMENT_NAME = 0x010D
TAG_COPYRIGHT = 0x8298
TAG_XMP = 0x02BC
TAG_EXIF_IFD = 0x8769
TAG_USER_COMMENT = 0x9286
TAG_MAKER_NOTE = 0x927C


def sniff(data: bytes) -> str:
    if data.startswith(PNG_SIG):
        return "png"
    if data.startswith(b"\xff\xd8"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"avif", b"avis"):
            return "avif"
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
            return "heif"
        return "bmff"
    return "unknown"


def decode_user_comment(raw: Any) -> str | None:
    """EXIF UserComment: 8-byte charset prefix then text.

    ``UNICODE\\0`` is UTF-16 whose byte order is not fixed by the standard:
    A1111 (piexif) writes big-endian, others little-endian; decide from where
    the zero bytes of ASCII-range characters fall.
    """
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, (bytes, bytearray)):
        return None
    raw = bytes(raw)
    prefix, body = raw[:8], raw[8:]
    if prefix == b"UNICODE\x00":
        if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
            return body.decode("utf-16", errors="replace").rstrip("\x00")
        even_zero = body[0::2].count(0)
        odd_zero = body[1::2].count(0)
        enc = "utf-16-be" if even_zero > odd_zero else "utf-16-le"
        if len(body) % 2:
            body = body[:-1]
        return body.decode(enc, errors="replace").rstrip("\x00")
    if prefix in (b"ASCII\x00\x00\x00", b"\x00" * 8):
        return body.decode("utf-8", errors="replace").rstrip("\x00")
    if prefix == b"JIS\x00\x00\x00\x00\x00":
        return body.decode("shift_jis", errors="replace").rstrip("\x00")
    # No (or an unknown) prefix: some writers store plain text.
    return raw.decode("utf-8", errors="replace").rstrip("\x00")


class ContainerView:
    """Shared, already-extracted view of one file. Read-only for sources."""

    def __init__(self, data: bytes, options: ProvenanceOptions):
        self.data = data
        self.options = options
        self.format = sniff(data)
        self.text: dict[str, str] = {}  # PNG text chunks (first of each key)
        self.text_order: list[str] = []
        self.exif_raw: bytes | None = None
        self.xmp: str | None = None
        self.comments: list[str] = []  # JPEG COM segments
        self.jumbf = False  # an embedded C2PA/JUMBF store was seen
        self.webp_lossless = False
        self.dims: tuple[int, int] | None = None  # from IHDR / SOF when the walker saw it
        self.errors: list[tuple[str, str]] = []
        self._walk()

    # -- container walkers -------------------------------------------------
    def _err(self, message: str) -> None:
        self.errors.append(("container", message))

    def _walk(self) -> None:
        try:
            if self.format == "png":
                self._walk_png()
            elif self.format == "jpeg":
                self._walk_jpeg()
            elif self.format == "webp":
                self._walk_webp()
            elif self.format in ("tiff", "gif", "avif", "heif"):
                self._walk_pillow()
        except Exception as exc:  # pragma: no cover  # noqa: BLE001 - last resort; walkers are defensive already
            self._err(f"{type(exc).__name__}: {exc}")

    def _set_text(self, key: str, value: str) -> None:
        if key not in self.text:
            self.text[key] = value
            self.text_order.append(key)

    def _inflate(self, blob: bytes) -> bytes | None:
        d = zlib.decompressobj()
        try:
            out = d.decompress(blob, self.options.max_chunk_bytes)
        except zlib.error as exc:
            self._err(f"bad compressed text: {exc}")
            return None
        if d.unconsumed_tail:
            self._err("compressed text chunk over max_chunk_bytes; skipped")
            return None
        return out

    def _walk_png(self) -> None:
        data, pos, n = self.data, 8, 0
        cap = self.options.max_chunk_bytes
        while pos + 8 <= len(data):
            n += 1
            if n > self.options.max_chunks:
                self._err("too many PNG chunks; stopped")
                return
            length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
            body_start = pos + 8
            body_end = body_start + length
            if body_end > len(data):
                self._err(f"PNG chunk {ctype!r} truncated")
                return
            pos = body_end + 4  # skip CRC
            if ctype == b"IEND":
                return
            if ctype == b"IHDR" and length >= 8:
                w, h = struct.unpack(">II", data[body_start : body_start + 8])
                self.dims = (w, h) if w and h else None
                continue
            if ctype in (b"IDAT", b"fdAT"):
                continue
            if ctype == b"caBX":
                self.jumbf = True
                continue
            if length > cap:
                if ctype in (b"tEXt", b"zTXt", b"iTXt", b"eXIf"):
                    self._err(f"PNG {ctype.decode('latin-1')} chunk of {length} bytes over cap; skipped")
                continue
            body = data[body_start:body_end]
            try:
                if ctype == b"tEXt":
                    key, _, val = body.partition(b"\x00")
                    self._set_text(key.decode("latin-1"), val.decode("latin-1"))
                elif ctype == b"zTXt":
                    key, _, rest = body.partition(b"\x00")
                    raw = self._inflate(rest[1:])
                    if raw is not None:
                        self._set_text(key.decode("latin-1"), raw.decode("latin-1"))
                elif ctype == b"iTXt":
                    key, _, rest = body.partition(b"\x00")
                    if len(rest) < 2:
                        continue
                    comp_flag = rest[0]
                    rest = rest[2:]
                    _lang, _, rest = rest.partition(b"\x00")
                    _tkey, _, text = rest.partition(b"\x00")
                    if comp_flag:
                        text = self._inflate(text)
                        if text is None:
                            continue
                    k = key.decode("latin-1")
                    v = text.decode("utf-8", errors="replace")
                    if k == "XML:com.adobe.xmp":
                        self.xmp = self.xmp or v
                    else:
                        self._set_text(k, v)
                elif ctype == b"eXIf":
                    self.exif_raw = self.exif_raw or body
            except Exception as exc:  # noqa: BLE001 - hostile input: one malformed PNG chunk is recorded and skipped
                self._err(f"PNG {ctype!r}: {exc}")
        self._err("PNG ends without IEND (truncated)")

    def _walk_jpeg(self) -> None:
        data, pos, n = self.data, 2, 0
        while pos + 4 <= len(data):
            n += 1
            if n > self.options.max_chunks:
                self._err("too many JPEG segments; stopped")
                return
            if data[pos] != 0xFF:
                self._err("JPEG marker expected; stopped")
                return
            marker = data[pos + 1]
            if marker == 0xFF:  # fill byte
                pos += 1
                continue
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                pos += 2
                continue
            if marker in (0xDA, 0xD9):  # start of scan / end: metadata is over
                return
            (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
            seg = data[pos + 4 : pos + 2 + length]
            if length < 2 or pos + 2 + length > len(data):
                self._err("JPEG segment truncated")
                return
            pos += 2 + length
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and len(seg) >= 5:
                h, w = struct.unpack(">HH", seg[1:5])
                self.dims = (w, h) if w and h else None
            elif marker == 0xE1:
                if seg.startswith(b"Exif\x00\x00") and self.exif_raw is None:
                    self.exif_raw = seg
                elif seg.startswith(b"http://ns.adobe.com/xap/1.0/\x00") and self.xmp is None:
                    self.xmp = seg[29:].decode("utf-8", errors="replace")
            elif marker == 0xEB:
                if b"jumb" in seg[:32] or seg[:2] == b"JP":
                    self.jumbf = True
            elif marker == 0xFE:
                self.comments.append(seg.decode("utf-8", errors="replace"))

    def _walk_webp(self) -> None:
        data, pos, n = self.data, 12, 0
        end = min(len(data), 8 + struct.unpack("<I", data[4:8])[0])
        while pos + 8 <= end:
            n += 1
            if n > self.options.max_chunks:
                self._err("too many WebP chunks; stopped")
                return
            fourcc, size = struct.unpack("<4sI", data[pos : pos + 8])
            body = data[pos + 8 : pos + 8 + size]
            if pos + 8 + size > len(data):
                self._err(f"WebP chunk {fourcc!r} truncated")
                return
            pos += 8 + size + (size & 1)
            if fourcc == b"VP8L":
                self.webp_lossless = True
            elif fourcc == b"EXIF" and size <= self.options.max_chunk_bytes:
                self.exif_raw = self.exif_raw or body
            elif fourcc == b"XMP " and size <= self.options.max_chunk_bytes:
                self.xmp = self.xmp or body.decode("utf-8", errors="replace")
            elif fourcc == b"C2PA":
                self.jumbf = True

    def _walk_pillow(self) -> None:
        im = self._open()
        if im is None:
            return
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exif = im.getexif()
            if exif:
                self._exif_obj = exif
            xmp = im.info.get("xmp")
            if isinstance(xmp, (bytes, bytearray)):
                self.xmp = bytes(xmp)[: self.options.max_chunk_bytes].decode("utf-8", errors="replace")
            elif isinstance(xmp, str):
                self.xmp = xmp
            tiff_xmp = exif.get(TAG_XMP) if exif else None
            if self.xmp is None and isinstance(tiff_xmp, (bytes, bytearray)):
                self.xmp = bytes(tiff_xmp).decode("utf-8", errors="replace")
            comment = im.info.get("comment")
            if isinstance(comment, (bytes, bytearray)):
                self.comments.append(bytes(comment).decode("utf-8", errors="replace"))
        except Exception as exc:  # noqa: BLE001 - hostile input: Pillow raises many types on malformed metadata
            self._err(f"metadata: {exc}")

    # -- lazily decoded parts ---------------------------------------------
    _exif_obj: Any = None

    _pil: Any = None
    _pil_failed = False

    def _open(self):
        """The Pillow image object (header parsed, pixels not loaded), opened once."""
        from PIL import Image

        if self.format in ("bmff", "unknown"):
            return None
        if self._pil is not None or self._pil_failed:
            return self._pil
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._pil = Image.open(io.BytesIO(self.data))
        except Exception as exc:  # noqa: BLE001 - hostile input: Pillow raises many types on undecodable images
            self._pil_failed = True
            self._err(f"not a decodable image: {type(exc).__name__}")
        return self._pil

    @cached_property
    def exif(self) -> dict[int, Any]:
        """Main IFD and Exif IFD tags merged (Exif IFD wins on a clash)."""
        from PIL import Image

        ex = self._exif_obj
        if ex is None and self.exif_raw:
            raw = self.exif_raw
            if not raw.startswith(b"Exif\x00\x00"):
                raw = b"Exif\x00\x00" + raw
            try:
                ex = Image.Exif()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ex.load(raw)
            except Exception as exc:  # noqa: BLE001 - hostile input: Pillow raises many types on malformed EXIF
                self._err(f"bad EXIF: {type(exc).__name__}")
                return {}
        if not ex:
            return {}
        out: dict[int, Any] = {}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out.update({k: v for k, v in ex.items() if k != TAG_EXIF_IFD})
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out.update(ex.get_ifd(TAG_EXIF_IFD))
            except Exception as exc:  # noqa: BLE001 - hostile input: Pillow raises many types on a malformed Exif IFD
                self._err(f"bad Exif IFD: {type(exc).__name__}")
        except Exception as exc:  # noqa: BLE001 - hostile input: Pillow raises many types on malformed EXIF
            self._err(f"bad EXIF: {type(exc).__name__}")
        return out

    def exif_str(self, tag: int) -> str | None:
        v = self.exif.get(tag)
        if isinstance(v, (bytes, bytearray)):
            v = bytes(v).decode("utf-8", errors="replace")
        if isinstance(v, str):
            return v.rstrip("\x00")
        return None

    @cached_property
    def user_comment(self) -> str | None:
        try:
            s = decode_user_comment(self.exif.get(TAG_USER_COMMENT))
        except Exception as exc:  # noqa: BLE001 - hostile input: any failure decoding the UserComment is recorded
            self._err(f"bad UserComment: {type(exc).__name__}")
            return None
        return s or None

    @cached_property
    def image(self):
        """The decoded picture (Pillow), or None. Decoded at most once."""
        im = self._open()
        if im is None:
            return None
        w, h = im.size
        if w * h > self.options.max_pixels:
            self._err(f"image of {w}x{h} over max_pixels; pixels not read")
            return None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                im.load()
        except Exception as exc:  # noqa: BLE001 - hostile input: Pillow raises many types on corrupt pixel data
            self._err(f"image decode failed: {type(exc).__name__}: {exc}")
            return None
        return im

    @cached_property
    def size(self) -> tuple[int, int] | None:
        if self.dims is not None and self.format in ("png", "jpeg"):
            return self.dims  # the walker read the header; no need to ask Pillow
        im = self._open()
        return im.size if im is not None else None
