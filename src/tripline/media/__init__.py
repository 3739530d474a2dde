"""Media intake: identify by magic bytes, enforce limits, decode safely."""

from tripline.media.decode import DecodedImage, check_bytes, decode_image, open_image
from tripline.media.limits import Limits, deadline
from tripline.media.sniff import EXTENSION_TYPES, IMAGE_TYPES, sniff

__all__ = [
    "DecodedImage",
    "EXTENSION_TYPES",
    "IMAGE_TYPES",
    "Limits",
    "check_bytes",
    "deadline",
    "decode_image",
    "open_image",
    "sniff",
]
