"""Review media for the console: the blurred grayscale default view (so raw
pixels are not even sent until a reviewer reveals) and the revealed view,
both made from the safe view stored encrypted at intake
(``tripline.vault.review_media``), and short-lived signed URLs.

The console never decodes an upload: only the small grayscale view
Tripline encoded itself, and that too through the intake decoder's limits.
"""

from __future__ import annotations

import io

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from PIL import Image, ImageFilter

from tripline.media.decode import open_image
from tripline.media.limits import Limits
from tripline.model import ItemError
from tripline.vault.review_media import VIEW_SIDE, ReviewMedia

DERIVATIVE_SIDE = VIEW_SIDE
DEFAULT_BLUR = 24
# The stored view is at most VIEW_SIDE square: anything larger was not written by us.
_VIEW_LIMITS = Limits(max_bytes=8 * 1024 * 1024, max_pixels=VIEW_SIDE * VIEW_SIDE, max_frames=1, min_side=1)


class MediaStore:
    def __init__(self, store: ReviewMedia):
        self.store = store

    def put(self, sha256: str, data: bytes) -> None:
        self.store.put(sha256, data)

    def put_frames(self, sha256: str, grid: bytes) -> None:
        """A video's review grid (blurred grayscale frames, matched ones
        outlined), shown instead of a flat placeholder."""
        self.store.put_frames(sha256, grid)

    def get(self, sha256: str) -> bytes | None:
        return self.store.get(sha256)

    def frames(self, sha256: str) -> bytes | None:
        return self.store.frames(sha256)

    def blurred(self, sha256: str, strength: int) -> bytes | None:
        """Grayscale, downscaled and blurred so no detail survives; ``strength``
        is the blur radius in pixels at DERIVATIVE_SIDE."""
        return self._derive(sha256, blur=max(4, strength))

    def revealed(self, sha256: str) -> bytes | None:
        """Unblurred but still grayscale (colour stays off), re-encoded so no
        metadata leaves the server."""
        return self._derive(sha256, blur=0)

    def _derive(self, sha256: str, blur: int) -> bytes | None:
        # A video shows its frame grid, whose frames are already blurred and
        # grayscale; revealing does not unblur it (no raw video frames are
        # ever served, and video is never played with sound).
        grid = self.frames(sha256)
        if grid is not None:
            return grid
        if not self.store.kept(sha256):
            return None
        view = self.store.view(sha256)
        im = None
        if view is not None:
            try:
                _t, im = open_image(view, _VIEW_LIMITS)
                im = im.convert("L")
            except ItemError:
                im = None
        if im is None:  # not an image that passed the intake limits: a flat placeholder
            im = Image.new("L", (DERIVATIVE_SIDE, DERIVATIVE_SIDE * 9 // 16), 128)
        if blur:
            im = im.filter(ImageFilter.GaussianBlur(blur))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=80)
        return buf.getvalue()


class MediaSigner:
    def __init__(self, secret: str, max_age: int):
        self._s = URLSafeTimedSerializer(secret, salt="tripline-media")
        self.max_age = max_age

    def sign(self, item_id: int, variant: str, username: str, *, reveal_id: int | None = None) -> str:
        claims = {"i": item_id, "v": variant, "u": username}
        if reveal_id is not None:
            claims["r"] = reveal_id
        return self._s.dumps(claims)

    def load(self, token: str) -> dict | None:
        try:
            return self._s.loads(token, max_age=self.max_age)
        except (BadSignature, SignatureExpired):
            return None
