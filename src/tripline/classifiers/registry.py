"""Classifier types by name. ``classifier_factory`` is the one lookup every
caller uses (the stage, ``tripline policy check``), so a plug-in registry
only has to be consulted here."""

from __future__ import annotations

from collections.abc import Callable

from tripline.classifiers.base import Classifier, ClassifierConfigError
from tripline.classifiers.config import ClassifierSpec


def _onnx(spec: ClassifierSpec, runtime) -> Classifier:
    from tripline.classifiers.onnx import OnnxClassifier

    return OnnxClassifier(spec, runtime)


def _remote(spec: ClassifierSpec, runtime) -> Classifier:
    from tripline.classifiers.remote import RemoteClassifier

    return RemoteClassifier(spec, runtime)


BUILTIN_CLASSIFIER_TYPES: dict[str, Callable[[ClassifierSpec, object], Classifier]] = {
    "onnx": _onnx,
    "google-content-safety": _remote,
    "safer": _remote,
    "hive": _remote,
    "http": _remote,
}


def classifier_types() -> dict[str, Callable[[ClassifierSpec, object], Classifier]]:
    """Every classifier type by name: the built-ins and those plug-ins add
    (``tripline.plugins``; the built-ins register through it too)."""
    from tripline.plugins import registry

    return {**BUILTIN_CLASSIFIER_TYPES, **registry().classifiers}


def classifier_factory(type_name: str) -> Callable[[ClassifierSpec, object], Classifier]:
    types = classifier_types()
    try:
        return types[type_name]
    except KeyError:
        raise LookupError(f"unknown classifier type {type_name!r}; types: {', '.join(sorted(types))}") from None


def open_classifier(spec: ClassifierSpec, runtime) -> Classifier:
    try:
        factory = classifier_factory(spec.type)
    except LookupError as exc:
        raise ClassifierConfigError(spec.name, str(exc)) from None
    return factory(spec, runtime)
