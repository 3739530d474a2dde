"""Helpers for the provenance tests (no tests here): where shared/ is, and
writers that build small benign fixtures from each format's definition."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PROV = SHARED / "fixtures" / "provenance"


def shared_path(*parts: str) -> Path:
    p = SHARED.joinpath(*parts)
    if not SHARED.is_dir():
        pytest.fail(f"shared data folder missing: expected it at {SHARED} (../shared from the repo root)")
    if not p.exists():
        pytest.fail(f"shared fixture missing: {p}")
    return p


def image(size=(64, 48), mode="RGB", seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    chans = len(mode) if mode != "L" else 1
    arr = rng.integers(0, 256, size=(size[1], size[0], chans), dtype=np.uint8)
    if mode == "RGBA":
        arr[:, :, 3] = 255
    return Image.fromarray(arr.squeeze() if chans == 1 else arr, mode)


def png(
    texts: dict[str, str] | None = None,
    *,
    img: Image.Image | None = None,
    itxt: dict[str, str] | None = None,
    ztxt: dict[str, str] | None = None,
    exif: bytes | None = None,
) -> bytes:
    info = PngImagePlugin.PngInfo()
    for k, v in (texts or {}).items():
        info.add_text(k, v)
    for k, v in (itxt or {}).items():
        info.add_itxt(k, v, zip=True)
    for k, v in (ztxt or {}).items():
        info.add_text(k, v, zip=True)
    buf = io.BytesIO()
    kw = {"exif": exif} if exif else {}
    (img or image()).save(buf, "PNG", pnginfo=info, **kw)
    return buf.getvalue()


def exif_bytes(*, user_comment: bytes | None = None, **tags) -> bytes:
    names = {"ImageDescription": 0x010E, "Make": 0x010F, "Model": 0x0110, "Software": 0x0131, "MakerNote": 0x927C}
    ex = Image.Exif()
    for k, v in tags.items():
        if k == "MakerNote":
            ex.get_ifd(0x8769)[names[k]] = v
        else:
            ex[names[k]] = v
    if user_comment is not None:
        ex.get_ifd(0x8769)[0x9286] = user_comment
    return ex.tobytes()


def uc_unicode(text: str, be: bool = True) -> bytes:
    return b"UNICODE\x00" + text.encode("utf-16-be" if be else "utf-16-le")


def uc_ascii(text: str) -> bytes:
    return b"ASCII\x00\x00\x00" + text.encode("ascii")


def jpeg(*, exif: bytes | None = None, xmp: str | None = None, img: Image.Image | None = None) -> bytes:
    buf = io.BytesIO()
    kw = {}
    if exif:
        kw["exif"] = exif
    if xmp:
        kw["xmp"] = xmp.encode()
    (img or image()).save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def webp(
    *, exif: bytes | None = None, xmp: str | None = None, img: Image.Image | None = None, lossless: bool = False
) -> bytes:
    buf = io.BytesIO()
    kw = {}
    if exif:
        kw["exif"] = exif
    if xmp:
        kw["xmp"] = xmp.encode()
    (img or image()).save(buf, "WEBP", lossless=lossless, quality=90, **kw)
    return buf.getvalue()


def xmp_packet(body: str, ns: str = "") -> str:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" {ns}>{body}</rdf:Description></rdf:RDF></x:xmpmeta>'
        '<?xpacket end="w"?>'
    )


# -- stealth pnginfo writer (from the format definition) ----------------------
def stealth_embed(img: Image.Image, payload: bytes, *, mode: str = "alpha", compressed: bool = False) -> Image.Image:
    magic = {
        ("alpha", False): b"stealth_pnginfo",
        ("alpha", True): b"stealth_pngcomp",
        ("rgb", False): b"stealth_rgbinfo",
        ("rgb", True): b"stealth_rgbcomp",
    }[(mode, compressed)]
    data = gzip.compress(payload) if compressed else payload
    bits = np.unpackbits(np.frombuffer(magic + (len(data) * 8).to_bytes(4, "big") + data, dtype=np.uint8))
    arr = np.array(img.convert("RGBA" if mode == "alpha" else "RGB"))
    h, w = arr.shape[:2]
    if mode == "alpha":
        plane = arr[:, :, 3].T.copy().reshape(-1)  # column-major
        assert len(bits) <= plane.size, "image too small for payload"
        plane[: len(bits)] = (plane[: len(bits)] & 0xFE) | bits
        arr[:, :, 3] = plane.reshape(w, h).T
    else:
        plane = arr.transpose(1, 0, 2).copy().reshape(-1)
        assert len(bits) <= plane.size, "image too small for payload"
        plane[: len(bits)] = (plane[: len(bits)] & 0xFE) | bits
        arr = plane.reshape(w, h, 3).transpose(1, 0, 2)
    return Image.fromarray(np.ascontiguousarray(arr))


# -- dwtDct watermark embedder (from the published algorithm) -----------------
def dwtdct_embed(rgb: np.ndarray, bits, *, order: str = "bgr", scale: float = 36.0) -> np.ndarray:
    import cv2
    import pywt

    arr = rgb[:, :, ::-1] if order == "bgr" else rgb
    arr = np.ascontiguousarray(arr)
    h, w = arr.shape[:2]
    h4, w4 = h // 4 * 4, w // 4 * 4
    yuv = cv2.cvtColor(arr, cv2.COLOR_BGR2YUV)
    ca, (ch, cv, cd) = pywt.dwt2(yuv[:h4, :w4, 1].astype(np.float64), "haar")
    n = len(bits)
    num = 0
    for i in range(ca.shape[0] // 4):
        for j in range(ca.shape[1] // 4):
            block = ca[i * 4 : (i + 1) * 4, j * 4 : (j + 1) * 4]
            flat = block.reshape(-1)
            pos = int(np.argmax(np.abs(flat[1:]))) + 1
            v = flat[pos]
            q = (abs(v) // scale + 0.25 + 0.5 * bits[num % n]) * scale
            flat[pos] = q if v >= 0 else -q
            block[:] = flat.reshape(4, 4)
            num += 1
    yuv = yuv.astype(np.float64)
    yuv[:h4, :w4, 1] = pywt.idwt2((ca, (ch, cv, cd)), "haar")
    out = cv2.cvtColor(np.clip(np.round(yuv), 0, 255).astype(np.uint8), cv2.COLOR_YUV2BGR)
    return np.ascontiguousarray(out[:, :, ::-1] if order == "bgr" else out)


def to_png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def dumps(obj) -> str:
    return json.dumps(obj)
