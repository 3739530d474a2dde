"""Geometric verification: do an upload's keypoints and a banked image's
stored keypoints agree on one placement of the picture?"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tripline.keypoints.features import Keypoints

# Descriptor pairs kept for RANSAC: nearest bank keypoint clearly nearer than
# the second (Lowe's ratio test) and within MAX_DESCRIPTOR_BITS.
_RATIO = 0.8
MAX_DESCRIPTOR_BITS = 64
_REPROJ_PX = 3.0  # working-image pixels
# Unrelated corpus photo pairs agree on at most 5-6 points; true copies on
# dozens (docs/robust-matching.md has the measured margins).
MIN_INLIERS = 15
# A copy is shown between a third and three times the banked scale.
_SCALE_RANGE = (1 / 3, 3.0)
# Crops, frames, banners and resizes leave the picture axis-aligned (at most
# 1.2 degrees off on every true match in the corpus benchmark), or turned by a
# quarter. Two different photos of one subject (the same tiger's face) can
# agree on ~20 points, but tilted (~9 degrees there): not a copy.
MAX_TILT_DEGREES = 2.0


@dataclass(frozen=True)
class Verification:
    inliers: int
    scale: float  # upload size / banked size, in working pixels
    rotation: float  # degrees
    coverage: float  # share of the banked image's area the upload shows
    confirmed: bool
    aligned: bool = False  # scale and tilt are those of a copy, whatever the inliers


def verify(query: Keypoints, bank: Keypoints) -> Verification:
    """Match ``query`` (the upload) to ``bank`` (a banked image's stored
    keypoints) and fit a similarity transform with RANSAC."""
    none = Verification(0, 0.0, 0.0, 0.0, False)
    if len(query) < 3 or len(bank) < 3:
        return none
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(query.descriptors, bank.descriptors, k=2)
    good = [
        p[0]
        for p in pairs
        if len(p) == 2 and p[0].distance <= MAX_DESCRIPTOR_BITS and p[0].distance < _RATIO * p[1].distance
    ]
    # One-to-one: several query keypoints (pyramid levels of one corner, a
    # repeated texture) may pick the same bank keypoint; only the closest
    # counts, or a single spot could out-vote a real layout.
    best: dict[int, cv2.DMatch] = {}
    for m in good:
        if m.trainIdx not in best or m.distance < best[m.trainIdx].distance:
            best[m.trainIdx] = m
    good = list(best.values())
    if len(good) < 3:
        return none
    src = query.points[[m.queryIdx for m in good]]
    dst = bank.points[[m.trainIdx for m in good]]
    model, mask = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=_REPROJ_PX, maxIters=2000, confidence=0.995
    )
    if model is None or mask is None:
        return none
    inliers = int(mask.sum())
    a, b = float(model[0, 0]), float(model[1, 0])
    to_bank = float(np.hypot(a, b))  # bank pixels per upload pixel
    scale = 1 / to_bank if to_bank > 0 else 0.0
    rotation = float(np.degrees(np.arctan2(b, a)))
    coverage = _coverage(model, query.size, bank.size)
    aligned = _SCALE_RANGE[0] <= scale <= _SCALE_RANGE[1] and abs((rotation + 45) % 90 - 45) <= MAX_TILT_DEGREES
    return Verification(
        inliers, round(scale, 3), round(rotation, 1), round(coverage, 3), aligned and inliers >= MIN_INLIERS, aligned
    )


def _coverage(model: np.ndarray, query_size: tuple[int, int], bank_size: tuple[int, int]) -> float:
    """Share of the banked image covered by the upload's frame mapped into it."""
    w, h = query_size
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]]).reshape(-1, 1, 2)
    mapped = cv2.transform(corners, model).reshape(-1, 2)
    bw, bh = bank_size
    frame = np.float32([[0, 0], [bw, 0], [bw, bh], [0, bh]])
    area, _ = cv2.intersectConvexConvex(mapped.astype(np.float32), frame)
    return float(min(1.0, area / (bw * bh))) if bw and bh else 0.0
