"""Request and response shapes of each remote classifier.

Each vendor is two pure functions: build the HTTP request for a chunk of
inputs, and read the answer into one label→score dict per input. Which
documentation each shape follows, and what could not be confirmed, is in
docs/classifiers.md ("Vendor shapes").
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tripline.classifiers.base import ClassifierError, ClassifierInput

# Google Content Safety answers a review priority, not a probability: it is
# mapped onto [0, 1] in even steps so rules can compare it like any score.
GOOGLE_PRIORITIES = {"VERY_LOW": 0.0, "LOW": 0.25, "MEDIUM": 0.5, "HIGH": 0.75, "VERY_HIGH": 1.0}


@dataclass(frozen=True)
class Vendor:
    max_batch: int
    request: Callable[[str, dict | None, Sequence[ClassifierInput]], dict]  # httpx.Client.request kwargs
    parse: Callable[[Any, int], tuple[list[dict[str, float]], str | None]]  # (labels per input, model version)


def _bad(msg: str) -> ClassifierError:
    return ClassifierError("bad_response", msg)


def _secret(secret: dict | None, *keys: str) -> str:
    for k in keys:
        if secret and isinstance(secret.get(k), str) and secret[k]:
            return secret[k]
    raise ClassifierError("no_credential", f"the stored credential has no {' or '.join(keys)}")


def _score(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(f"{where}: score is not a number")
    return float(value)


# -- Google Content Safety API ---------------------------------------------
def google_request(url: str, secret: dict | None, batch: Sequence[ClassifierInput]) -> dict:
    return {
        "method": "POST",
        "url": url,
        "params": {"key": _secret(secret, "api_key", "key")},
        "json": {"images": [base64.b64encode(i.data or b"").decode() for i in batch]},
    }


def google_parse(body: Any, n: int) -> tuple[list[dict[str, float]], str | None]:
    prios = body.get("reviewPriorities") if isinstance(body, dict) else None
    if not isinstance(prios, list) or len(prios) != n:
        raise _bad(f"expected reviewPriorities with {n} entries")
    out = []
    for p in prios:
        if p not in GOOGLE_PRIORITIES:
            raise _bad(f"unknown review priority {p!r}")
        out.append({"review_priority": GOOGLE_PRIORITIES[p]})
    version = body.get("modelVersion")
    return out, str(version) if version is not None else None


# -- Hive (v2 sync task) ---------------------------------------------------
def _multipart(inp: ClassifierInput) -> dict:
    return {"media": (inp.sha256 or "upload", inp.data or b"", "application/octet-stream")}


def hive_request(url: str, secret: dict | None, batch: Sequence[ClassifierInput]) -> dict:
    return {
        "method": "POST",
        "url": url,
        "headers": {"Authorization": f"Token {_secret(secret, 'api_key', 'token')}"},
        "files": _multipart(batch[0]),
    }


def hive_parse(body: Any, n: int) -> tuple[list[dict[str, float]], str | None]:
    status = body.get("status") if isinstance(body, dict) else None
    if isinstance(status, list):  # the sync endpoint wraps one status per task
        status = status[0] if status else None
    response = status.get("response") if isinstance(status, dict) else None
    output = response.get("output") if isinstance(response, dict) else None
    if not isinstance(output, list) or not output:
        raise _bad("no status.response.output in the Hive answer")
    labels: dict[str, float] = {}
    # One output per frame (always one, time 0, for an image); a label
    # keeps its highest score over frames.
    for frame in output:
        for c in (frame.get("classes") or []) if isinstance(frame, dict) else []:
            if isinstance(c, dict) and isinstance(c.get("class"), str):
                labels[c["class"]] = max(labels.get(c["class"], 0.0), _score(c.get("score"), c["class"]))
    if not labels:
        raise _bad("the Hive answer has no classes")
    inp = response.get("input") if isinstance(response, dict) else None
    version = None
    if isinstance(inp, dict) and inp.get("model"):
        version = f"{inp.get('model')}:{inp.get('model_version')}"
    return [labels], version


# -- Thorn Safer Predict -----------------------------------------------------
def safer_request(url: str, secret: dict | None, batch: Sequence[ClassifierInput]) -> dict:
    return {
        "method": "POST",
        "url": url,
        "headers": {"Authorization": f"Bearer {_secret(secret, 'api_key', 'token')}"},
        "files": _multipart(batch[0]),
    }


def safer_parse(body: Any, n: int) -> tuple[list[dict[str, float]], str | None]:
    out = body.get("output", body) if isinstance(body, dict) else body
    if isinstance(out, list):
        out = out[0] if out else None
    file = out.get("file") if isinstance(out, dict) else None
    pred = file.get("classifierPrediction") if isinstance(file, dict) else None
    if not isinstance(pred, dict) or not pred:
        raise _bad("no file.classifierPrediction in the Safer answer")
    labels = {}
    for head, scores in pred.items():
        if not isinstance(scores, dict):
            raise _bad(f"classifierPrediction.{head} is not a table of scores")
        for label, score in scores.items():
            # Heads are kept apart ("csam_classifier.csam") only when there
            # are several; with one, rules read the plain label.
            key = label if len(pred) == 1 else f"{head}.{label}"
            labels[key] = _score(score, key)
    return [labels], next(iter(pred)) if len(pred) == 1 else None


# -- generic HTTP JSON (an in-house service) -------------------------------
def http_request(url: str, secret: dict | None, batch: Sequence[ClassifierInput]) -> dict:
    headers = {}
    if secret:
        token = secret.get("token") or secret.get("api_key")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        header = secret.get("header")
        if isinstance(header, dict):
            headers.update({str(k): str(v) for k, v in header.items()})
    inp = batch[0]
    return {
        "method": "POST",
        "url": url,
        "headers": headers,
        "json": {"image": base64.b64encode(inp.data or b"").decode(), "sha256": inp.sha256},
    }


def http_parse(body: Any, n: int) -> tuple[list[dict[str, float]], str | None]:
    labels = body.get("labels") if isinstance(body, dict) else None
    if not isinstance(labels, dict) or not labels:
        raise _bad('expected {"labels": {LABEL: score, ...}, "model": "..."}')
    model = body.get("model")
    return [{str(k): _score(v, str(k)) for k, v in labels.items()}], str(model) if model is not None else None


VENDORS = {
    "google-content-safety": Vendor(32, google_request, google_parse),
    "hive": Vendor(1, hive_request, hive_parse),
    "safer": Vendor(1, safer_request, safer_parse),
    "http": Vendor(1, http_request, http_parse),
}


def decode_json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        raise _bad("the answer is not JSON") from None
