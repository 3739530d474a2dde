"""A Tripline plug-in: one manifest, built by the function the entry point names."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from tripline.plugins import ImportFormat, Plugin
from tripline.signals import ExactIndex, SignalType


def _sha1(value: str) -> str:
    v = value.strip().lower()
    if len(v) != 40 or any(c not in "0123456789abcdef" for c in v):
        raise ValueError(f"invalid sha1 value {value.strip()[:80]!r}: expected 40 hex digits")
    return v


SHA1 = SignalType(
    name="sha1",
    description="SHA-1 of the file's bytes (exact match; legacy hash lists)",
    normalise=_sha1,
    distance=lambda a, b: 0 if a == b else 1,
    index_factory=lambda _directory: ExactIndex(),
    example=lambda rng: "".join(rng.choice("0123456789abcdef") for _ in range(40)),
    aliases=frozenset({"photo_sha1", "hash_sha1"}),
    content_types=("photo", "video"),
    invalid_examples=("", "0" * 39, "x" * 40),
    exact_only=True,
)


def _jsonl_rows(lines: Iterable[str], _forced: str | None = None) -> Iterator[tuple[int, str | None, str, str]]:
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield n, None, f"not JSON: {exc}", ""  # None: the importer reports the line as bad
            continue
        if not isinstance(row, dict):
            yield n, None, "not a JSON object", ""
            continue
        yield n, str(row.get("signal_type", "")), str(row.get("signal", "")), str(row.get("note") or "")


def _jsonl_write(entries: Iterable[tuple[str, str, str | None]]) -> Iterator[str]:
    for stype, value, note in entries:
        yield json.dumps({"signal_type": stype, "signal": value, "note": note}) + "\n"


def plugin() -> Plugin:
    return Plugin(
        name="example",
        description="SHA-1 signal type and a JSON Lines hash-list format",
        signal_types=(SHA1,),
        import_formats=(ImportFormat("jsonl", _jsonl_rows, _jsonl_write, "one JSON object per line"),),
    )


__all__ = ["SHA1", "plugin"]
