"""Border and banner detection on luma.

Both detectors work on a working copy at most ``WORK_SIDE`` pixels on its
longer side and return boxes in the input image's pixel coordinates.

* Borders (letterbox, padding, screenshot frames): rows/columns at an edge that
  are uniform (low spread, same level as the edge) are trimmed side by side.
  Blurred fill (the picture enlarged and blurred behind itself) is smooth rather
  than uniform; smooth edges are trimmed only when the opposite edge is smooth
  too, since a clear sky at one edge is smooth as well.
* Banners (caption strips): a strip at the top or bottom whose rows are mostly
  one flat colour, text included, ending in a sharp edge into the picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

WORK_SIDE = 512
MIN_SIDE_FRAC = 0.01  # ignore strips thinner than this share of the side
MAX_TRIM_FRAC = 0.45  # never trim more than this share from one side
UNIFORM_STD = 6.0  # luma spread inside a uniform border row
UNIFORM_LEVEL = 12.0  # and its distance from the edge's level
FRAME_SMOOTH = 6.0  # mean step between blurred-fill rows, at most (levels per work pixel)
FRAME_EDGE = 2.0  # mean step across a pasted picture's edge, at least
FRAME_RATIO = 3.0  # and this many times the largest step inside the fill
BANNER_MIN, BANNER_MAX = 0.06, 0.34
BANNER_FLAT = 0.55  # share of a banner row's pixels at the banner's level
BANNER_TOL = 20.0
BANNER_INK_CONTRAST = 80.0
BANNER_INK_MIN, BANNER_INK_MAX = 0.005, 0.4
BORDER_DARK, BORDER_LIGHT = 24.0, 232.0  # a one-sided flat edge counts as a border only at these levels


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.left, self.top, self.right, self.bottom)


def _luma(im: Image.Image) -> tuple[np.ndarray, float, float]:
    """Working luma array and the scale factors back to the image (x, y)."""
    g = im.convert("L") if im.mode != "L" else im
    if max(g.size) > WORK_SIDE:
        f = max(g.size) / WORK_SIDE
        g = g.resize((max(1, round(g.width / f)), max(1, round(g.height / f))), Image.Resampling.BOX)
    arr = np.asarray(g, dtype=np.float32)
    return arr, im.width / arr.shape[1], im.height / arr.shape[0]


def _edge_run(rows: np.ndarray, limit: int) -> tuple[int, int, float, np.ndarray]:
    """(uniform, framed) run lengths of rows from index 0 inward.

    ``rows`` is (n, len): row 0 is the outermost. ``framed`` is where a
    straight edge runs parallel to this side after a smooth stretch (a picture
    pasted onto a blurred copy of itself); 0 if there is none."""
    n = min(len(rows) - 1, limit)
    if n <= 2:
        return 0, 0, 0.0, np.zeros(0)
    level = float(np.median(rows[0]))
    std = rows[:n].std(axis=1)
    mean = rows[:n].mean(axis=1)
    flat = std <= UNIFORM_STD
    u, seg_level = 0, level
    # Up to three flat segments, each starting with a clear jump in level (a
    # title bar, then a window's frame); a slow change (sky) ends the border.
    for _ in range(3):
        while u < n and flat[u] and abs(mean[u] - seg_level) <= UNIFORM_LEVEL:
            u += 1
        if u >= n or not flat[u] or abs(mean[u] - seg_level) <= 2 * UNIFORM_LEVEL:
            break
        seg_level = float(mean[u])
    # Mean step across each row boundary: low over blurred fill, a jump at
    # the pasted picture's straight edge.
    step = np.abs(np.diff(rows[: n + 1], axis=0)).mean(axis=1)
    f = 0
    inside = 0.0
    for r in range(2, n):
        inside = max(inside, float(step[r - 1]))
        if inside > FRAME_SMOOTH:
            break
        if step[r] >= FRAME_EDGE and step[r] >= FRAME_RATIO * max(inside, 0.5):
            f = r + 1
            break
    return u, f, level, step


def find_content_box(im: Image.Image) -> Box | None:
    """The picture inside uniform or blurred borders, or None if there are none.

    Peels up to three times: a screenshot's side frame hides its title bar
    from the first pass, since the bar crosses the side columns."""
    box = None
    for _ in range(3):
        sub = _content_box_once(im if box is None else im.crop(box.as_tuple()))
        if sub is None:
            break
        box = (
            sub
            if box is None
            else Box(box.left + sub.left, box.top + sub.top, box.left + sub.right, box.top + sub.bottom)
        )
    return box


def _content_box_once(im: Image.Image) -> Box | None:
    a, fx, fy = _luma(im)
    h, w = a.shape
    if h < 16 or w < 16:
        return None
    sides = {
        "top": (a, int(h * MAX_TRIM_FRAC)),
        "bottom": (a[::-1], int(h * MAX_TRIM_FRAC)),
        "left": (a.T, int(w * MAX_TRIM_FRAC)),
        "right": (a.T[::-1], int(w * MAX_TRIM_FRAC)),
    }
    runs = {k: _edge_run(rows, lim) for k, (rows, lim) in sides.items()}
    dim = {"top": h, "bottom": h, "left": w, "right": w}
    opposite = {"top": "bottom", "bottom": "top", "left": "right", "right": "left"}
    least = {k: max(2, MIN_SIDE_FRAC * dim[k]) for k in dim}
    n_uniform = sum(runs[k][0] >= least[k] for k in runs)
    trim = {}
    for k, (u, f, level, _) in runs.items():
        uo, fo, _, _ = runs[opposite[k]]
        # A flat edge is a border when black or white (letterbox, padding), or
        # when the opposite edge is flat too or three edges are flat (a frame,
        # a screenshot); a grey or blue flat edge alone is more likely sky or
        # a wall.
        framed = uo >= least[k] or n_uniform >= 3
        t = u if (level <= BORDER_DARK or level >= BORDER_LIGHT or framed) else 0
        # Blurred fill only as a frame: the opposite side framed at a similar depth.
        if f > u and fo and abs(f - fo) <= 0.02 * dim[k] + 0.2 * max(f, fo):
            t = f
        trim[k] = t if t >= least[k] else 0
    # A blurred frame whose edge is faint on one side (sky against blurred
    # sky): with the other three edges found, look for the fourth's edge at
    # the depth of its opposite one (a centred frame).
    for k, size in dim.items():
        o = opposite[k]
        perp = [p for p in dim if p not in (k, o)]
        blurred = runs[o][0] < runs[o][1] == trim[o]  # the opposite side is a blurred-fill frame
        if trim[k] or not blurred or not all(trim[p] and trim[p] == runs[p][1] for p in perp):
            continue
        step = runs[k][3]
        d = runs[o][1]
        lo, hi = max(2, d - 1 - int(0.03 * size)), min(len(step), d + int(0.03 * size))
        if hi - lo < 2:
            continue
        r = lo + int(np.argmax(step[lo:hi]))
        inside = float(np.median(step[: max(1, r - 2)]))
        after = float(np.median(step[r + 1 : r + 11])) if r + 2 < len(step) else 0.0
        if step[r] >= 0.5 * FRAME_EDGE and step[r] >= 2 * max(inside, 0.5) and step[r] >= 1.5 * after:
            trim[k] = r + 1
    if not any(trim.values()):
        return None
    box = Box(
        round(trim["left"] * fx),
        round(trim["top"] * fy),
        im.width - round(trim["right"] * fx),
        im.height - round(trim["bottom"] * fy),
    )
    if fx > 1 or fy > 1:
        # Only uniform borders have a level to refine against; a blurred fill
        # keeps the working-copy edge.
        uniform = {k for k in trim if trim[k] and trim[k] == runs[k][0]}
        box = _refine(im, box, uniform, fx, fy)
    if box.width < 16 or box.height < 16:
        return None
    return box


def _refine(im: Image.Image, box: Box, sides: set[str], fx: float, fy: float) -> Box:
    """Move each trimmed edge to the exact full-resolution line where the
    border ends: the working copy is downscaled, so its edge is only good to
    one working pixel (a mixed border/picture column reads as picture)."""
    full = np.asarray(im.convert("L") if im.mode != "L" else im, dtype=np.float32)
    h, w = full.shape
    lines = {"top": full, "bottom": full[::-1], "left": full.T, "right": full.T[::-1]}
    pos = {"top": box.top, "bottom": h - box.bottom, "left": box.left, "right": w - box.right}
    out = dict(pos)
    for side, rows in lines.items():
        if side not in sides:
            continue
        reach = int(np.ceil(fx if side in ("left", "right") else fy)) + 1
        lo, hi = max(1, pos[side] - reach), min(len(rows) - 1, pos[side] + reach)
        level = float(np.median(rows[0]))
        # Deviation of each candidate line from the border's own level: the
        # first line clearly off it is the picture's first line.
        dev = np.abs(rows[lo : hi + 1] - level).mean(axis=1)
        off = np.flatnonzero(dev > 2 * UNIFORM_STD)
        if len(off):
            out[side] = lo + int(off[0])
    return Box(out["left"], out["top"], w - out["right"], h - out["bottom"])


def find_banner(im: Image.Image) -> tuple[str, int] | None:
    """("top" | "bottom", banner height in image pixels) of a caption strip, or None."""
    a, _, fy = _luma(im)
    h, w = a.shape
    if h < 32 or w < 16:
        return None
    best = None
    for side, rows in (("bottom", a[::-1]), ("top", a)):
        lim = int(h * BANNER_MAX) + 1
        edge = rows[: max(2, h // 100)]
        level = float(np.median(edge))
        if np.abs(edge - level).mean() > UNIFORM_STD:  # the edge itself must be flat
            continue
        flat = (np.abs(rows[:lim] - level) <= BANNER_TOL).mean(axis=1)
        # The strip's last margin row: nearly all flat, with the rows before
        # it mostly flat too (text rows are only partly covered by glyphs).
        mostly = np.cumsum(flat >= BANNER_FLAT) / np.arange(1, lim + 1)
        ok = np.flatnonzero((flat >= 0.9) & (mostly >= 0.7))
        if not len(ok):
            continue
        end = int(ok[-1]) + 1
        if end < BANNER_MIN * h or end + 3 > len(rows):
            continue
        # A banner ends in an edge: the picture's first rows differ clearly.
        if np.abs(rows[end : end + 3] - level).mean() < 2 * UNIFORM_STD:
            continue
        # A caption carries text: high-contrast marks, few, and set inside the
        # strip rather than at its inner edge (a sky above a skyline has its
        # contrast at the edge).
        ink = np.abs(rows[:end] - level) >= BANNER_INK_CONTRAST
        share = ink.mean()
        if not BANNER_INK_MIN <= share <= BANNER_INK_MAX:
            continue
        per_row = ink.sum(axis=1)
        lo, hi = int(0.1 * end), int(np.ceil(0.9 * end))
        if per_row[lo:hi].sum() < 0.8 * per_row.sum():
            continue
        height = round(end * fy)
        if best is None or height > best[1]:
            best = (side, height)
    return best
