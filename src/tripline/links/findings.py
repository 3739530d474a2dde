"""Link findings: the per-link facts handed to the policy engine as
``context["links"]`` and used by lead detection."""

from __future__ import annotations

from collections.abc import Iterable

from tripline.links.canonical import parse
from tripline.links.extract import Link, extract
from tripline.links.lists import UrlLists
from tripline.links.redirects import Wrapper, decode_redirect
from tripline.links.registry import DestinationRegistry


def finding(
    raw: str,
    lists: UrlLists | None,
    registry: DestinationRegistry | None,
    *,
    obfuscated: bool = False,
    wrappers: list[Wrapper] | None = None,
) -> dict:
    """One link's finding. Both the wrapper and its destination are matched
    against the lists, because a list may name either."""
    final, chain = decode_redirect(raw, wrappers)
    c = parse(final)
    matches = lists.match(c) if lists else []
    for wrapper_url in chain:
        for m in lists.match(wrapper_url) if lists else []:
            if m not in matches:
                matches.append(m)
    cls = registry.classify(c) if registry else None
    return {
        "url": raw,
        "canonical": c.url,
        "host": c.host,
        "category": cls.category if cls else None,
        "list_matches": matches,
        "decoded_from": chain[0] if chain else None,
        # Extra keys beyond the policy contract; consumers may ignore them.
        "obfuscated": obfuscated,
        "platform": cls.platform if cls else None,
        "account": cls.account if cls else None,
        "group": cls.group if cls else None,
        "lead_destination": bool(cls and cls.lead_destination),
    }


def link_findings(
    text_or_urls: str | Iterable[str], lists: UrlLists | None = None, registry: DestinationRegistry | None = None
) -> list[dict]:
    """Findings for every link in a text, or for a list of URLs (each of which
    is also searched, so a list of disguised links works too)."""
    if isinstance(text_or_urls, str):
        links = extract(text_or_urls)
    else:
        links = []
        for item in text_or_urls:
            found = extract(item)
            links.extend(found if found else ([Link(item.strip(), False)] if item and item.strip() else []))
    seen: set[str] = set()
    out = []
    for link in links:
        f = finding(link.url, lists, registry, obfuscated=link.obfuscated)
        if f["canonical"] not in seen:
            seen.add(f["canonical"])
            out.append(f)
    return out
