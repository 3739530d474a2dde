"""Plain data shared by every stage: per-item error codes and the item error.

Every stage takes plain data and returns plain data; a failure on one item is
an ``ItemError`` carrying a stable machine-readable code, so a batch records it
and carries on instead of crashing.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    EMPTY = "empty"  # zero-byte input
    UNSUPPORTED_TYPE = "unsupported_type"  # magic bytes match no supported format
    TRUNCATED = "truncated"  # data ends before the image does
    DECODE_ERROR = "decode_error"  # the decoder rejected the data
    TOO_MANY_BYTES = "too_many_bytes"  # over Limits.max_bytes
    TOO_MANY_PIXELS = "too_many_pixels"  # over Limits.max_pixels (decompression bomb)
    TOO_MANY_FRAMES = "too_many_frames"  # animation over Limits.max_frames
    TOO_LONG = "too_long"  # video over its duration limit
    TOO_SMALL = "too_small"  # under Limits.min_side: nothing to hash perceptually
    TIMEOUT = "timeout"  # over Limits.max_seconds
    READ_ERROR = "read_error"  # the file or archive member could not be read
    ARCHIVE_UNSAFE = "archive_unsafe"  # member path escapes the archive, or is a link/device
    ARCHIVE_LIMIT = "archive_limit"  # archive bomb: too many members, bytes, ratio or nesting
    WORKER_CRASHED = "worker_crashed"  # the worker process died on this item


class ItemError(Exception):
    """A failure confined to one item. ``code`` is stable; ``message`` is for humans."""

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(f"{code}: {message}")
        self.code = ErrorCode(code)
        self.message = message

    def __reduce__(self):
        # Exception pickling replays ``args`` (the one formatted string), which
        # does not fit this signature; workers send these across processes.
        return (type(self), (str(self.code), self.message))

    def to_dict(self) -> dict:
        return {"code": str(self.code), "message": self.message}
