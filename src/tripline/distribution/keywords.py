"""Promotion wording (``keywords.toml``, operator-extendable)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class Keyword:
    id: str
    pattern: re.Pattern
    weight: float


def load_keywords(*extra: str | Path) -> list[Keyword]:
    texts = [resources.files("tripline.distribution").joinpath("keywords.toml").read_text("utf-8")]
    texts += [Path(p).read_text("utf-8") for p in extra]
    by_id: dict[str, Keyword] = {}
    for text in texts:
        for k in tomllib.loads(text).get("keyword", []):
            by_id[k["id"]] = Keyword(k["id"], re.compile(k["pattern"], re.IGNORECASE), float(k.get("weight", 0.05)))
    return list(by_id.values())


def keyword_hits(text: str, keywords: list[Keyword]) -> list[tuple[str, str]]:
    """``[(keyword id, matched text)]``, first match of each keyword."""
    out = []
    for k in keywords:
        m = k.pattern.search(text or "")
        if m:
            out.append((k.id, m.group(0)))
    return out
