"""Small defensive helpers shared by the source parsers."""

from __future__ import annotations

import json
import re
from typing import Any

_HEX = re.compile(r"^[0-9A-Fa-f]{6,128}$")


class SourceError(ValueError):
    """A parser rejected its input; contained into ``record.errors``."""


def json_depth_ok(text: str, max_depth: int) -> bool:
    """Cheap pre-check of bracket nesting (strings are skipped), so that a
    deeply nested document is refused before ``json.loads`` recurses."""
    depth = 0
    in_str = False
    esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def loads(text: str | bytes, max_depth: int = 64) -> Any:
    """``json.loads`` with a nesting cap; raises :class:`SourceError`."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if not json_depth_ok(text, max_depth):
        raise SourceError(f"JSON nested deeper than {max_depth}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise SourceError(f"bad JSON: {exc}") from None


def try_loads(text: str | bytes | None, max_depth: int = 64) -> Any:
    if text is None:
        return None
    try:
        return loads(text, max_depth)
    except SourceError:
        return None


def as_str(value: Any, limit: int = 256 * 1024) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return None
    s = str(value)
    return s[:limit]


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value == value and abs(value) < 2**63 else None
    if isinstance(value, str):
        s = value.strip()
        if re.fullmatch(r"-?\d{1,24}", s):
            return int(s)
    return None


def as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def parse_size(value: Any) -> tuple[int, int] | None:
    """'512x768', '(1024, 1024)', '1024*1024' -> (w, h)."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        w, h = as_int(value[0]), as_int(value[1])
        return (w, h) if w and h else None
    if isinstance(value, str):
        m = re.search(r"(\d{1,6})\s{0,3}[x×*,]\s{0,3}(\d{1,6})", value[:256])
        if m:
            return int(m.group(1)), int(m.group(2))
    return None


def looks_like_hash(s: str | None) -> bool:
    return bool(s) and bool(_HEX.match(s))


def strip_model_ext(name: str) -> str:
    return re.sub(r"\.(safetensors|ckpt|pt|pth|bin|gguf)$", "", name, flags=re.I)
