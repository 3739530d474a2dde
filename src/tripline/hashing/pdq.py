"""PDQ through Meta's reference implementation (pdqhash), including the eight
dihedral variants, which the reference computes from one DCT: rotations and
mirrors of the picture only permute and negate DCT coefficients."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pdqhash
from PIL import Image

# pdqhash.compute_dihedral's output order, named after the transform applied
# to the picture before hashing.
DIHEDRAL_VARIANTS = (
    "original", "rotate90", "rotate180", "rotate270",
    "flip_x", "flip_y", "flip_plus1", "flip_minus1",
)


@dataclass(frozen=True)
class PdqResult:
    hash: str                         # 64 lowercase hex digits, the stored orientation
    quality: int                      # 0-100; below ~50 the hash is unreliable
    dihedral: tuple[str, ...] = ()    # all 8 variants in DIHEDRAL_VARIANTS order, when asked for


def _pixels(im: Image.Image) -> np.ndarray:
    """An (h, w, 3) uint8 view of the image as pdqhash wants it."""
    arr = np.asarray(im)
    if arr.ndim == 2:
        # Stride-0 broadcast: pdqhash reads the same luma for R, G and B
        # without tripling the buffer.
        arr = np.broadcast_to(arr[:, :, None], (arr.shape[0], arr.shape[1], 3))
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if arr.dtype != np.uint8:
        arr = arr.astype(np.uint8)
    return arr


def bits_to_hex(bits: np.ndarray) -> str:
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def pdq_hash(im: Image.Image, *, dihedral: bool = False) -> PdqResult:
    arr = _pixels(im)
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] < 3):
        raise ValueError(f"unsupported pixel layout {arr.shape}")
    if dihedral:
        vectors, quality = pdqhash.compute_dihedral(arr)
        hexes = tuple(bits_to_hex(v) for v in vectors)
        return PdqResult(hexes[0], int(quality), hexes)
    vector, quality = pdqhash.compute(arr)
    return PdqResult(bits_to_hex(vector), int(quality))


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()
