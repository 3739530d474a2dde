"""Review media: uploaded bytes of flagged items in a content-addressed
folder, a server-side blurred grayscale derivative (the default view, so raw
pixels are not even sent until a reviewer reveals), and short-lived signed
URLs. Encryption at rest is the vault issue's job."""
from __future__ import annotations

import io
import re
from pathlib import Path

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from PIL import Image, ImageFilter, ImageOps

from tripline.durable import atomic_write

SHA_RE = re.compile(r"[0-9a-f]{64}")
DERIVATIVE_SIDE = 640
DEFAULT_BLUR = 24


class MediaStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, sha256: str) -> Path:
        if not SHA_RE.fullmatch(sha256 or ""):
            raise ValueError("bad content digest")
        return self.root / sha256[:2] / sha256

    def put(self, sha256: str, data: bytes) -> None:
        path = self._path(sha256)
        if path.exists():
            return
        atomic_write(path, data, private=True)

    def get(self, sha256: str) -> bytes | None:
        try:
            return self._path(sha256).read_bytes()
        except (FileNotFoundError, ValueError):
            return None

    def put_frames(self, sha256: str, grid: bytes) -> None:
        """A video's review grid (blurred grayscale frames, matched ones
        outlined), shown instead of a flat placeholder."""
        atomic_write(self._path(sha256).with_name(sha256 + ".frames.jpg"), grid, private=True)

    def frames(self, sha256: str) -> bytes | None:
        try:
            return self._path(sha256).with_name(sha256 + ".frames.jpg").read_bytes()
        except (FileNotFoundError, ValueError):
            return None

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
        data = self.get(sha256)
        if data is None:
            return None
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.draft("L", (DERIVATIVE_SIDE, DERIVATIVE_SIDE))
                im = ImageOps.exif_transpose(im).convert("L")
                im.thumbnail((DERIVATIVE_SIDE, DERIVATIVE_SIDE))
        except Exception:  # noqa: BLE001 - not an image (e.g. video): a flat placeholder
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

    def sign(self, item_id: int, variant: str, username: str) -> str:
        return self._s.dumps({"i": item_id, "v": variant, "u": username})

    def load(self, token: str) -> dict | None:
        try:
            return self._s.loads(token, max_age=self.max_age)
        except (BadSignature, SignatureExpired):
            return None
