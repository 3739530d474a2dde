"""Review thumbnails of a video: a few frames, each small, heavily blurred
and grayscale (the same treatment as image thumbnails), with the timestamp
each was taken at so a report can mark the frames inside matched segments."""

from __future__ import annotations

import io
from collections.abc import Sequence
from fractions import Fraction

from PIL import Image, ImageDraw, ImageOps

from tripline.media.limits import deadline
from tripline.media.thumbnail import THUMB_SIDE, safe_thumbnail

MAX_THUMBS = 16


def pick_times(timestamps: Sequence[float], n: int = MAX_THUMBS) -> list[float]:
    """Up to ``n`` of the hashed frames' timestamps, evenly spread."""
    ts = sorted(set(timestamps))
    if len(ts) <= n:
        return ts
    return [ts[round(i * (len(ts) - 1) / (n - 1))] for i in range(n)]


def container_thumbnails(data: bytes, times: Sequence[float], max_seconds: float = 30.0) -> list[tuple[float, bytes]]:
    """Blurred grayscale thumbnails at ``times`` (seconds), by seeking. Frames
    that cannot be reached are skipped: thumbnails never fail an item."""
    import av

    out: list[tuple[float, bytes]] = []
    try:
        with deadline(max_seconds, "thumbnails"), av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            tb = Fraction(stream.time_base)
            start = stream.start_time or 0
            for t in times:
                container.seek(start + int(t / tb), stream=stream, backward=True)
                for frame in container.decode(stream):
                    ft = float((frame.pts - start) * tb) if frame.pts is not None else t
                    if ft + 1e-3 >= t:
                        out.append((t, safe_thumbnail(frame.to_image())))
                        break
    except Exception:  # noqa: BLE001 - see docstring (includes the deadline's ItemError)
        pass
    return out


def animation_thumbnails(data: bytes, frame_numbers: Sequence[tuple[float, int]]) -> list[tuple[float, bytes]]:
    out: list[tuple[float, bytes]] = []
    try:
        with Image.open(io.BytesIO(data), formats=["GIF", "WEBP"]) as im:
            for t, n in frame_numbers:
                im.seek(n)
                out.append((t, safe_thumbnail(im.convert("RGB"))))
    except Exception:  # noqa: BLE001 - thumbnails never fail an item
        pass
    return out


def marked_thumbs(thumb_times: Sequence[float], match_dicts: Sequence[dict], tolerance: float = 0.5) -> list[int]:
    """Indexes of the thumbnails that fall inside a matched segment."""
    spans = [(s["start"] - tolerance, s["end"] + tolerance) for m in match_dicts for s in (m.get("segments") or ())]
    return [i for i, t in enumerate(thumb_times) if any(a <= t <= b for a, b in spans)]


def frame_grid(thumbs: Sequence[bytes], marked: Sequence[int] = (), columns: int = 4) -> bytes:
    """The thumbnails as one JPEG grid; marked (matched) frames get a white
    frame, the others a dark one. Pixels stay the blurred grayscale ones."""
    if not thumbs:
        raise ValueError("no thumbnails")
    ims = [Image.open(io.BytesIO(t)).convert("L") for t in thumbs]
    cell = THUMB_SIDE + 8
    rows = (len(ims) + columns - 1) // columns
    grid = Image.new("L", (cell * min(columns, len(ims)), cell * rows), 32)
    draw = ImageDraw.Draw(grid)
    marked = set(marked)
    for i, im in enumerate(ims):
        x, y = (i % columns) * cell, (i // columns) * cell
        grid.paste(ImageOps.pad(im, (THUMB_SIDE, THUMB_SIDE), color=0), (x + 4, y + 4))
        draw.rectangle([x + 1, y + 1, x + cell - 2, y + cell - 2], outline=255 if i in marked else 64, width=3)
    buf = io.BytesIO()
    grid.save(buf, "JPEG", quality=70)
    return buf.getvalue()


def review_grid(record: dict, thumbs: Sequence[bytes]) -> bytes | None:
    """The one picture a reviewer first sees of a matched video: its frame
    thumbnails as a grid, the frames inside matched segments outlined."""
    if not thumbs:
        return None
    times = [t["t"] for t in record.get("thumbs", [])]
    return frame_grid(thumbs, marked_thumbs(times, record.get("matches") or []))
