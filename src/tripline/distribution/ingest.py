"""Ingestion of accounts and posts (JSONL or library calls).

Links are extracted from bios and post texts once, here, because that does
not depend on URL lists or the registry; canonicalisation, classification and
list matching happen at detection time, so updating a list or the registry
never needs a re-ingest.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tripline.distribution.model import Account, Post, RecordError
from tripline.distribution.repository import DistributionRepository
from tripline.links.extract import Link, extract

_BATCH = 2000


@dataclass
class IngestResult:
    accounts: int = 0
    posts: int = 0
    errors: list[dict] = field(default_factory=list)  # {"line": n, "error": "..."}

    def to_dict(self) -> dict:
        return {"accounts": self.accounts, "posts": self.posts, "errors": self.errors}


def extracted_links(text: str, links: list[str]) -> list[dict]:
    """``[{"url", "obfuscated", "where"}]`` from free text and explicit links."""
    out, seen = [], set()
    for where, source in [("text", text)] + [("links", link) for link in links]:
        found = extract(source)
        if not found and where == "links" and source.strip():
            # An explicit link field is a link even if it looks like nothing
            # we would spot in prose (an unknown TLD, a bare host).
            found = [Link(source.strip(), False)]
        for link in found:
            if link.url not in seen:
                seen.add(link.url)
                out.append({"url": link.url, "obfuscated": link.obfuscated, "where": where})
    return out


def record_type(d: dict) -> str:
    t = d.get("type") or d.get("kind")
    if t in ("account", "post"):
        return t
    if "account_id" in d:
        return "post"
    if "handle" in d or "bio" in d:
        return "account"
    raise RecordError('cannot tell whether this is an account or a post (set "type")')


def _absolute_media(post: Post, media_root: Path | None) -> None:
    if media_root is None:
        return
    for ref in post.media:
        for key in ("value", "path"):
            if (key == "path" or ref["kind"] == "path") and ref.get(key) and not os.path.isabs(ref[key]):
                ref[key] = os.path.normpath(str(media_root / ref[key]))


def ingest_records(
    repo: DistributionRepository, records: Iterable[dict], *, media_root: str | Path | None = None
) -> IngestResult:
    """Ingest dicts (accounts and posts in any order). Bad records are
    reported with their position and skipped; the rest still go in."""
    return _ingest(repo, enumerate(records, 1), Path(media_root) if media_root is not None else None)


def ingest_jsonl(
    repo: DistributionRepository, path: str | Path, *, media_root: str | Path | None = None
) -> IngestResult:
    """Ingest a JSONL file; relative media paths are taken relative to
    ``media_root`` (default: the file's folder)."""
    path = Path(path)
    root = Path(media_root) if media_root is not None else path.resolve().parent
    bad: list[dict] = []

    def rows():
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        yield n, json.loads(line)
                    except json.JSONDecodeError as exc:
                        bad.append({"line": n, "error": f"invalid JSON: {exc.msg}"})

    result = _ingest(repo, rows(), root)
    result.errors = sorted(result.errors + bad, key=lambda e: e["line"])
    return result


def _ingest(repo: DistributionRepository, numbered: Iterable[tuple[int, object]], root: Path | None) -> IngestResult:
    result = IngestResult()
    accounts: list = []
    posts: list = []

    def flush() -> None:
        result.accounts += repo.put_accounts(accounts)
        result.posts += repo.put_posts(posts)
        accounts.clear()
        posts.clear()

    for n, d in numbered:
        try:
            if not isinstance(d, dict):
                raise RecordError("not a JSON object")
            if record_type(d) == "account":
                a = Account.from_dict(d)
                accounts.append((a, extracted_links(a.bio, a.links)))
            else:
                p = Post.from_dict(d)
                _absolute_media(p, root)
                posts.append((p, extracted_links(p.text, p.links)))
        except RecordError as exc:
            result.errors.append({"line": n, "error": str(exc)})
        if len(accounts) + len(posts) >= _BATCH:
            flush()
    flush()
    return result
