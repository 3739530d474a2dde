"""Benign synthetic videos (moving bars on flat grey) and the sample clips."""

from __future__ import annotations

import io

import av
import numpy as np
from PIL import Image

from shared_data import shared


def synth_video(
    fmt: str = "mp4", *, frames: int = 20, rate: int = 10, size=(64, 48), metadata: dict | None = None
) -> bytes:
    w, h = size
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as c:
        for k, v in (metadata or {}).items():
            c.metadata[k] = v
        s = c.add_stream("mpeg4", rate=rate)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            a = np.full((h, w, 3), (i * 12) % 255, np.uint8)
            x = (i * 3) % (w - 4)
            a[h // 5 : h // 2, x : x + 4] = 255
            for p in s.encode(av.VideoFrame.from_ndarray(a, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return buf.getvalue()


def synth_gif(frames: int = 12, duration_ms: int = 250) -> bytes:
    ims = []
    for i in range(frames):
        a = np.zeros((64, 64), np.uint8)
        a[:, : (i + 1) * 5] = 200
        a[20:40, 20:40] = (i * 20) % 255
        ims.append(Image.fromarray(a).convert("P"))
    buf = io.BytesIO()
    ims[0].save(buf, "GIF", save_all=True, append_images=ims[1:], duration=duration_ms, loop=0)
    return buf.getvalue()


def sample(name: str) -> bytes:
    return shared("fixtures", "vpdq", "videos", f"{name}.mp4").read_bytes()


def expected(name: str) -> list[tuple[int, int, str, float]]:
    rows = []
    for line in shared("fixtures", "vpdq", "expected", f"{name}.txt").read_text().splitlines():
        if line.strip():
            n, q, h, t = line.strip().split(",")
            rows.append((int(n), int(q), h, float(t)))
    return rows
