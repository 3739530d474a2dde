"""Per-video hard limits. A video costs decode time in proportion to its
pixels times its frames, so both are capped before hashing starts, and the
decode itself runs in a child process that is killed at ``max_decode_seconds``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VideoLimits:
    max_bytes: int = 200 * 1024 * 1024
    # Thirty minutes: longer uploads are rare enough to route to a batch
    # queue with its own limits rather than block a scan worker.
    max_duration: float = 30 * 60.0
    # 4K UHD plus headroom; 8K frames quadruple decode cost for no gain in
    # PDQ, which sees 64x64.
    max_pixels: int = 4096 * 2304
    # Decoded frames, i.e. duration x frame rate: 30 minutes at 60 fps.
    max_frames: int = 108_000
    max_decode_seconds: float = 300.0
    # Address space of the decoding child: FFmpeg's frame pools for one 4K
    # stream fit comfortably; a stream that asks for more is hostile.
    max_decoder_memory: int = 4 * 1024**3
    # Below this PDQ has nothing to work with (same as the image limit).
    min_side: int = 8
