"""Classifier plug-ins: the operator's models and services for content no
hash list holds yet (docs/classifiers.md)."""

from tripline.classifiers.base import (
    Classifier,
    ClassifierConfigError,
    ClassifierError,
    ClassifierInput,
    Outcome,
    Scores,
)
from tripline.classifiers.config import ClassifierSpec

__all__ = [
    "Classifier",
    "ClassifierConfigError",
    "ClassifierError",
    "ClassifierInput",
    "ClassifierSpec",
    "Outcome",
    "Scores",
]
