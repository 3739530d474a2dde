"""Stealth pnginfo: metadata hidden in the least significant bits.

Written by the A1111 ``stealth-pnginfo`` extension and by NovelAI. Bits are
read column by column (x outer, y inner) from the alpha channel (magic
``stealth_pnginfo`` plain / ``stealth_pngcomp`` gzip) or from R, G, B in turn
(``stealth_rgbinfo`` / ``stealth_rgbcomp``); then a 32-bit big-endian payload
length *in bits*; then the payload. Only lossless containers (PNG, lossless
WebP) can carry it.
"""

from __future__ import annotations

import zlib

import numpy as np

from . import a1111, novelai
from .container import ContainerView
from .record import Evidence, ProvenanceRecord

NAME = "stealth"
_MAGICS = {
    b"stealth_pnginfo": ("alpha", False),
    b"stealth_pngcomp": ("alpha", True),
    b"stealth_rgbinfo": ("rgb", False),
    b"stealth_rgbcomp": ("rgb", True),
}
_MAGIC_LEN = 15


def _bit_reader(arr: np.ndarray, mode: str):
    """Return f(start_bit, n_bits) -> np.uint8 bits, reading only the columns needed."""
    h = arr.shape[0]
    per_col = h if mode == "alpha" else h * 3

    def read(start: int, n: int) -> np.ndarray:
        c0 = start // per_col
        c1 = min(arr.shape[1], -(-(start + n) // per_col))
        if mode == "alpha":
            sub = arr[:, c0:c1, 3].T
        else:
            sub = arr[:, c0:c1, :3].transpose(1, 0, 2)
        bits = (np.ascontiguousarray(sub).reshape(-1) & 1).astype(np.uint8)
        off = start - c0 * per_col
        return bits[off : off + n]

    return read, arr.shape[1] * per_col


def _inflate(blob: bytes, cap: int) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip wrapper
    out = d.decompress(blob, cap)
    if d.unconsumed_tail:
        raise ValueError("stealth payload over max_stealth_bytes after decompression")
    return out


def decode(image, max_bytes: int) -> tuple[str, bytes] | None:
    """-> (magic, payload bytes) or None when no stealth payload is present."""
    if image is None:
        return None
    modes = []
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        modes.append("alpha")
    modes.append("rgb")
    arr = None
    for mode in modes:
        if arr is None:
            arr = np.asarray(image.convert("RGBA") if image.mode != "RGBA" else image)
        read, total = _bit_reader(arr, mode)
        head = _MAGIC_LEN * 8 + 32
        if total < head:
            return None
        bits = read(0, head)
        magic = np.packbits(bits[: _MAGIC_LEN * 8]).tobytes()
        if magic not in _MAGICS or _MAGICS[magic][0] != mode:
            continue
        nbits = int.from_bytes(np.packbits(bits[_MAGIC_LEN * 8 :]).tobytes(), "big")
        if nbits <= 0 or nbits // 8 > max_bytes or head + nbits > total:
            raise ValueError(f"stealth payload length {nbits} bits is invalid or over cap")
        payload = np.packbits(read(head, nbits)).tobytes()[: nbits // 8]
        if _MAGICS[magic][1]:
            payload = _inflate(payload, max_bytes)
        return magic.decode(), payload
    return None


def extract(view: ContainerView, rec: ProvenanceRecord) -> None:
    if view.format == "png" or (view.format == "webp" and view.webp_lossless):
        pass
    else:
        return
    if view.text.get("parameters") or view.text.get("Comment"):
        return  # metadata already in chunks; the stealth copy would add nothing
    found = decode(view.image, view.options.max_stealth_bytes)
    if found is None:
        return
    magic, payload = found
    text = payload.decode("utf-8", errors="replace")
    where = f"stealth pnginfo ({magic})"
    if text.lstrip().startswith("{"):
        novelai.extract_from_stealth(view, rec, text, where)
    elif a1111.looks_like_parameters(text):
        gen = a1111.generation_from_text(text, view.options.max_json_depth)
        rec.add_generation(gen, Evidence("generator_metadata", "declared", f"{gen.tool} parameters in {where}"))
    else:
        rec.add_error(NAME, f"{where}: payload is neither JSON nor generation parameters")
