"""Hashing: pure functions of bytes or pixels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PIL import Image

from tripline.hashing.digests import digests
from tripline.hashing.pdq import DIHEDRAL_VARIANTS, VARIANT_DESCRIPTIONS, PdqResult, bits_to_hex, hamming, pdq_hash
from tripline.media import Limits, decode_image
from tripline.media.decode import FAST_MIN_SIDE
from tripline.media.limits import deadline
from tripline.model import ErrorCode, ItemError

if TYPE_CHECKING:  # OpenCV loads only when keypoints are asked for
    from tripline.keypoints import Keypoints

__all__ = [
    "DIHEDRAL_VARIANTS",
    "VARIANT_DESCRIPTIONS",
    "HashRecord",
    "PdqResult",
    "bits_to_hex",
    "digests",
    "hamming",
    "hash_bytes",
    "pdq_hash",
    "robust_hashes",
]


@dataclass
class HashRecord:
    md5: str
    sha256: str
    media_type: str | None = None
    width: int | None = None
    height: int | None = None
    pdq: str | None = None
    pdq_quality: int | None = None
    pdq_dihedral: tuple[str, ...] = field(default=())
    orientation: int | None = None
    error: ItemError | None = None
    image: Image.Image | None = field(default=None, repr=False)  # kept only when asked for
    # With robust=True: normalised query variants (tripline.normalise), each
    # {"normalisation", "pdq", "quality", "box"}; most photos have none.
    pdq_variants: tuple[dict, ...] = field(default=())
    # With bank_regions=True: (region code, pdq, quality) for a bank's regions index.
    pdq_regions: tuple[tuple[int, str, int], ...] = field(default=())
    # With keypoints=True: ORB keypoints (tripline.keypoints), the crop-tolerant
    # descriptor; an in-memory object, never written to results.
    keypoints: Keypoints | None = field(default=None, repr=False)


def hash_bytes(
    data: bytes,
    limits: Limits = Limits(),
    *,
    exact: bool = False,
    dihedral: bool = True,
    fast_min_side: int | None = FAST_MIN_SIDE,
    keep_image: bool = False,
    exact_dihedral: bool = False,
    robust: bool = False,
    bank_regions: bool = False,
    keypoints: bool = False,
) -> HashRecord:
    """Every hash Tripline takes of one image. Never raises ItemError: the
    digests are computed for any bytes (exact-hash banks match undecodable
    files too) and a decode failure is returned in ``error``."""
    rec = HashRecord(**digests(data))
    try:
        with deadline(limits.max_seconds, "hashing"):
            decoded = decode_image(data, limits, exact=exact, fast_min_side=fast_min_side)
            pdq = pdq_hash(decoded.image, dihedral=dihedral, exact_dihedral=exact_dihedral)
            variants, regions = robust_hashes(decoded.image, query=robust, bank=bank_regions)
            if keypoints:
                from tripline.keypoints import extract  # lazy: OpenCV loads only when asked for

                rec.keypoints = extract(decoded.image)
    except ItemError as exc:
        rec.error = exc
        return rec
    except Exception as exc:  # noqa: BLE001 - a hashing bug must stay per-item
        rec.error = ItemError(ErrorCode.DECODE_ERROR, f"{type(exc).__name__}: {exc}")
        return rec
    rec.media_type = decoded.media_type
    rec.width, rec.height = decoded.width, decoded.height
    rec.orientation = decoded.orientation
    rec.pdq, rec.pdq_quality, rec.pdq_dihedral = pdq.hash, pdq.quality, pdq.dihedral
    rec.pdq_variants, rec.pdq_regions = variants, regions
    if keep_image:
        rec.image = decoded.image
    return rec


def robust_hashes(image: Image.Image, *, query: bool = True, bank: bool = False):
    """Normalised PDQ variants of a decoded image (see tripline.normalise):
    (query variants as dicts, bank region hashes as (code, pdq, quality))."""
    if not (query or bank):
        return (), ()
    # Lazy: tripline.normalise imports tripline.hashing.pdq.
    from tripline.normalise import bank_region_hashes, query_variants

    variants = (
        tuple(
            {"normalisation": v.normalisation, "pdq": v.hash, "quality": v.quality, "box": list(v.box)}
            for v in query_variants(image)
        )
        if query
        else ()
    )
    regions = tuple(bank_region_hashes(image)) if bank else ()
    return variants, regions
