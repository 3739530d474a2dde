"""What a scan worker keeps of an item for the classifier stage.

Workers run in other processes and the stage runs where matches are known
(classifiers may be limited to unmatched uploads), so the worker sends back a
reduced RGB copy of the decoded image, not the full decode: a 24-megapixel
photo would otherwise cross the process boundary as 72 MB of pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

# Files above this are not kept for remote classifiers: a scan batch holds
# up to 64 items in memory, and vendors refuse larger uploads anyway.
MAX_SEND_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class InputSpec:
    max_side: int | None = None  # longest side kept; None: no image is kept
    want_bytes: bool = False  # keep the file's bytes for remote classifiers


def prepare(image: Image.Image | None, data: bytes, spec: InputSpec) -> dict:
    out: dict = {}
    if image is not None and spec.max_side:
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        if max(rgb.size) > spec.max_side:
            rgb = rgb.copy() if rgb is image else rgb
            rgb.thumbnail((spec.max_side, spec.max_side), Image.Resampling.BILINEAR)
        out["image"] = rgb
    if spec.want_bytes and len(data) <= MAX_SEND_BYTES:
        out["data"] = data
    return out
