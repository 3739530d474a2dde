"""Video intake: decide from magic bytes whether an item is a video, then read
its container header with PyAV and enforce the limits before any frame is
decoded. Nothing here decodes pixels except the animated-image frame count."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from fractions import Fraction

from tripline.media.sniff import sniff
from tripline.model import ErrorCode, ItemError
from tripline.video.limits import VideoLimits

# Container types decoded through FFmpeg.
CONTAINER_TYPES = frozenset({"video/mp4", "video/quicktime", "video/webm", "video/x-matroska", "video/x-msvideo"})
# Animated images are hashed frame by frame like a video (through Pillow:
# FFmpeg before 7.1 cannot decode animated WebP).
ANIMATED_TYPES = frozenset({"image/gif", "image/webp"})


def sniff_video(head: bytes) -> str | None:
    """The video media type of data starting with ``head`` (4 KiB suffice), or
    None. Matroska and WebM share a magic number; the EBML DocType tells them
    apart."""
    media_type = sniff(head)
    if media_type == "video/webm" and b"\x42\x82\x88matroska" in head[:64]:
        return "video/x-matroska"
    return media_type if media_type in CONTAINER_TYPES else None


def is_animated(data: bytes) -> bool:
    """True for a GIF or WebP with more than one frame (header read only)."""
    if sniff(data[:64]) not in ANIMATED_TYPES:
        return False
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data), formats=["GIF", "WEBP"]) as im:
            return bool(getattr(im, "is_animated", False))
    except Exception:  # noqa: BLE001 - not animated as far as we can tell; the image path reports the error
        return False


def is_video(data: bytes) -> bool:
    """Whether the scan should route ``data`` to the video path."""
    return sniff_video(data[:4096]) is not None or is_animated(data)


@dataclass
class VideoInfo:
    media_type: str
    container: str
    width: int
    height: int
    duration: float | None  # seconds
    fps: float | None
    frames: int | None  # declared or estimated frame count
    codec: str | None
    has_audio: bool
    tags: dict[str, dict[str, str]] = field(default_factory=dict)  # "format" / "video" / "audio" -> tags

    def to_dict(self) -> dict:
        return {
            "container": self.container,
            "codec": self.codec,
            "fps": self.fps,
            "has_audio": self.has_audio,
        }


def check_bytes(data: bytes, limits: VideoLimits) -> str:
    if not data:
        raise ItemError(ErrorCode.EMPTY, "file is empty")
    if len(data) > limits.max_bytes:
        raise ItemError(ErrorCode.TOO_MANY_BYTES, f"{len(data)} bytes exceeds the limit of {limits.max_bytes}")
    media_type = sniff_video(data[:4096])
    if media_type is None and is_animated(data):
        media_type = sniff(data[:64])
    if media_type is None:
        raise ItemError(ErrorCode.UNSUPPORTED_TYPE, "not a recognised video format")
    return media_type


def probe(data: bytes, limits: VideoLimits = VideoLimits()) -> VideoInfo:
    """Sniff, read the container header and check every limit that the header
    can answer. Raises ItemError; a header that lies is caught later by the
    decode deadline and the frame cap."""
    media_type = check_bytes(data, limits)
    info = _probe_animated(data, media_type) if media_type in ANIMATED_TYPES else _probe_container(data, media_type)
    check_info(info, limits)
    return info


def check_info(info: VideoInfo, limits: VideoLimits) -> None:
    w, h = info.width, info.height
    if w * h > limits.max_pixels:
        raise ItemError(
            ErrorCode.TOO_MANY_PIXELS, f"{w}x{h} = {w * h} pixels per frame exceeds the limit of {limits.max_pixels}"
        )
    if min(w, h) < limits.min_side:
        raise ItemError(ErrorCode.TOO_SMALL, f"{w}x{h} is below the minimum side of {limits.min_side} px")
    if info.duration is not None and info.duration > limits.max_duration:
        raise ItemError(
            ErrorCode.TOO_LONG, f"duration {info.duration:.1f} s exceeds the limit of {limits.max_duration:g} s"
        )
    if info.frames is not None and info.frames > limits.max_frames:
        raise ItemError(ErrorCode.TOO_MANY_FRAMES, f"{info.frames} frames exceeds the limit of {limits.max_frames}")


def _probe_container(data: bytes, media_type: str) -> VideoInfo:
    import av

    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="replace")
    except (av.FFmpegError, EOFError, ValueError, OSError) as exc:
        if bmff_truncated(data):
            raise ItemError(ErrorCode.TRUNCATED, f"the file ends before its last box (FFmpeg: {exc})") from None
        raise ItemError(_code_for(exc), f"FFmpeg cannot read the container: {exc}") from None
    try:
        if not container.streams.video:
            raise ItemError(ErrorCode.DECODE_ERROR, "the container holds no video stream")
        stream = container.streams.video[0]
        cc = stream.codec_context
        if not cc.width or not cc.height:
            raise ItemError(
                ErrorCode.DECODE_ERROR, "the video stream declares no frame size (truncated or corrupt header)"
            )
        duration = _duration(container, stream)
        fps = float(stream.average_rate) if stream.average_rate else None
        frames = stream.frames or None
        if frames is None and duration is not None and fps:
            frames = int(duration * fps + 0.5)
        tags = {"format": dict(container.metadata), "video": dict(stream.metadata)}
        if container.streams.audio:
            tags["audio"] = dict(container.streams.audio[0].metadata)
        return VideoInfo(
            media_type=media_type,
            container=container.format.name,
            width=cc.width,
            height=cc.height,
            duration=duration,
            fps=fps,
            frames=frames,
            codec=cc.name,
            has_audio=bool(container.streams.audio),
            tags=tags,
        )
    finally:
        container.close()


def _duration(container, stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * Fraction(stream.time_base))
    if container.duration:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return None


def bmff_truncated(data: bytes) -> bool:
    """True if an MP4/MOV's top-level boxes run past the end of the data: the
    upload was cut short, which deserves a clearer error than a decode failure.
    Only ISO-BMFF files (an ``ftyp`` box first) are judged: a WebM or AVI is
    not a box structure, and reading its bytes as box sizes says nothing."""
    if data[4:8] != b"ftyp":
        return False
    pos, n = 0, len(data)
    while pos + 8 <= n:
        size = int.from_bytes(data[pos : pos + 4], "big")
        if size == 1:
            if pos + 16 > n:
                return True
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        elif size == 0:
            return False  # the box runs to the end of the file
        if size < 8:
            return False  # not a box structure we can judge
        pos += size
    return pos > n


def _code_for(exc: Exception) -> ErrorCode:
    if isinstance(exc, EOFError):
        return ErrorCode.TRUNCATED
    text = str(exc).lower()
    if "end of file" in text or "truncat" in text or "moov atom not found" in text:
        return ErrorCode.TRUNCATED
    return ErrorCode.DECODE_ERROR


def _probe_animated(data: bytes, media_type: str) -> VideoInfo:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data), formats=["GIF", "WEBP"]) as im:
            w, h = im.size
            frames = getattr(im, "n_frames", 1)
            info = dict(im.info)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is per-item
        raise ItemError(ErrorCode.DECODE_ERROR, f"cannot read the animation: {exc}") from None
    tags = {
        k: (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))[:4096]
        for k, v in info.items()
        if k in ("comment", "software", "xmp", "title")
    }
    return VideoInfo(
        media_type=media_type,
        container=media_type.split("/")[1],
        width=w,
        height=h,
        duration=None,
        fps=None,
        frames=frames,
        codec=media_type.split("/")[1],
        has_audio=False,
        tags={"format": tags},
    )
