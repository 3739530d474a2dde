"""The typed signals a policy can test, and their fields.

Rules are checked against this schema when a policy loads, so a misspelt
signal or field, an operator that makes no sense for a field's type, or a
value outside a field's known values fails at load time with a message,
never at match time on a live item. ``signals.py`` derives exactly these
facts from a scan record and its context.
"""

from __future__ import annotations

from dataclasses import dataclass

from tripline.signals.builtin import BUILTIN_SIGNAL_TYPES

# Field types. "hash" compares case-insensitively, and a short hash (at least
# 8 hex digits) matches a full one it is a prefix of: generators write the
# first 10 hex digits of a model's SHA-256, watchlists often hold the full one.
STR, INT, FLOAT, BOOL, HASH, ENUM = "str", "int", "float", "bool", "hash", "enum"
NUMERIC = (INT, FLOAT)

SYNTHETIC = ("verified", "declared", "likely", "none")
TEXT_SOURCES = ("prompt", "negative_prompt", "caption", "hashtags", "post", "bio")


@dataclass(frozen=True)
class Field:
    type: str
    values: tuple[str, ...] = ()  # known values of an enum field
    doc: str = ""
    fold: bool = False  # facts are lower-cased, so literals are too


@dataclass(frozen=True)
class Signal:
    name: str
    fields: dict[str, Field]
    label: tuple[str, ...]  # fields that identify a fact in an explanation
    doc: str = ""
    single: bool = False  # exactly one fact per item
    gate: bool = False  # available to prompt-gate rules


SIGNALS: dict[str, Signal] = {
    s.name: s
    for s in (
        Signal(
            "match",
            {
                "bank": Field(STR, doc="bank name"),
                "bank_kind": Field(ENUM, ("match", "allow"), "match: known content; allow: known benign"),
                "bank_verified": Field(BOOL, doc="context['banks'][bank]['verified'] is true"),
                "signal_type": Field(ENUM, tuple(t.name for t in BUILTIN_SIGNAL_TYPES)),
                "entry_id": Field(INT),
                "distance": Field(INT, doc="PDQ Hamming distance (0 for exact hashes)"),
                "variant": Field(STR, doc="dihedral variant of the query that matched"),
                "suppressed": Field(BOOL, doc="an allow-list bank also matched the item"),
            },
            label=("bank", "signal_type", "entry_id", "distance"),
            doc="one per bank match",
        ),
        Signal(
            "item",
            {
                "media_type": Field(STR),
                "pdq_quality": Field(INT),
                "flagged": Field(BOOL, doc="scan flagged the item (a non-suppressed match)"),
                "error": Field(STR, doc="per-item error code, '' when none"),
            },
            label=("media_type",),
            single=True,
            doc="the item itself",
        ),
        Signal(
            "provenance",
            {
                "synthetic": Field(
                    ENUM, SYNTHETIC, "strongest evidence of AI generation; 'none' also when provenance was not read"
                ),
                "available": Field(BOOL, doc="provenance was read for this item"),
                "generator": Field(STR, doc="generator family, '' when none"),
                "tool": Field(STR, doc="generator tool, '' when none"),
                "has_prompt": Field(BOOL),
                "c2pa_present": Field(BOOL),
                "c2pa_valid": Field(BOOL, doc="C2PA validation_state is Valid or Trusted"),
            },
            label=("synthetic",),
            single=True,
            doc="what the item says about how it was made",
        ),
        Signal(
            "evidence",
            {
                "kind": Field(STR),
                "strength": Field(ENUM, SYNTHETIC[:3]),
            },
            label=("kind", "strength"),
            doc="one per piece of AI-generation evidence",
        ),
        Signal(
            "model",
            {
                "name": Field(STR, doc="compared case-insensitively", fold=True),
                "hash": Field(HASH),
                "kind": Field(STR, doc="checkpoint, lora, vae, ..."),
                "weight": Field(FLOAT),
            },
            label=("kind", "name", "hash"),
            gate=True,
            doc="one per model, LoRA or VAE named by generator metadata (or by <lora:...> tags at the prompt gate)",
        ),
        Signal(
            "watermark",
            {
                "scheme": Field(STR),
                "payload": Field(STR),
                "bits_matched": Field(INT),
                "bits_total": Field(INT),
                "confidence": Field(STR),
            },
            label=("scheme", "payload", "bits_matched"),
            doc="one per decoded invisible watermark",
        ),
        Signal(
            "text",
            {
                "rule": Field(ENUM, doc="a text rule defined in the policy"),
                "source": Field(ENUM, TEXT_SOURCES),
            },
            label=("rule", "source", "terms"),
            gate=True,
            doc="one per text rule hit in one text source",
        ),
        Signal(
            "link",
            {
                "url": Field(STR),
                "canonical": Field(STR),
                "host": Field(STR, doc="compared case-insensitively", fold=True),
                "category": Field(STR, doc="destination category from the link registry, '' when unknown"),
                "platform": Field(STR),
                "obfuscated": Field(BOOL, doc="the link was written to dodge link detection"),
                "lead_destination": Field(BOOL, doc="the registry marks the destination as a lead destination"),
            },
            label=("host", "category"),
            doc="one per link in the post or profile (tripline.links findings)",
        ),
        Signal(
            "link_list",
            {
                "list": Field(STR, doc="name of the URL list that matched"),
                "kind": Field(STR, doc="how the list matched: exact, host_suffix, path_prefix, hash"),
                "host": Field(STR, doc="compared case-insensitively", fold=True),
                "category": Field(STR),
            },
            label=("list", "kind", "host"),
            doc="one per (link, list) match",
        ),
        Signal(
            "classifier",
            {
                "name": Field(STR, doc="the [classifiers.NAME] that scored the item"),
                "label": Field(STR, doc="a label the classifier answered"),
                "score": Field(FLOAT, doc="its score, 0..1"),
            },
            label=("name", "label", "score"),
            doc="one per (classifier, label) score; none when a classifier was not run or failed (tripline.classifiers)",
        ),
    )
}

ACTIONS = ("block", "review", "allow", "escalate")
ACTION_RANK = {"allow": 0, "review": 1, "block": 2}
GATE_VERDICTS = ("deny", "review", "allow")
PRIORITIES = ("P0", "P1", "P2", "P3")
