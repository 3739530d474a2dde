"""The human review queue: items the policy flagged, claims with expiring
locks, decisions, and the reviewer exposure budget."""

from tripline.review.exposure import Budget, Exposure, ExposureStatus
from tripline.review.queue import (
    CLASSIFICATIONS,
    ClaimConflict,
    ItemNotFound,
    ReviewQueue,
    queue_for_decision,
)

__all__ = [
    "CLASSIFICATIONS",
    "Budget",
    "ClaimConflict",
    "Exposure",
    "ExposureStatus",
    "ItemNotFound",
    "ReviewQueue",
    "queue_for_decision",
]
