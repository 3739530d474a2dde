"""Records, contexts and a placeholder policy shared by the policy tests.

The placeholder lexicons ("alpha", "bravo") stand in for real vocabulary so
the engine is tested without writing any sensitive text."""

from __future__ import annotations

import copy
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden" / "policy"
PLACEHOLDER_POLICY = GOLDEN / "placeholder_policy.toml"


def match(bank="bankx", kind="match", distance=0, signal_type="pdq", entry_id=1, suppressed=False):
    return {
        "bank": bank,
        "bank_kind": kind,
        "signal_type": signal_type,
        "entry_id": entry_id,
        "value": "f" * 64,
        "distance": distance,
        "variant": "original",
        "suppressed": suppressed,
    }


def provenance(synthetic="none", prompt=None, negative_prompt=None, models=(), evidence=None, watermarks=()):
    if evidence is None:
        evidence = (
            [] if synthetic == "none" else [{"kind": "generator_metadata", "strength": synthetic, "detail": "test"}]
        )
    return {
        "generator": {"family": "a1111", "tool": "AUTOMATIC1111", "version": None} if prompt else None,
        "prompt": prompt,
        "negative_prompt": negative_prompt,
        "models": list(models),
        "c2pa": {"present": False, "validation_state": None},
        "watermarks": list(watermarks),
        "evidence": evidence,
        "synthetic": synthetic,
        "errors": [],
    }


def record(key="item-1", matches=(), prov=None, **extra):
    rec = {
        "key": key,
        "path": key,
        "media_type": "image/png",
        "pdq_quality": 100,
        "matches": [copy.deepcopy(m) for m in matches],
        "flagged": any(not m["suppressed"] and m["bank_kind"] == "match" for m in matches),
    }
    if prov is not None:
        rec["provenance"] = prov
    rec.update(extra)
    return rec
