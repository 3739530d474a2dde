"""Hard per-item limits. Every decode runs under them so that one hostile file
costs a bounded amount of memory and time and then becomes a per-item error."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass

from tripline.model import ErrorCode, ItemError


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 200 * 1024 * 1024
    # 100 MP covers 108 MP phone sensors' binned output and every common
    # camera; a decompression bomb declares far more than this in its header.
    max_pixels: int = 100_000_000
    # Longest side. OpenCV (keypoints, normalisation) refuses images over
    # 32767 px a side, and a 8 x 12,500,000 strip is a memory attack (each
    # stage's working copy is the whole strip), not a photo.
    max_side: int = 32_767
    max_frames: int = 2_000
    max_seconds: float = 30.0
    # PDQ's 64x64 downsampling has nothing to work with below this.
    min_side: int = 8


_active = False


class _Expired(BaseException):
    """Raised from the alarm handler. A BaseException, so that library code's
    broad `except Exception` cannot swallow it on the way out."""


@contextmanager
def deadline(seconds: float, what: str = "item"):
    """Raise ItemError(TIMEOUT) if the block runs longer than ``seconds``.

    SIGALRM interrupts Pillow between decoder chunks, which is where a slow
    hostile image spends its time. Signals only reach the main thread, so
    elsewhere (threads of a server) this is a no-op and the caller's process
    isolation is the backstop.
    """
    global _active
    # An enclosing deadline already governs (hash_bytes wraps decode_image):
    # re-arming the one process-wide timer here would cancel it on exit.
    if _active or seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return
    _active = True

    def _expired(signum, frame):
        raise _Expired

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _Expired:
        raise ItemError(ErrorCode.TIMEOUT, f"{what} took longer than {seconds:g} s") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        _active = False
