"""The classifier stage of the item pipeline: after bank matching (so a
classifier can be limited to unmatched uploads), before the policy decides
(so rules can read the scores).

Each classifier gets the eligible items of a batch at once (the local slot
runs them as one tensor batch); each item's answer or error goes into
``record["classifiers"][NAME]``. A classifier failing never fails the item.
"""

from __future__ import annotations

import hashlib
import math
import time

from tripline.classifiers.base import ClassifierError, ClassifierInput, Scores
from tripline.classifiers.config import ClassifierSpec
from tripline.classifiers.prepare import InputSpec
from tripline.classifiers.registry import open_classifier

INPUT_KEY = "classifier_input"  # what the worker kept; never written out


class ClassifierStage:
    def __init__(self, policy, runtime):
        self.policy, self.specs = policy, dict(policy.classifiers)
        self.classifiers = {}
        try:
            for name, spec in self.specs.items():
                self.classifiers[name] = open_classifier(spec, runtime)
        except Exception:
            self.close()
            raise
        sizes = [c.input_size for c in self.classifiers.values() if c.input_size]
        self.input_spec = InputSpec(
            max_side=max(sizes) if sizes else None, want_bytes=any(c.wants_bytes for c in self.classifiers.values())
        )

    def run(self, records: list[dict], context: dict | None = None) -> None:
        inputs = [_input(rec, rec.pop(INPUT_KEY, None), context) for rec in records]
        for name, clf in self.classifiers.items():
            spec = self.specs[name]
            chosen = [
                i for i, rec in enumerate(records) if _applies(rec) and self._eligible(spec, rec, inputs[i], context)
            ]
            if not chosen:
                continue
            missing = [i for i in chosen if inputs[i] is None]
            ready = [i for i in chosen if inputs[i] is not None]
            for i in missing:
                _put(records[i], name, ClassifierError("no_input", "the scan kept no image or bytes for this item"))
            if not ready:
                continue
            t0 = time.perf_counter()
            try:
                outcomes = clf.classify([inputs[i] for i in ready])
            except Exception as exc:  # noqa: BLE001 - a plug-in's bug must not fail the items
                outcomes = [ClassifierError("classifier_failed", f"{type(exc).__name__}: {exc}")] * len(ready)
            if len(outcomes) != len(ready):
                outcomes = [ClassifierError("classifier_failed", "answered the wrong number of results")] * len(ready)
            per_item = (time.perf_counter() - t0) * 1000 / len(ready)
            for i, outcome in zip(ready, outcomes, strict=True):
                if isinstance(outcome, Scores) and not outcome.ms:
                    outcome.ms = per_item
                _put(records[i], name, outcome)

    def _eligible(self, spec: ClassifierSpec, rec: dict, inp: ClassifierInput | None, context: dict | None) -> bool:
        for rule in spec.eligible:
            if rule == "unmatched" and rec.get("matches"):
                return False
            if rule == "text_flagged" and not self._text_flagged(rec, context):
                return False
        if spec.sample < 1.0:
            # By content hash, not at random: a re-scan of the same file
            # makes the same choice, and so does every instance.
            digest = hashlib.sha256(f"{spec.name}\0{rec.get('sha256') or rec.get('key')}".encode()).digest()
            if int.from_bytes(digest[:8], "big") / 2**64 >= spec.sample:
                return False
        return True

    def _text_flagged(self, rec: dict, context: dict | None) -> bool:
        from tripline.policy.signals import text_sources

        rules = self.policy.text_rules
        return any(rules.scan(text, source, split_camel=camel) for source, text, camel in text_sources(rec, context))

    def close(self) -> None:
        for clf in self.classifiers.values():
            try:
                clf.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass


def _applies(rec: dict) -> bool:
    # Items that failed to decode, and videos (classifiers take still
    # images), are not classified.
    return not rec.get("error") and not str(rec.get("media_type") or "").startswith("video") and "frames" not in rec


def _input(rec: dict, kept: dict | None, context: dict | None) -> ClassifierInput | None:
    if not kept:
        return None
    return ClassifierInput(
        key=rec.get("key", ""),
        image=kept.get("image"),
        data=kept.get("data"),
        sha256=rec.get("sha256") or "",
        context=context or {},
    )


def _put(rec: dict, name: str, outcome) -> None:
    out = rec.setdefault("classifiers", {})
    if isinstance(outcome, Scores) and not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in outcome.labels.values()
    ):
        # NaN or infinity would compare false in every rule and cannot be
        # stored as JSON: the answer is unusable, so it is an error.
        outcome = ClassifierError("bad_output", "the classifier answered a score that is not a finite number")
    if isinstance(outcome, Scores):
        out[name] = outcome.to_dict()
    else:
        out[name] = {"error": {"code": getattr(outcome, "code", "classifier_failed"), "message": str(outcome)}}


def drop_inputs(records: list[dict]) -> None:
    for rec in records:
        rec.pop(INPUT_KEY, None)
