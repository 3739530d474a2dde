"""Accounts and posts as a platform exports them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")


class RecordError(ValueError):
    pass


def _str(d: dict, key: str, required: bool = False) -> str:
    v = d.get(key)
    if v is None:
        if required:
            raise RecordError(f"missing {key!r}")
        return ""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    if not isinstance(v, str):
        raise RecordError(f"{key!r} must be a string")
    return v


def _str_list(d: dict, key: str) -> list[str]:
    v = d.get(key) or []
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise RecordError(f"{key!r} must be a list of strings")
    return v


def media_ref(item) -> dict:
    """A post's media item as ``{"kind": "sha256"|"md5"|"path", "value": ...}``.

    Platforms export either file paths or content hashes; both resolve to the
    scan record of that file (see ``tripline.distribution.media``)."""
    if isinstance(item, dict):
        for kind in ("sha256", "md5"):
            if item.get(kind):
                return {"kind": kind, "value": str(item[kind]).lower(), "path": item.get("path")}
        if item.get("path"):
            return {"kind": "path", "value": str(item["path"])}
        raise RecordError("media item needs a path, sha256 or md5")
    if not isinstance(item, str) or not item:
        raise RecordError("media items are paths, hashes, or {path, sha256, md5} objects")
    if _SHA256.match(item):
        return {"kind": "sha256", "value": item.lower()}
    if _MD5.match(item):
        return {"kind": "md5", "value": item.lower()}
    return {"kind": "path", "value": item}


@dataclass
class Account:
    id: str
    handle: str = ""
    display_name: str = ""
    bio: str = ""
    links: list[str] = field(default_factory=list)
    created: str = ""

    @classmethod
    def from_dict(cls, d: dict) -> Account:
        return cls(
            id=_str(d, "id", True),
            handle=_str(d, "handle"),
            display_name=_str(d, "display_name"),
            bio=_str(d, "bio"),
            links=_str_list(d, "links"),
            created=_str(d, "created"),
        )

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "handle": self.handle,
            "display_name": self.display_name,
            "bio": self.bio,
            "links": list(self.links),
            "created": self.created,
        }


@dataclass
class Post:
    id: str
    account_id: str
    text: str = ""
    hashtags: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    media: list[dict] = field(default_factory=list)
    created: str = ""

    @classmethod
    def from_dict(cls, d: dict) -> Post:
        media = d.get("media") or []
        if not isinstance(media, list):
            raise RecordError("'media' must be a list")
        tags = [normalize_tag(t) for t in _str_list(d, "hashtags")]
        return cls(
            id=_str(d, "id", True),
            account_id=_str(d, "account_id", True),
            text=_str(d, "text"),
            hashtags=[t for t in tags if t],
            links=_str_list(d, "links"),
            media=[media_ref(m) for m in media],
            created=_str(d, "created"),
        )

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "text": self.text,
            "hashtags": list(self.hashtags),
            "links": list(self.links),
            "media": [dict(m) for m in self.media],
            "created": self.created,
        }


def normalize_tag(tag: str) -> str:
    return tag.strip().lstrip("#").casefold()


_INLINE_TAG = re.compile(r"(?<![\w#])#(\w{1,100})")


def tags_in_text(text: str) -> list[str]:
    return [normalize_tag(t) for t in _INLINE_TAG.findall(text or "")]
