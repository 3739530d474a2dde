"""vPDQ: one PDQ hash per sampled frame, with the frame's timestamp.

Container formats are hashed by Meta's ``vpdq`` package (FFmpeg decode, the
reference frame hasher) in a child process; animated GIF/WebP frames are
decoded by Pillow and hashed with the same PDQ algorithm. Either way the
result is a list of :class:`Frame`.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tripline.model import ErrorCode, ItemError
from tripline.video.intake import bmff_truncated
from tripline.video.limits import VideoLimits

_CHILD = Path(__file__).with_name("_vpdq_child.py")
# python-threatexchange serialises timestamps with 3 decimals.
TIMESTAMP_DECIMALS = 3


@dataclass(frozen=True)
class Frame:
    pdq: str  # 64 hex digits
    quality: int  # 0-100; frames under 50 are not matched
    timestamp: float  # seconds from the start: where a reviewer jumps to
    frame_number: int = -1

    def to_te(self) -> str:
        """python-threatexchange's VpdqCompactFeature string."""
        return f"{self.pdq},{self.quality},{self.timestamp:.{TIMESTAMP_DECIMALS}}"


def to_te_signal(frames: list[Frame]) -> str:
    """The vPDQ ``signal_str`` python-threatexchange and HMA exchange."""
    return json.dumps([f.to_te() for f in frames])


def from_te_signal(signal: str) -> list[Frame]:
    """Parse a python-threatexchange vPDQ signal (raises ValueError)."""
    items = json.loads(signal or "[]")
    if not isinstance(items, list):
        raise ValueError("a vPDQ signal is a JSON list of 'pdqhex,quality,timestamp' strings")
    return [_parse_feature(s) for s in items]


def _parse_feature(s: object) -> Frame:
    if not isinstance(s, str) or s.count(",") != 2:
        raise ValueError(f"invalid vPDQ feature {s!r:.100}")
    pdq, quality, ts = s.split(",")
    pdq = pdq.strip().lower()
    if len(pdq) != 64 or any(c not in "0123456789abcdef" for c in pdq):
        raise ValueError(f"invalid PDQ hash in vPDQ feature {s!r:.100}")
    q, t = int(quality), float(ts)
    if not 0 <= q <= 100 or not t >= 0:
        raise ValueError(f"quality or timestamp out of range in vPDQ feature {s!r:.100}")
    return Frame(pdq, q, t)


def hash_container(
    data: bytes, *, seconds_per_hash: float = 1.0, limits: VideoLimits = VideoLimits(), threads: int = 1
) -> list[Frame]:
    """vPDQ of a container file's bytes (``seconds_per_hash=0``: every frame).

    The bytes reach FFmpeg through an in-memory file (memfd), so uploads are
    never written to disk; where memfd is unavailable, a private temp file.
    """
    with _video_path(data) as (path, fds):
        try:
            proc = subprocess.run(
                [
                    sys.executable,
                    "-I",
                    str(_CHILD),
                    path,
                    repr(float(seconds_per_hash)),
                    str(int(threads)),
                    str(int(limits.max_decoder_memory)),
                ],
                pass_fds=fds,
                capture_output=True,
                text=True,
                timeout=limits.max_decode_seconds,
            )
        except subprocess.TimeoutExpired:
            raise ItemError(ErrorCode.TIMEOUT, f"decoding took longer than {limits.max_decode_seconds:g} s") from None
    if proc.returncode == 3:
        raise ItemError(
            ErrorCode.TOO_MANY_PIXELS, f"decoding needs more than {limits.max_decoder_memory} bytes of memory"
        )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        if bmff_truncated(data):
            raise ItemError(ErrorCode.TRUNCATED, f"the file ends before its last box; FFmpeg/vpdq: {last[:200]}")
        raise ItemError(ErrorCode.DECODE_ERROR, f"FFmpeg/vpdq could not decode the video ({last[:300]})")
    frames = []
    for line in proc.stdout.splitlines():
        n, q, h, t = line.split(",")
        frames.append(Frame(h, int(q), round(float(t), 6), int(n)))
    if not frames:
        raise ItemError(ErrorCode.DECODE_ERROR, "no video frame could be decoded")
    if len(frames) > limits.max_frames:
        raise ItemError(
            ErrorCode.TOO_MANY_FRAMES, f"{len(frames)} hashed frames exceeds the limit of {limits.max_frames}"
        )
    return frames


class _video_path:
    """Context manager: a path the child can open, and the fds it must inherit."""

    def __init__(self, data: bytes):
        self.data = data
        self.fd: int | None = None
        self.tmp: str | None = None

    def __enter__(self) -> tuple[str, tuple[int, ...]]:
        if hasattr(os, "memfd_create"):
            self.fd = os.memfd_create("tripline-video", 0)
            _write_all(self.fd, self.data)
            # pass_fds keeps the number, so the child's /proc/self/fd/N is this file.
            return f"/proc/self/fd/{self.fd}", (self.fd,)
        fd, self.tmp = tempfile.mkstemp(prefix="tripline-video-")  # mode 0600
        try:
            _write_all(fd, self.data)
        finally:
            os.close(fd)
        return self.tmp, ()

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)
        if self.tmp is not None:
            os.unlink(self.tmp)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def hash_animation(data: bytes, *, seconds_per_hash: float = 1.0, limits: VideoLimits = VideoLimits()) -> list[Frame]:
    """vPDQ of an animated GIF/WebP, sampling like vpdq: the first frame at or
    after each multiple of ``seconds_per_hash``."""
    from PIL import Image, ImageSequence

    from tripline.hashing import pdq_hash
    from tripline.media.limits import deadline

    frames: list[Frame] = []
    with deadline(limits.max_decode_seconds, "animation decode"):
        try:
            with Image.open(io.BytesIO(data), formats=["GIF", "WEBP"]) as im:
                t, next_sample = 0.0, 0.0
                for n, frame in enumerate(ImageSequence.Iterator(im)):
                    if n >= limits.max_frames:
                        raise ItemError(ErrorCode.TOO_MANY_FRAMES, f"more than {limits.max_frames} frames")
                    # Frame delays are only known once the frame is loaded (WebP).
                    frame.load()
                    if seconds_per_hash <= 0 or t >= next_sample - 1e-9:
                        r = pdq_hash(frame.convert("RGB"))
                        frames.append(Frame(r.hash, r.quality, round(t, 6), n))
                        if seconds_per_hash > 0:
                            while next_sample <= t + 1e-9:
                                next_sample += seconds_per_hash
                    # Browsers play delays under 20 ms (often 0) as 100 ms.
                    delay = int(frame.info.get("duration") or 0)
                    t += (delay if delay >= 20 else 100) / 1000
        except ItemError:
            raise
        except Exception as exc:  # noqa: BLE001 - any decoder failure is per-item
            raise ItemError(ErrorCode.DECODE_ERROR, f"cannot decode the animation: {exc}") from None
    if not frames:
        raise ItemError(ErrorCode.DECODE_ERROR, "no frame could be decoded")
    return frames
