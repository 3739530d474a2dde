"""Distribution leads: accounts whose media drew policy hits and who link out
to paywall, payment, invite or file-locker destinations.

Both halves are required, because each alone is ordinary: many artists link
to a subscription page, and a flagged upload alone is handled by the scan and
policy. A link on a URL list counts as a destination. Wording, hashtags and
disguised links only raise the score and fill the evidence.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from tripline.distribution.cluster import Cluster, find_clusters
from tripline.distribution.keywords import Keyword, keyword_hits, load_keywords
from tripline.distribution.media import (
    decide_with_policy,
    media_hit,
    policy_context,
    resolve,
    synthetic_strength,
)
from tripline.distribution.model import Account, Post, tags_in_text
from tripline.distribution.repository import DistributionRepository
from tripline.links.findings import finding
from tripline.links.lists import UrlLists
from tripline.links.registry import DestinationRegistry

BASE_SCORE = 0.4


@dataclass
class DetectOptions:
    # A hashtag "co-occurs with flagged media" when at least this many posts
    # carrying it had policy hits, and they are at least this share of its uses.
    flagged_tag_min_posts: int = 2
    flagged_tag_min_share: float = 0.5
    # Accounts sharing this many flagged hashtags are linked into a cluster.
    cluster_min_shared_tags: int = 2
    # A destination or hashtag used by more accounts than this is too common
    # to say anything about who works together.
    cluster_max_key_accounts: int = 50


@dataclass
class AccountSignals:
    account: Account
    media_hits: list[dict] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)  # every link, with "where"
    keywords: dict[str, str] = field(default_factory=dict)  # id -> first matched text
    tags: set[str] = field(default_factory=set)

    @property
    def destinations(self) -> list[dict]:
        return [f for f in self.findings if f["lead_destination"] or f["list_matches"]]


@dataclass
class Lead:
    lead_id: str
    account_id: str
    handle: str
    display_name: str
    score: float
    state: str
    evidence: list[dict]
    destinations: list[dict]
    media_hits: list[dict]
    keywords: dict[str, str]
    flagged_tags: list[str]
    cluster_id: str | None = None

    @property
    def human_verified(self) -> bool:
        return self.state == "verified"

    def to_dict(self) -> dict:
        return {
            "lead_id": self.lead_id,
            "account_id": self.account_id,
            "handle": self.handle,
            "display_name": self.display_name,
            "score": self.score,
            "state": self.state,
            "human_verified": self.human_verified,
            "cluster_id": self.cluster_id,
            "evidence": self.evidence,
        }


@dataclass
class Analysis:
    leads: list[Lead]
    clusters: list[Cluster]
    flagged_tags: dict[str, tuple[int, int]]
    signals: dict[str, AccountSignals]
    stats: dict

    def lead(self, lead_id: str) -> Lead | None:
        return next((lead for lead in self.leads if lead.lead_id == lead_id or lead.account_id == lead_id), None)

    def to_dict(self) -> dict:
        return {
            "leads": [lead.to_dict() for lead in self.leads],
            "clusters": [c.to_dict() for c in self.clusters],
            "flagged_hashtags": {
                t: {"flagged_posts": f, "posts": n} for t, (f, n) in sorted(self.flagged_tags.items())
            },
            "stats": self.stats,
        }


def lead_id_for(account_id: str) -> str:
    # The account id itself: stable across re-runs, so verification survives.
    return account_id


def _post_hits(repo: DistributionRepository, post: Post, account: Account, policy=None) -> list[dict]:
    hits = []
    for ref in post.media:
        record = resolve(repo, ref)
        if policy is not None and record is not None:
            # Links are left out on purpose: a listed or paywall link is the
            # other half of the lead rule, and must not also count as a media hit.
            record = decide_with_policy(policy, record, policy_context(post, account))
        hit = media_hit(record)
        if hit:
            hits.append(
                {
                    **hit,
                    "post_id": post.id,
                    "media": ref["value"],
                    "sha256": (record or {}).get("sha256"),
                    "md5": (record or {}).get("md5"),
                    "pdq": (record or {}).get("pdq"),
                    "synthetic": synthetic_strength(record),
                }
            )
    return hits


def analyze(
    repo: DistributionRepository,
    lists: UrlLists | None = None,
    registry: DestinationRegistry | None = None,
    keywords: list[Keyword] | None = None,
    options: DetectOptions | None = None,
    policy=None,
) -> Analysis:
    """Find leads and clusters. With a ``policy`` (``tripline.policy.Policy``),
    every post's media record is (re)decided in that post's context (caption,
    bio, hashtags); without one, the decisions already in the records count,
    else their bank matches."""
    with repo.snapshot():
        return _analyze(repo, lists, registry, keywords, options, policy)


def _analyze(
    repo: DistributionRepository,
    lists: UrlLists | None,
    registry: DestinationRegistry | None,
    keywords: list[Keyword] | None,
    options: DetectOptions | None,
    policy,
) -> Analysis:
    registry = registry if registry is not None else DestinationRegistry.load()
    keywords = keywords if keywords is not None else load_keywords()
    options = options or DetectOptions()
    cache: dict[tuple[str, bool], dict] = {}

    def findings_for(extracted: list[dict], where: str) -> list[dict]:
        out = []
        for e in extracted:
            key = (e["url"], e["obfuscated"])
            if key not in cache:
                cache[key] = finding(e["url"], lists, registry, obfuscated=e["obfuscated"])
            out.append({**cache[key], "where": where})
        return out

    signals: dict[str, AccountSignals] = {}
    for account, extracted in repo.accounts():
        s = signals[account.id] = AccountSignals(account)
        s.findings += findings_for(extracted, "profile")
        s.keywords.update((k, m) for k, m in keyword_hits(f"{account.display_name}\n{account.bio}", keywords))

    tag_posts: Counter = Counter()
    tag_flagged: Counter = Counter()
    n_posts = 0
    for post, extracted in repo.posts():
        n_posts += 1
        s = signals.get(post.account_id)
        if s is None:  # a post whose account was not ingested: keep it findable
            s = signals[post.account_id] = AccountSignals(Account(post.account_id))
        hits = _post_hits(repo, post, s.account, policy)
        s.media_hits += hits
        s.findings += findings_for(extracted, f"post:{post.id}")
        for k, m in keyword_hits(post.text, keywords):
            s.keywords.setdefault(k, m)
        tags = set(post.hashtags) | set(tags_in_text(post.text))
        s.tags |= tags
        for t in tags:
            tag_posts[t] += 1
            if hits:
                tag_flagged[t] += 1

    flagged_tags = {
        t: (f, tag_posts[t])
        for t, f in tag_flagged.items()
        if f >= options.flagged_tag_min_posts and f / tag_posts[t] >= options.flagged_tag_min_share
    }
    states = repo.lead_states()
    kw_weight = {k.id: k.weight for k in keywords}
    leads = []
    for account_id, s in signals.items():
        if s.media_hits and s.destinations:
            lid = lead_id_for(account_id)
            leads.append(
                _make_lead(lid, s, registry, kw_weight, flagged_tags, states.get(lid, {}).get("state", "unverified"))
            )
    leads.sort(key=lambda lead: (-lead.score, lead.account_id))
    clusters = find_clusters(signals, {lead.account_id for lead in leads}, set(flagged_tags), options)
    by_account = {lead.account_id: lead for lead in leads}
    for c in clusters:
        for m in c.members:
            if m in by_account:
                by_account[m].cluster_id = c.id
    stats = {
        "accounts": len(signals),
        "posts": n_posts,
        "leads": len(leads),
        "clusters": len(clusters),
        "accounts_with_media_hits": sum(1 for s in signals.values() if s.media_hits),
        "accounts_with_destinations": sum(1 for s in signals.values() if s.destinations),
    }
    return Analysis(leads, clusters, flagged_tags, signals, stats)


def _make_lead(
    lead_id: str,
    s: AccountSignals,
    registry: DestinationRegistry,
    kw_weight: dict[str, float],
    flagged_tags: dict[str, tuple[int, int]],
    state: str,
) -> Lead:
    evidence: list[dict] = []
    for h in s.media_hits:
        evidence.append(
            {
                "kind": "media_hit",
                "post_id": h["post_id"],
                "media": h["media"],
                "sha256": h["sha256"],
                "hit": h["kind"],
                "action": h["action"],
                "priority": h["priority"],
                "reason": h["reason"],
                "rules": h["rules"],
                "banks": h["banks"],
                "synthetic": h["synthetic"],
            }
        )
    dests = _unique(s.destinations)
    for f in dests:
        evidence.append(
            {
                "kind": "destination",
                "where": f["where"],
                "url": f["url"],
                "canonical": f["canonical"],
                "category": f["category"],
                "platform": f["platform"],
                "obfuscated": f["obfuscated"],
                "decoded_from": f["decoded_from"],
                "list_matches": f["list_matches"],
            }
        )
    for k, m in sorted(s.keywords.items()):
        evidence.append({"kind": "keyword", "keyword": k, "matched": m})
    tags = sorted(s.tags & set(flagged_tags))
    for t in tags:
        evidence.append({"kind": "hashtag", "tag": t, "flagged_posts": flagged_tags[t][0], "posts": flagged_tags[t][1]})

    score = BASE_SCORE + min(0.2, 0.1 * len(s.media_hits))
    categories = {f["category"] for f in dests if f["category"]}
    score += min(0.2, sum(registry.categories[c].weight for c in categories if c in registry.categories))
    score += 0.1 if any(f["list_matches"] for f in dests) else 0.0
    score += min(0.1, sum(kw_weight.get(k, 0.0) for k in s.keywords))
    score += 0.05 if tags else 0.0
    # Disguising a link is a deliberate act to get past filters.
    score += 0.05 if any(f["obfuscated"] or f["decoded_from"] for f in dests) else 0.0
    return Lead(
        lead_id,
        s.account.id,
        s.account.handle,
        s.account.display_name,
        round(min(score, 0.99), 2),
        state,
        evidence,
        dests,
        s.media_hits,
        dict(s.keywords),
        tags,
    )


def _unique(findings: list[dict]) -> list[dict]:
    # One entry per destination whatever the scheme; https wins as the more
    # likely real address when a disguised spelling dropped it.
    best: dict[str, dict] = {}
    for f in findings:
        key = f["canonical"].split("://", 1)[-1]
        if key not in best or (f["canonical"].startswith("https:") and not best[key]["canonical"].startswith("https:")):
            best[key] = f
    return list(best.values())
