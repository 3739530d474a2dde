"""The classifier seam: what every classifier takes and returns.

A classifier is the operator's model or service, never Tripline's own: it
receives the decoded image (and, if it wants them, the file's bytes and the
upload's context) and answers labelled scores. Tripline ships no abuse
classifier; it only calls what the operator configured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from PIL import Image


class ClassifierConfigError(ValueError):
    """A configured classifier cannot be built: bad model file, bad settings."""

    def __init__(self, name: str, message: str):
        super().__init__(f"classifier {name!r}: {message}")
        self.name = name


class ClassifierError(RuntimeError):
    """One call failed (timeout, HTTP error, malformed answer, open breaker).

    ``code`` is short and stable, for the per-item error in the record."""

    def __init__(self, code: str, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.code, self.retryable = code, retryable


@dataclass
class ClassifierInput:
    key: str
    image: Image.Image | None  # decoded RGB; may be reduced (see prepare.py)
    data: bytes | None = None  # the file's bytes, only when a remote classifier wants them
    sha256: str = ""
    context: dict = field(default_factory=dict)


@dataclass
class Scores:
    labels: dict[str, float]
    model: str
    ms: float

    def to_dict(self) -> dict:
        return {
            "labels": {k: round(float(v), 6) for k, v in sorted(self.labels.items())},
            "model": self.model,
            "ms": round(self.ms, 3),
        }


Outcome = Scores | ClassifierError


@runtime_checkable
class Classifier(Protocol):
    name: str
    model: str  # model/version string written into every record
    wants_bytes: bool  # remote classifiers send the file itself
    input_size: int | None  # longest side the worker must keep for this classifier, None: any

    def classify(self, batch: Sequence[ClassifierInput]) -> list[Outcome]:
        """One outcome per input, in order. Never raises for one bad item."""
        ...

    def close(self) -> None: ...


Factory = Any  # callable(spec: ClassifierSpec, runtime: Runtime) -> Classifier
