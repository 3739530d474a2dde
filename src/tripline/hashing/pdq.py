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
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flip_x",
    "flip_y",
    "flip_plus1",
    "flip_minus1",
)

# What a reviewer reads when a match came through a variant: the query had to
# be turned or mirrored this way to line up with the banked image.
VARIANT_DESCRIPTIONS = {
    "original": "as is",
    "rotate90": "after turning the upload 90°",
    "rotate180": "after turning the upload 180°",
    "rotate270": "after turning the upload 270°",
    "flip_x": "after mirroring the upload top-bottom",
    "flip_y": "after mirroring the upload left-right",
    "flip_plus1": "after mirroring the upload across its main diagonal",
    "flip_minus1": "after mirroring the upload across its anti-diagonal",
}


@dataclass(frozen=True)
class PdqResult:
    hash: str  # 64 lowercase hex digits, the stored orientation
    quality: int  # 0-100; below ~50 the hash is unreliable
    dihedral: tuple[str, ...] = ()  # all 8 variants in DIHEDRAL_VARIANTS order, when asked for


# The pixel transform behind each variant, on (rows, cols, channels) arrays,
# and which source axes it reverses.
_TRANSFORMS = (
    lambda a: a,
    lambda a: np.rot90(a, 1),
    lambda a: np.rot90(a, 2),
    lambda a: np.rot90(a, -1),
    lambda a: a[::-1],
    lambda a: a[:, ::-1],
    lambda a: a.transpose(1, 0, 2),
    lambda a: np.rot90(a, 2).transpose(1, 0, 2),
)
_REVERSES = ("", "c", "rc", "r", "r", "c", "", "rc")


def symmetric_side(n: int) -> bool:
    """Whether PDQ's downsampling is mirror-symmetric along a side of n pixels.

    PDQ box-filters with a window of ceil(n/128) pixels, which is centred only
    when odd, and decimates on a grid that is symmetric only when n is not a
    multiple of 128. Along any other side, the DCT-domain dihedral variants
    differ from hashing the mirrored pixels (by up to ~60 bits measured).
    """
    return ((n + 127) // 128) % 2 == 1 and n % 128 != 0


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


def pdq_hash(im: Image.Image, *, dihedral: bool = False, exact_dihedral: bool = False) -> PdqResult:
    """PDQ of an image; with ``dihedral`` also its 8 rotations and mirrors.

    The variants come from one transform. With ``exact_dihedral`` the variants
    that reverse a non-symmetric side (see symmetric_side) are recomputed from
    the mirrored pixels: exact, at the cost of up to 6 more hashes for
    awkwardly sized images.
    """
    arr = _pixels(im)
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] < 3):
        raise ValueError(f"unsupported pixel layout {arr.shape}")
    if dihedral:
        vectors, quality = pdqhash.compute_dihedral(arr)
        hexes = [bits_to_hex(v) for v in vectors]
        if exact_dihedral:
            skewed = ("r" if not symmetric_side(arr.shape[0]) else "") + (
                "c" if not symmetric_side(arr.shape[1]) else ""
            )
            for k, reverses in enumerate(_REVERSES):
                if set(reverses) & set(skewed):
                    # Contiguous: pdqhash reads its luma buffer as C-ordered,
                    # and numpy keeps a transposed view's order in results.
                    hexes[k] = bits_to_hex(pdqhash.compute(np.ascontiguousarray(_TRANSFORMS[k](arr)))[0])
        return PdqResult(hexes[0], int(quality), tuple(hexes))
    vector, quality = pdqhash.compute(arr)
    return PdqResult(bits_to_hex(vector), int(quality))


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()
