"""``[classifiers.NAME]`` tables of a policy file, validated at load.

Pure: reads the ONNX model file only to hash it into the policy's SHA-256,
so a decision names exactly which model weights took part in it. Building
the classifier (loading the model, finding its credential) is
``registry.open_classifier``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class SpecError(ValueError):
    """A bad [classifiers.NAME] table; the policy loader re-raises it located."""

    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.field = field


TYPES = ("onnx", "google-content-safety", "safer", "hive", "http")
REMOTE_TYPES = TYPES[1:]
# Which uploads a classifier sees: "unmatched" (no bank matched), and
# "text_flagged" (a text rule hit the post); several means all must hold.
ELIGIBILITY = ("unmatched", "text_flagged")

_COMMON = {"type", "eligible", "sample", "batch"}
_REMOTE = {
    "credential",
    "url",
    "allow_private",
    "timeout",
    "retries",
    "rate",
    "daily_budget",
    "breaker_failures",
    "breaker_reset_seconds",
}
_KEYS = {
    "onnx": _COMMON | {"model", "size", "labels"},
    "google-content-safety": _COMMON | _REMOTE,
    "safer": _COMMON | _REMOTE,
    "hive": _COMMON | _REMOTE,
    "http": _COMMON | _REMOTE | {"labels"},
}
# Vendors' documented endpoints; "safer" has no public one (operators get
# theirs from Thorn) and "http" is the operator's own service.
DEFAULT_URLS = {
    "google-content-safety": "https://contentsafety.googleapis.com/v1beta1/images:classify",
    "hive": "https://api.thehive.ai/api/v2/task/sync",
}


@dataclass(frozen=True)
class ClassifierSpec:
    name: str
    type: str
    eligible: tuple[str, ...] = ()
    sample: float = 1.0
    batch: int = 16
    # onnx
    model_path: Path | None = None
    model_sha256: str | None = None
    size: int | None = None
    labels: tuple[str, ...] = ()
    # remote
    credential: str | None = None
    url: str | None = None
    allow_private: bool = False
    timeout: float = 10.0
    retries: int = 2
    rate: float | None = None  # calls per second, per process
    daily_budget: int | None = None  # calls per UTC day, across all instances (database)
    breaker_failures: int = 5
    breaker_reset_seconds: float = 60.0
    # A plug-in type's own settings, as written in its table.
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def remote(self) -> bool:
        return self.type in REMOTE_TYPES


def _typed(spec: dict, key: str, kind, where: dict, default: Any = None) -> Any:
    if key not in spec:
        return default
    value = spec[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) != (bool in kinds) or not isinstance(value, kinds):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise SpecError(f"must be {names}, got {type(value).__name__} {value!r}", field=f"{where['field']}.{key}")
    return value


def parse_classifiers(table: Any, base_dir: Path | None, digest) -> dict[str, ClassifierSpec]:
    if not isinstance(table, dict):
        raise SpecError("[classifiers] is a table of [classifiers.NAME] tables", field="classifiers")
    return {name: _one(name, table[name], base_dir, digest) for name in sorted(table)}


def _one(name: str, spec: Any, base_dir: Path | None, digest) -> ClassifierSpec:
    where = {"field": f"classifiers.{name}"}
    if not isinstance(spec, dict):
        raise SpecError("a classifier is a table with type = ...", **where)
    kind = spec.get("type")
    if kind not in TYPES:
        return _plugin(name, kind, spec, where)
    extra = sorted(set(spec) - _KEYS[kind])
    if extra:
        raise SpecError(
            f"unknown key(s) {', '.join(map(repr, extra))} for a {kind} classifier; allowed: "
            f"{', '.join(sorted(_KEYS[kind]))}",
            **where,
        )
    eligible = _typed(spec, "eligible", list, where, [])
    bad = [e for e in eligible if e not in ELIGIBILITY]
    if bad:
        raise SpecError(
            f"unknown eligibility {bad!r}; one or more of {', '.join(ELIGIBILITY)}", field=f"{where['field']}.eligible"
        )
    sample = float(_typed(spec, "sample", (int, float), where, 1.0))
    if not 0.0 < sample <= 1.0:
        raise SpecError("sample is the share of eligible uploads sent, in (0, 1]", field=f"{where['field']}.sample")
    batch = _typed(spec, "batch", int, where, 16)
    if not 1 <= batch <= 256:
        raise SpecError("batch must be between 1 and 256", field=f"{where['field']}.batch")
    labels = _typed(spec, "labels", list, where, [])
    if not all(isinstance(x, str) and x for x in labels) or len(set(labels)) != len(labels):
        raise SpecError("labels are distinct non-empty strings", field=f"{where['field']}.labels")
    common = dict(name=name, type=kind, eligible=tuple(eligible), sample=sample, batch=batch, labels=tuple(labels))
    if kind == "onnx":
        return ClassifierSpec(**common, **_onnx(name, spec, base_dir, digest, where))
    return ClassifierSpec(**common, **_remote(kind, spec, where))


def _plugin(name: str, kind: Any, spec: dict, where: dict) -> ClassifierSpec:
    """A type a plug-in adds: its table's other keys are the plug-in's to check."""
    from tripline.classifiers.registry import classifier_types

    known = classifier_types()
    if not isinstance(kind, str) or kind not in known:
        raise SpecError(f"type must be one of {', '.join(sorted(known))}, got {kind!r}", field=f"{where['field']}.type")
    labels = _typed(spec, "labels", list, where, [])
    options = tuple(sorted((k, v) for k, v in spec.items() if k not in ("type", "labels")))
    return ClassifierSpec(name=name, type=kind, labels=tuple(str(x) for x in labels), options=options)


def _onnx(name: str, spec: dict, base_dir: Path | None, digest, where: dict) -> dict:
    model = _typed(spec, "model", str, where)
    if not model:
        raise SpecError(
            'an onnx classifier needs model = "path/to/model.onnx" (relative to the policy file)',
            field=f"{where['field']}.model",
        )
    size = _typed(spec, "size", int, where)
    if size is None or not 8 <= size <= 4096:
        raise SpecError(
            "an onnx classifier needs size = N (input side in pixels, 8..4096)", field=f"{where['field']}.size"
        )
    if not spec.get("labels"):
        raise SpecError(
            "an onnx classifier needs labels = [...], one per output score", field=f"{where['field']}.labels"
        )
    if base_dir is None:
        raise SpecError("onnx model files need a policy loaded from a file", **where)
    path = (base_dir / model).resolve()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError(
            f"classifier {name!r}: cannot read model file {path}: {exc.strerror or exc}",
            field=f"{where['field']}.model",
        ) from None
    sha = hashlib.sha256(data).hexdigest()
    # The decision's policy hash covers the weights, not just their file name.
    digest.update(b"\0classifier-model\0" + name.encode() + b"\0" + sha.encode())
    return {"model_path": path, "model_sha256": sha, "size": size}


def _remote(kind: str, spec: dict, where: dict) -> dict:
    credential = _typed(spec, "credential", str, where)
    if kind != "http" and not credential:
        raise SpecError(
            f'a {kind} classifier names a stored credential: credential = "NAME" '
            "(tripline classifier credential set NAME ...); the secret never goes in the policy",
            field=f"{where['field']}.credential",
        )
    url = _typed(spec, "url", str, where, DEFAULT_URLS.get(kind))
    if not url:
        raise SpecError(f'a {kind} classifier needs url = "https://..."', field=f"{where['field']}.url")
    if not url.startswith(("https://", "http://")):
        raise SpecError("url must be http(s)", field=f"{where['field']}.url")
    out = {
        "credential": credential,
        "url": url,
        "allow_private": _typed(spec, "allow_private", bool, where, False),
        "timeout": float(_typed(spec, "timeout", (int, float), where, 10.0)),
        "retries": _typed(spec, "retries", int, where, 2),
        "rate": _typed(spec, "rate", (int, float), where),
        "daily_budget": _typed(spec, "daily_budget", int, where),
        "breaker_failures": _typed(spec, "breaker_failures", int, where, 5),
        "breaker_reset_seconds": float(_typed(spec, "breaker_reset_seconds", (int, float), where, 60.0)),
    }
    for key, low in (("timeout", 0.05), ("retries", 0), ("breaker_failures", 1), ("breaker_reset_seconds", 0.01)):
        if out[key] < low:
            raise SpecError(f"{key} must be >= {low}", field=f"{where['field']}.{key}")
    if out["rate"] is not None and out["rate"] <= 0:
        raise SpecError("rate is calls per second, > 0", field=f"{where['field']}.rate")
    if out["daily_budget"] is not None and out["daily_budget"] < 0:
        raise SpecError("daily_budget is calls per UTC day, >= 0", field=f"{where['field']}.daily_budget")
    return out
