"""Keypoint fingerprints: the crop-tolerant second descriptor.

PDQ is a global hash: moving one edge of the picture by 1-2% already costs
~20-40 bits (measured, docs/robust-matching.md), so a copy cropped off-centre
or framed with a thin blurred fill cannot be found by any fixed set of PDQ
crops. Local features survive those edits: the points that remain inside the
upload keep their appearance and their layout. Tripline uses OpenCV's ORB
(a maintained library, no model download) in three steps, all pure functions
of pixels and arrays:

* ``extract``: ORB keypoints on the image scaled to a fixed working size.
* ``words``: short sub-strings of each descriptor, the keys of a bank's
  inverted file (see tripline.banks.keypoints), which proposes candidates.
* ``verify``: the candidate's stored keypoints are matched with the upload's
  and must agree on one similarity transform (RANSAC); the transform says
  which part of the banked image the upload shows.
"""

from tripline.keypoints.features import (
    BANK_FEATURES,
    INDEXED_FEATURES,
    WORK_SIDE,
    Keypoints,
    extract,
    words,
)
from tripline.keypoints.verify import MIN_INLIERS, Verification, verify

__all__ = [
    "BANK_FEATURES",
    "INDEXED_FEATURES",
    "MIN_INLIERS",
    "WORK_SIDE",
    "Keypoints",
    "Verification",
    "extract",
    "verify",
    "words",
]
