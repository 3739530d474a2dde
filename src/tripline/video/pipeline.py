"""What a scan worker does with one video: check it, hash it (MD5, SHA-256,
vPDQ), read its provenance and make the review thumbnails. Plain data in,
plain data out; a bad video becomes a per-item error, never an exception."""

from __future__ import annotations

from dataclasses import dataclass, field

from tripline.hashing import digests
from tripline.model import ErrorCode, ItemError
from tripline.video.hashing import Frame, hash_animation, hash_container
from tripline.video.intake import ANIMATED_TYPES, VideoInfo, bmff_truncated, probe
from tripline.video.limits import VideoLimits
from tripline.video.matching import DEFAULT_QUALITY_MIN, usable_positions
from tripline.video.thumbs import animation_thumbnails, container_thumbnails, pick_times


@dataclass(frozen=True)
class VideoOptions:
    limits: VideoLimits = field(default_factory=VideoLimits)
    # Meta's production rate; 0 hashes every frame (the conformance mode).
    seconds_per_hash: float = 1.0
    provenance: bool = True
    thumbnails: bool = True
    # vpdq's own hashing threads; scan workers already run one item per core.
    threads: int = 1


def video_options(options) -> VideoOptions:
    """VideoOptions from whatever the caller has: VideoOptions itself, or a
    scan.ScanOptions (whose ``video`` field wins if it has one; otherwise its
    ``provenance`` flag and byte limit carry over)."""
    if isinstance(options, VideoOptions):
        return options
    if options is None:
        return VideoOptions()
    nested = getattr(options, "video", None)
    if isinstance(nested, VideoOptions):
        return nested
    limits = getattr(options, "limits", None)
    max_bytes = getattr(limits, "max_bytes", VideoLimits.max_bytes)
    return VideoOptions(limits=VideoLimits(max_bytes=max_bytes), provenance=bool(getattr(options, "provenance", True)))


def hash_video(
    data: bytes,
    *,
    seconds_per_hash: float = 1.0,
    limits: VideoLimits = VideoLimits(),
    threads: int = 1,
    info: VideoInfo | None = None,
) -> list[Frame]:
    """vPDQ frames of a video or animated image (raises ItemError)."""
    info = info or probe(data, limits)
    if info.media_type in ANIMATED_TYPES:
        return hash_animation(data, seconds_per_hash=seconds_per_hash, limits=limits)
    return hash_container(data, seconds_per_hash=seconds_per_hash, limits=limits, threads=threads)


def process_video_item(data: bytes, options=None) -> tuple[dict, list[bytes]]:
    """The item's record (without key/path/matches: the caller owns those)
    and its blurred grayscale frame thumbnails, in ``record["thumbs"]`` order."""
    opts = video_options(options)
    record: dict = {"size": len(data), **digests(data)} if data else {"size": 0}
    try:
        info = probe(data, opts.limits)
        record.update(
            media_type=info.media_type,
            width=info.width,
            height=info.height,
            duration=_round(info.duration),
            frames=info.frames,
            video=info.to_dict(),
        )
        frames = hash_video(
            data, seconds_per_hash=opts.seconds_per_hash, limits=opts.limits, threads=opts.threads, info=info
        )
    except ItemError as exc:
        record["error"] = exc.to_dict()
        return record, []
    except Exception as exc:  # noqa: BLE001 - a decoder bug must stay a per-item error
        record["error"] = ItemError(ErrorCode.DECODE_ERROR, f"{type(exc).__name__}: {exc}").to_dict()
        return record, []
    if info.media_type in ("video/mp4", "video/quicktime") and bmff_truncated(data):
        # FFmpeg decodes what is there; the hashes then cover only part of the video.
        record["warnings"] = ["truncated: the file ends before its last box; hashes cover the decodable part"]
    if record.get("duration") is None and frames:
        record["duration"] = _round(frames[-1].timestamp)
    record["vpdq"] = {
        "seconds_per_hash": opts.seconds_per_hash,
        "count": len(frames),
        "usable": len(usable_positions(frames, DEFAULT_QUALITY_MIN)),
        "frames": [[f.pdq, f.quality, f.timestamp] for f in frames],
    }
    if opts.provenance:
        record["provenance"] = _provenance(data, info)
    thumbs: list[bytes] = []
    if opts.thumbnails:
        times = pick_times([f.timestamp for f in frames])
        if info.media_type in ANIMATED_TYPES:
            by_time = {f.timestamp: f.frame_number for f in frames}
            got = animation_thumbnails(data, [(t, by_time[t]) for t in times])
        else:
            got = container_thumbnails(data, times)
        record["thumbs"] = [{"t": t} for t, _ in got]
        thumbs = [b for _, b in got]
    return record, thumbs


def _provenance(data: bytes, info: VideoInfo) -> dict:
    from tripline.video.provenance import read_video_provenance

    try:
        return read_video_provenance(data, info)
    except Exception as exc:  # noqa: BLE001 - provenance must never fail the item's hashes
        return {"errors": [{"source": "provenance", "message": f"{type(exc).__name__}: {exc}"}]}


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 3)
