"""Normalisation before hashing: find the picture inside what an upload adds
around or over it (uniform or blurred borders, caption banners), so that the
hash can be taken of the picture itself. Pure functions of pixels.

See docs/robust-matching.md for the scheme, its costs and its measured recall.
"""

from tripline.normalise.borders import Box, find_banner, find_content_box
from tripline.normalise.variants import (
    BANK_REGIONS,
    NORMALISATION_DESCRIPTIONS,
    PAIRS,
    REGION_SLOTS,
    ROBUST_STRICT,
    RobustHash,
    bank_region_hashes,
    describe,
    query_variants,
    region_id,
    split_region_id,
    verify_robust,
)

__all__ = [
    "BANK_REGIONS",
    "NORMALISATION_DESCRIPTIONS",
    "PAIRS",
    "REGION_SLOTS",
    "ROBUST_STRICT",
    "Box",
    "RobustHash",
    "bank_region_hashes",
    "describe",
    "find_banner",
    "find_content_box",
    "query_variants",
    "region_id",
    "split_region_id",
    "verify_robust",
]
