"""Video: intake and limits, vPDQ hashing, match semantics, provenance tags
and review thumbnails. See docs/video.md.

>>> record, thumbs = process_video_item(data, VideoOptions())
>>> found = match_video([record], banks)          # tripline.banks.video
"""

from tripline.video.hashing import Frame, from_te_signal, to_te_signal
from tripline.video.intake import VideoInfo, is_animated, is_video, probe, sniff_video
from tripline.video.limits import VideoLimits
from tripline.video.matching import VideoMatchConfig, compare
from tripline.video.pipeline import (
    VideoOptions,
    hash_video,
    process_video_item,
    video_options,
)
from tripline.video.provenance import container_tags, read_video_provenance
from tripline.video.thumbs import frame_grid, marked_thumbs, review_grid

__all__ = [
    "Frame",
    "VideoBanks",
    "VideoInfo",
    "VideoLimits",
    "VideoMatchConfig",
    "VideoOptions",
    "combine",
    "compare",
    "container_tags",
    "frame_grid",
    "from_te_signal",
    "hash_video",
    "is_animated",
    "is_video",
    "marked_thumbs",
    "review_grid",
    "match_video",
    "probe",
    "process_video_item",
    "read_video_provenance",
    "sniff_video",
    "to_te_signal",
    "video_options",
]


def __getattr__(name):
    # tripline.banks.video imports this package's modules; importing it
    # eagerly here would be circular.
    if name in ("match_video", "combine", "VideoBanks", "VideoMatcher"):
        from tripline.banks import video

        return getattr(video, name)
    raise AttributeError(name)
