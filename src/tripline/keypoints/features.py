"""ORB keypoints of a decoded image, and the inverted-file words of their
descriptors."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

# Both sides are scaled so that the longer side is WORK_SIDE pixels: a banked
# photo and its copy posted at another size then differ in scale only by what
# the edit itself did (a 10% crop: 11%), which ORB's pyramid absorbs.
WORK_SIDE = 512
# A fine pyramid (1.1 rather than ORB's usual 1.2) puts a level within ~5% of
# any scale, so a descriptor of a cropped copy is taken at nearly the banked
# scale: median descriptor distance of true correspondences 18 bits, not 28,
# which is what makes exact-word lookups work (measured on the corpus).
_ORB = dict(scaleFactor=1.1, nlevels=14, edgeThreshold=15, patchSize=31, fastThreshold=12)
QUERY_FEATURES = 500
SPREAD_GRID = 4
# Stored per banked image for verification; the strongest INDEXED_FEATURES of
# them also go into the bank's inverted file.
BANK_FEATURES = 128
INDEXED_FEATURES = 64

# Inverted-file words: table t's word is the low WORD_BITS bits of the t-th
# little-endian 32-bit group of the descriptor, i.e. ORB's first tests, which
# its training picked first for high variance and low correlation. Measured on
# the corpus against 4 random selections of 28 bits: the same recall, half the
# chance postings per query (0.13 per banked image against 0.26), and 70x
# faster to compute, which is what building the inverted file costs. Longer
# words cut chance collisions (with random selections: 0.16 per banked image
# at 28 bits against 0.83 at 20); four tables keep a true correspondence
# likely to share one word.
WORD_BITS = 28
WORD_TABLES = 4
_MASK = np.uint32((1 << WORD_BITS) - 1)


@dataclass(frozen=True)
class Keypoints:
    points: np.ndarray  # (n, 2) float32, x/y in working-image pixels
    descriptors: np.ndarray  # (n, 32) uint8, ORB
    size: tuple[int, int]  # working-image width, height

    def __len__(self) -> int:
        return len(self.points)

    def top(self, k: int) -> Keypoints:
        return Keypoints(self.points[:k], self.descriptors[:k], self.size)

    def spread(self, k: int, grid: int = SPREAD_GRID) -> Keypoints:
        """``k`` keypoints taken round-robin over a grid x grid split of the
        image, strongest first in each cell: what a bank keeps. The strongest
        points of a photo often crowd one side; a crop of that side would
        leave too few of them (kodim03 cut 8% from the left: 11-13 of the
        strongest 128, 65+ of these), and the first INDEXED_FEATURES are
        spread too."""
        if len(self) <= k:
            return self
        w, h = self.size
        cx = np.minimum((self.points[:, 0] * grid // max(w, 1)).astype(np.int64), grid - 1)
        cy = np.minimum((self.points[:, 1] * grid // max(h, 1)).astype(np.int64), grid - 1)
        cell = cx * grid + cy
        # Rank of each point within its cell (points are strongest first).
        order = np.argsort(cell, kind="stable")
        starts = np.searchsorted(cell[order], np.arange(grid * grid))
        rank = np.empty(len(self), np.int64)
        rank[order] = np.arange(len(self)) - starts[cell[order]]
        pick = np.lexsort((np.arange(len(self)), rank))[:k]
        return Keypoints(self.points[pick], self.descriptors[pick], self.size)


def _gray(im: Image.Image) -> np.ndarray:
    g = np.asarray(im.convert("L"))
    scale = WORK_SIDE / max(g.shape)
    if scale < 1:
        w, h = max(1, round(g.shape[1] * scale)), max(1, round(g.shape[0] * scale))
        g = cv2.resize(g, (w, h), interpolation=cv2.INTER_AREA)
    elif scale > 1:
        w, h = max(1, round(g.shape[1] * scale)), max(1, round(g.shape[0] * scale))
        g = cv2.resize(g, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(g)


def extract(im: Image.Image, n: int = QUERY_FEATURES) -> Keypoints:
    """The ``n`` strongest ORB keypoints, strongest first (a bank keeps
    ``spread(BANK_FEATURES)`` of them). Flat or tiny images give few or none."""
    g = _gray(im)
    orb = cv2.ORB_create(nfeatures=n, **_ORB)
    kps, desc = orb.detectAndCompute(g, None)
    size = (g.shape[1], g.shape[0])
    if desc is None or not kps:
        return Keypoints(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8), size)
    order = np.argsort([-k.response for k in kps], kind="stable")
    pts = np.asarray([kps[i].pt for i in order], dtype=np.float32)
    return Keypoints(pts, np.ascontiguousarray(desc[order]), size)


def words(descriptors: np.ndarray) -> np.ndarray:
    """(n, WORD_TABLES) int64 words; table t's words are offset by t << WORD_BITS
    so that one inverted file holds every table."""
    if len(descriptors) == 0:
        return np.zeros((0, WORD_TABLES), dtype=np.int64)
    groups = np.ascontiguousarray(descriptors, dtype=np.uint8).view("<u4")
    out = (groups[:, :WORD_TABLES] & _MASK).astype(np.int64)
    out += np.arange(WORD_TABLES, dtype=np.int64) << WORD_BITS
    return out
