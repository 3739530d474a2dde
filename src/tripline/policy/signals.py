"""Typed signals from one scan record and its context: the only place that
knows the record's layout. Rules only ever see what this module derives, as
declared in ``schema.SIGNALS``.

Each signal's facts are sorted into a canonical order, so a decision and
its explanation never depend on the order matches, evidence, models or
links arrived in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from tripline.text import TextRules

Signals = dict[str, tuple[dict, ...]]


def canonical(facts: Iterable[dict]) -> tuple[dict, ...]:
    return tuple(sorted(facts, key=lambda f: json.dumps(f, sort_keys=True, default=str)))


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def text_sources(record: dict, context: dict | None) -> list[tuple[str, str, bool]]:
    """(source, text, split_camel) for every text the policy can read."""
    prov = record.get("provenance") or {}
    ctx = context or {}
    out = []
    for source, text in (
        ("prompt", prov.get("prompt")),
        ("negative_prompt", prov.get("negative_prompt")),
        ("caption", ctx.get("caption")),
        ("bio", ctx.get("bio")),
    ):
        if isinstance(text, str) and text:
            out.append((source, text, False))
    tags = ctx.get("hashtags") or []
    if isinstance(tags, str):
        tags = tags.split()
    # All of a post's hashtags form one text: "#a #b" pairs like "a b" would.
    joined = " ".join(str(t).lstrip("#") for t in tags if t)
    if joined:
        out.append(("hashtags", joined, True))
    # "post": the caption and hashtags together, since a caption word and a
    # hashtag on the same post belong together as much as two caption words.
    caption = ctx.get("caption") if isinstance(ctx.get("caption"), str) else ""
    if caption or joined:
        out.append(("post", f"{caption}\n{joined}".strip(), True))
    return out


def from_record(record: dict, context: dict | None = None, text_rules: TextRules | None = None) -> Signals:
    ctx = context or {}
    bank_info = ctx.get("banks") or {}
    matches = []
    for m in record.get("matches") or []:
        bank = _str(m.get("bank"))
        matches.append(
            {
                "bank": bank,
                "bank_kind": _str(m.get("bank_kind")),
                "bank_verified": bool((bank_info.get(bank) or {}).get("verified", False)),
                "signal_type": _str(m.get("signal_type")),
                "entry_id": _int(m.get("entry_id")),
                "distance": _int(m.get("distance")),
                "variant": _str(m.get("variant")),
                "suppressed": bool(m.get("suppressed", False)),
            }
        )
    error = record.get("error")
    item = {
        "media_type": _str(record.get("media_type")),
        "pdq_quality": _int(record.get("pdq_quality")),
        "flagged": bool(record.get("flagged", False)),
        "error": _str(error.get("code")) if isinstance(error, dict) else _str(error),
    }
    prov = record.get("provenance")
    available = isinstance(prov, dict) and "synthetic" in prov
    prov = prov if isinstance(prov, dict) else {}
    gen = prov.get("generator") or {}
    c2pa = prov.get("c2pa") or {}
    provenance = {
        # Unknown provenance counts as "none": an item is treated as possibly
        # photographic until something says otherwise.
        "synthetic": _str(prov.get("synthetic")) if available else "none",
        "available": available,
        "generator": _str(gen.get("family")),
        "tool": _str(gen.get("tool")),
        "has_prompt": bool(prov.get("prompt")),
        "c2pa_present": bool(c2pa.get("present")),
        "c2pa_valid": _str(c2pa.get("validation_state")).lower() in ("valid", "trusted"),
    }
    evidence = [
        {"kind": _str(e.get("kind")), "strength": _str(e.get("strength"))}
        for e in prov.get("evidence") or []
        if isinstance(e, dict)
    ]
    # Names compare case-insensitively (watchlists and prompts disagree on case).
    models = [
        {
            "name": _str(m.get("name")).lower(),
            "hash": (_str(m.get("hash")).lower() or None),
            "kind": _str(m.get("kind")),
            "weight": _num(m.get("weight")),
        }
        for m in prov.get("models") or []
        if isinstance(m, dict)
    ]
    watermarks = [
        {
            "scheme": _str(w.get("scheme")),
            "payload": _str(w.get("payload")),
            "bits_matched": _int(w.get("bits_matched")),
            "bits_total": _int(w.get("bits_total")),
            "confidence": _str(w.get("confidence")),
        }
        for w in prov.get("watermarks") or []
        if isinstance(w, dict)
    ]
    links, link_lists = [], []
    for link in ctx.get("links") or []:
        if not isinstance(link, dict):
            continue
        fact = {
            "url": _str(link.get("url")),
            "canonical": _str(link.get("canonical") or link.get("url")),
            "host": _str(link.get("host")).lower(),
            "category": _str(link.get("category")),
            "platform": _str(link.get("platform")),
            "obfuscated": bool(link.get("obfuscated", False)),
            "lead_destination": bool(link.get("lead_destination", False)),
        }
        links.append(fact)
        for lm in link.get("list_matches") or []:
            if isinstance(lm, dict):
                link_lists.append(
                    {
                        "list": _str(lm.get("list")),
                        "kind": _str(lm.get("kind")),
                        "host": fact["host"],
                        "category": fact["category"],
                    }
                )
    texts = []
    if text_rules is not None:
        for source, text, camel in text_sources(record, ctx):
            texts.extend(
                {"rule": h.rule, "source": h.source, "terms": list(h.terms)}
                for h in text_rules.scan(text, source, split_camel=camel)
            )
    classifiers = [
        {"name": str(name), "label": str(label), "score": score}
        for name, res in (record.get("classifiers") or {}).items()
        if isinstance(res, dict)
        for label, score in (res.get("labels") or {}).items()
        if _num(score) is not None
    ]
    return {
        "match": canonical(matches),
        "item": (item,),
        "provenance": (provenance,),
        "evidence": canonical(evidence),
        "model": canonical(models),
        "watermark": canonical(watermarks),
        "text": canonical(texts),
        "link": canonical(links),
        "link_list": canonical(link_lists),
        "classifier": canonical(classifiers),
    }
