"""Grouping accounts that share destinations or flagged hashtags.

Promotion rings spread one set of destinations (one invite link, one
subscription page) over many throwaway accounts. Clustering shows the ring,
including members who had no flagged media themselves.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import combinations


@dataclass
class Cluster:
    id: str
    members: list[str]
    leads: list[str]
    shared: list[dict] = field(default_factory=list)  # {"kind", "value", "accounts"}

    def to_dict(self) -> dict:
        return {"cluster_id": self.id, "members": self.members, "leads": self.leads, "shared": self.shared}


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _destination_key(f: dict) -> str | None:
    # The site's front page says nothing about who shares it; a specific
    # page, profile or invite does.
    # Scheme-less: "t[.]me/+x" (read as http) and "https://t.me/+x" are one invite.
    key = f["canonical"].split("://", 1)[-1]
    return key if key.split("/", 1)[-1].strip("/") else None


def find_clusters(signals: dict, lead_accounts: set[str], flagged_tags: set[str], options) -> list[Cluster]:
    by_key: dict[tuple[str, str], set[str]] = defaultdict(set)
    for account_id, s in signals.items():
        for f in s.destinations:
            key = _destination_key(f)
            if key:
                by_key[("destination", key)].add(account_id)
        for t in s.tags & flagged_tags:
            by_key[("hashtag", t)].add(account_id)

    uf = _UnionFind()
    shared_tags: Counter = Counter()
    for (kind, _value), accounts in by_key.items():
        if len(accounts) < 2 or len(accounts) > options.cluster_max_key_accounts:
            continue
        ordered = sorted(accounts)
        if kind == "destination":
            for other in ordered[1:]:
                uf.union(ordered[0], other)
        else:
            for a, b in combinations(ordered, 2):
                shared_tags[(a, b)] += 1
    for (a, b), n in shared_tags.items():
        if n >= options.cluster_min_shared_tags:
            uf.union(a, b)

    groups: dict[str, set[str]] = defaultdict(set)
    for account_id in list(uf.parent):
        groups[uf.find(account_id)].add(account_id)
    clusters = []
    for members in groups.values():
        leads = sorted(members & lead_accounts)
        if len(members) < 2 or not leads:
            continue
        shared = [
            {"kind": kind, "value": value, "accounts": sorted(accts & members)}
            for (kind, value), accts in sorted(by_key.items())
            if len(accts & members) >= 2 and len(accts) <= options.cluster_max_key_accounts
        ]
        cid = "C" + hashlib.sha1("\n".join(sorted(members)).encode()).hexdigest()[:10]
        clusters.append(Cluster(cid, sorted(members), leads, shared))
    clusters.sort(key=lambda c: (-len(c.leads), -len(c.members), c.id))
    return clusters
