"""Review media in the encrypted vault: the uploaded bytes of flagged items
and the safe view derived from them once, at intake.

Layout under the root (``TRIPLINE_HOME/review-media`` by default)::

    ab/<sha256>.raw.tlv      the upload (kept for evidence preservation)
    ab/<sha256>.view.tlv     grayscale, at most VIEW_SIDE px: what the console shows
    ab/<sha256>.frames.tlv   a video's blurred frame grid

Each file is a vault blob (``vault.seal``: its own data key, wrapped by the
master key; additional data binds the digest and the variant, so one file
cannot be swapped for another). The console only ever decodes the view,
which Tripline itself encoded; the upload is decoded once, at intake, under
the intake limits (sniffed type, pixel and time caps), never by the console.

Files are kept ``retention_days`` after the last time the content was
flagged; ``purge`` deletes older ones. Files of the earlier plaintext layout
(``ab/<sha256>``) are read once, re-stored encrypted and deleted.
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from PIL import ImageOps

from tripline import durable
from tripline.media.decode import open_image
from tripline.media.limits import Limits, deadline
from tripline.model import ItemError

from .keys import KeyProvider, StaticKeyProvider, write_key_file
from .vault import seal, unseal

SHA_RE = re.compile(r"[0-9a-f]{64}")
VIEW_SIDE = 640
VARIANTS = ("raw", "view", "frames")
DEFAULT_RETENTION_DAYS = 90
DEV_KEY_NAME = ".review-media.key"


def safe_view(data: bytes, limits: Limits) -> bytes | None:
    """Grayscale, at most VIEW_SIDE px, EXIF-oriented, re-encoded without
    metadata. Decoded only as the sniffed type and within ``limits``; None
    when the upload is not an image that passes them (the console then shows
    a flat placeholder)."""
    try:
        with deadline(limits.max_seconds, "review view"):
            _type, im = open_image(data, limits)
            with im:
                im.draft("L", (VIEW_SIDE, VIEW_SIDE))
                im = ImageOps.exif_transpose(im).convert("L")
                im.thumbnail((VIEW_SIDE, VIEW_SIDE))
                buf = io.BytesIO()
                im.save(buf, "PNG")
                return buf.getvalue()
    except ItemError:
        return None
    except Exception:  # noqa: BLE001 - a decoder failure means no view, never a crash
        return None


class ReviewMedia:
    def __init__(
        self,
        root: str | os.PathLike,
        keys: Callable[[], KeyProvider | None] | KeyProvider | None = None,
        *,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        limits: Limits | None = None,
    ):
        self.root = Path(root)
        self._keys = keys
        self._fallback: KeyProvider | None = None
        self.retention_days = retention_days
        self.limits = limits or Limits()

    # -- keys --------------------------------------------------------------
    def keys(self) -> KeyProvider:
        k = self._keys() if callable(self._keys) else self._keys
        if k is not None:
            return k
        # No vault key configured (development): a generated key file beside
        # the media, so files are at least not plaintext. Production sets
        # TRIPLINE_VAULT_KEY_FILE (docs/security.md).
        if self._fallback is None:
            path = self.root / DEV_KEY_NAME
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not path.exists():
                try:
                    write_key_file(path)
                except FileExistsError:
                    pass
            self._fallback = StaticKeyProvider(bytes.fromhex(path.read_text().strip()))
        return self._fallback

    # -- paths -------------------------------------------------------------
    def _path(self, sha256: str, variant: str) -> Path:
        if not SHA_RE.fullmatch(sha256 or "") or variant not in VARIANTS:
            raise ValueError("bad content digest")
        return self.root / sha256[:2] / f"{sha256}.{variant}.tlv"

    def _legacy(self, sha256: str, variant: str) -> Path:
        base = self.root / sha256[:2] / sha256
        return base if variant == "raw" else base.with_name(sha256 + ".frames.jpg")

    def _write(self, sha256: str, variant: str, data: bytes) -> None:
        aad = f"tripline-review-media:{sha256}:{variant}"
        blob, _ = seal(self.keys(), aad, data, aad.encode(), {"sha256": sha256, "variant": variant})
        durable.atomic_write(self._path(sha256, variant), blob, private=True)

    def _read(self, sha256: str, variant: str) -> bytes | None:
        try:
            path = self._path(sha256, variant)
        except ValueError:
            return None
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return self._migrate(sha256, variant)
        aad = f"tripline-review-media:{sha256}:{variant}"
        try:
            return unseal(self.keys(), raw, aad, aad.encode(), path.name)[1]
        except Exception:  # noqa: BLE001 - VaultError, KeyError_: tampered or wrong key, treated as not kept
            return None

    def _migrate(self, sha256: str, variant: str) -> bytes | None:
        legacy = self._legacy(sha256, variant)
        try:
            data = legacy.read_bytes()
        except FileNotFoundError:
            return None
        self._write(sha256, variant, data)
        if variant == "raw":
            view = safe_view(data, self.limits)
            if view is not None:
                self._write(sha256, "view", view)
        legacy.unlink(missing_ok=True)
        return data

    # -- operations --------------------------------------------------------
    def put(self, sha256: str, data: bytes) -> None:
        """Keep an upload and its safe view (derived here, once)."""
        path = self._path(sha256, "raw")
        if path.exists():
            os.utime(path)  # flagged again: the retention period restarts
            return
        view = safe_view(data, self.limits)
        if view is not None:
            self._write(sha256, "view", view)
        self._write(sha256, "raw", data)

    def put_frames(self, sha256: str, grid: bytes) -> None:
        self._write(sha256, "frames", grid)

    def get(self, sha256: str) -> bytes | None:
        return self._read(sha256, "raw")

    def view(self, sha256: str) -> bytes | None:
        try:
            legacy = self._path(sha256, "view") and self._legacy(sha256, "raw").exists()
        except ValueError:
            return None
        if legacy:
            self.get(sha256)  # re-stores it encrypted, with its view
        return self._read(sha256, "view")

    def frames(self, sha256: str) -> bytes | None:
        return self._read(sha256, "frames")

    def kept(self, sha256: str) -> bool:
        try:
            return self._path(sha256, "raw").exists() or self._legacy(sha256, "raw").exists()
        except ValueError:
            return False

    def purge(self, *, now: float | None = None, dry_run: bool = False) -> list[str]:
        """Delete media last flagged more than ``retention_days`` ago; returns
        the digests purged. Evidence that must outlive this is preserved in
        the evidence vault (with holds) when a report is built."""
        cutoff = (now or time.time()) - self.retention_days * 86400
        purged = []
        for raw in sorted(self.root.glob("??/*.raw.tlv")):
            if raw.stat().st_mtime >= cutoff:
                continue
            sha = raw.name.split(".")[0]
            purged.append(sha)
            if not dry_run:
                for v in VARIANTS:
                    self._path(sha, v).unlink(missing_ok=True)
        for legacy in sorted(self.root.glob("??/" + "[0-9a-f]" * 64)):
            if legacy.stat().st_mtime < cutoff:
                purged.append(legacy.name)
                if not dry_run:
                    legacy.unlink(missing_ok=True)
        return purged
