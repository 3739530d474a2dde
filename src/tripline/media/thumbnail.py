"""The only pixels Tripline ever puts in a report: small, grayscale and
blurred so strongly that no detail survives at that size. Reviewers see that
something matched and roughly its shape, never the content."""

from __future__ import annotations

import io

from PIL import Image, ImageFilter

THUMB_SIDE = 96
THUMB_BLUR_RADIUS = 6


def safe_thumbnail(im: Image.Image) -> bytes:
    small = im.convert("L")
    small.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BOX)
    small = small.filter(ImageFilter.GaussianBlur(THUMB_BLUR_RADIUS))
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=60)
    return buf.getvalue()
