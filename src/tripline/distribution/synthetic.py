"""A generated, benign test platform with planted distribution leads.

Nothing here is real: handles are random syllables, media are fake hashes
with scan-like records, and "flagged" only means the record says a bank
matched or the policy decided so. Used by the tests and the benchmark to
measure precision and recall where the truth is known.

Roles:
* ``lead``      flagged media + a paywall/invite destination (planted truth)
* ``helper``    shares a ring's invite link, no flagged media (cluster member, not a lead)
* ``creator``   decoy: paywall and tip links, tier/price wording, AI-art provenance, no hits
* ``flagged``   decoy: flagged media, but links only to social sites or a link-in-bio page
* ``ordinary``  decoy: everyday posts and links
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

_SYL = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qui", "do", "fen", "gar", "hol", "jin"]
_WORDS = [
    "sunset",
    "harbor",
    "maple",
    "pixel",
    "violet",
    "canyon",
    "lantern",
    "meadow",
    "cobalt",
    "ember",
    "willow",
    "quartz",
    "drift",
    "orchid",
    "tundra",
    "saffron",
    "glacier",
    "nimbus",
    "fable",
    "marble",
]
_COMMON_TAGS = ["art", "digitalart", "sketch", "landscape", "cats", "photography", "wip", "commission"]
_ORDINARY_LINKS = [
    "https://github.com/{h}",
    "https://www.youtube.com/@{h}",
    "https://en.wikipedia.org/wiki/Maple",
    "https://example.org/blog/{h}",
    "https://news.example.com/story/{n}",
]


def _name(rng: random.Random, n: int = 3) -> str:
    return "".join(rng.choice(_SYL) for _ in range(n))


def _digest(kind: str, seed: str) -> str:
    return hashlib.new(kind, seed.encode()).hexdigest()


@dataclass
class SyntheticPlatform:
    accounts: list[dict] = field(default_factory=list)
    posts: list[dict] = field(default_factory=list)
    media_records: list[dict] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)
    rings: list[set[str]] = field(default_factory=list)  # leads + helpers sharing an invite

    @property
    def planted_leads(self) -> set[str]:
        return {a for a, r in self.roles.items() if r == "lead"}

    def write(self, folder: str | Path) -> tuple[Path, Path]:
        """Write ``platform.jsonl`` and a scan-style ``results.jsonl``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        data, results = folder / "platform.jsonl", folder / "results.jsonl"
        with open(data, "w", encoding="utf-8") as f:
            f.writelines(json.dumps({"type": "account", **a}) + "\n" for a in self.accounts)
            f.writelines(json.dumps({"type": "post", **p}) + "\n" for p in self.posts)
        # As a scan of this folder would name them: by their full path.
        with open(results, "w", encoding="utf-8") as f:
            for r in self.media_records:
                full = str((folder / r["key"]).resolve())
                f.write(json.dumps({**r, "key": full, "path": full}) + "\n")
        return data, results


class _Builder:
    def __init__(self, seed: int, posts_per_account: int):
        self.rng = random.Random(seed)
        self.p = SyntheticPlatform()
        self.ppa = posts_per_account
        self.n_media = 0
        self.n_posts = 0
        self.used: set[str] = set()

    def unique(self, n: int = 4) -> str:
        """A fresh name: a chance collision would plant an unintended shared
        destination or hashtag, and with it an unplanned cluster."""
        for _ in range(50):
            name = _name(self.rng, n)
            if name not in self.used:
                break
        else:  # the syllable space is running out: a counter keeps it fresh
            name = f"{_name(self.rng, n)}{len(self.used)}"
        self.used.add(name)
        return name

    def account(self, role: str, bio: str = "", links: list[str] | None = None) -> str:
        i = len(self.p.accounts)
        aid = f"acct{i:06d}"
        handle = f"{_name(self.rng)}_{i}"
        self.p.accounts.append(
            {
                "id": aid,
                "handle": handle,
                "display_name": handle.split("_")[0].title(),
                "bio": bio,
                "links": links or [],
                "created": f"2026-0{1 + i % 9}-1{i % 10}T12:00:00Z",
            }
        )
        self.p.roles[aid] = role
        return aid

    def media(self, flag: str | None = None, synthetic: str = "none") -> str | dict:
        """A media reference plus its scan record. ``flag``: None, "hash"
        (bank match, no policy decision yet), "policy" (decision review with a
        prompt-text rule), "block", "allow", or "suppressed" (allow-listed)."""
        self.n_media += 1
        seed = f"media-{self.n_media}"
        sha, md5 = _digest("sha256", seed), _digest("md5", seed)
        path = f"media/{self.n_media:07d}.png"
        rec = {
            "key": path,
            "path": path,
            "sha256": sha,
            "md5": md5,
            "pdq": _digest("sha256", seed + "pdq"),
            "media_type": "image/png",
            "matches": [],
            "flagged": False,
            "provenance": {"synthetic": synthetic},
        }
        match = {
            "bank": "test-bank",
            "bank_kind": "match",
            "signal_type": "pdq",
            "entry_id": self.n_media,
            "value": rec["pdq"],
            "distance": 4,
            "variant": "original",
            "suppressed": False,
        }
        if flag in ("hash", "block"):
            rec["matches"] = [match]
            rec["flagged"] = True
        if flag == "suppressed":
            rec["matches"] = [
                {**match, "suppressed": True},
                {**match, "bank": "memes", "bank_kind": "allow", "distance": 0},
            ]
        if flag == "block":
            rec["decision"] = {
                "action": "block",
                "report_queue": True,
                "priority": "P1",
                "policy": {},
                "fired": [
                    {
                        "rule": "hash-match",
                        "action": "block",
                        "priority": "P1",
                        "reason": "hash match in test-bank",
                        "because": ["matches"],
                    }
                ],
            }
        elif flag == "policy":
            rec["provenance"] = {"synthetic": "declared"}
            rec["decision"] = {
                "action": "review",
                "report_queue": False,
                "priority": "P2",
                "policy": {},
                "fired": [
                    {
                        "rule": "synthetic-prompt-text",
                        "action": "review",
                        "priority": "P2",
                        "reason": "prompt text hit on AI-generated image",
                        "because": ["provenance"],
                    }
                ],
            }
        elif flag == "allow":
            rec["decision"] = {"action": "allow", "report_queue": False, "priority": None, "policy": {}, "fired": []}
        self.p.media_records.append(rec)
        # Platforms export either paths or hashes; use both.
        return sha if self.n_media % 2 else path

    def post(
        self, aid: str, text: str, tags: list[str], links: list[str] | None = None, media: list | None = None
    ) -> None:
        self.n_posts += 1
        self.p.posts.append(
            {
                "id": f"post{self.n_posts:07d}",
                "account_id": aid,
                "text": text,
                "hashtags": tags,
                "links": links or [],
                "media": media or [],
                "created": "2026-10-01T10:00:00Z",
            }
        )

    def filler(self, aid: str, n: int) -> None:
        rng = self.rng
        for _ in range(n):
            w = rng.sample(_WORDS, 2)
            self.post(
                aid,
                f"New {w[0]} study, a {w[1]} palette today.",
                rng.sample(_COMMON_TAGS, 2),
                media=[self.media(synthetic=rng.choice(["none", "none", "likely"]))],
            )


_LEAD_DEST = [
    "menu in bio: patreon[.]com/{h}",
    "full set on ko-fi dot com/{h}",
    "tiers below https://www.google.com/url?q=https%3A%2F%2Fwww.patreon.com%2F{h}&sa=D",
    "uncensored versions: pаtreon.com/{h}",  # Cyrillic "а"
    "support me: buymeacoffee . com/{h}",
    "files at hxxps://mega[.]nz/folder/{h}",
    "gold tier $15 at subscribestar.com/{h}",
]


def generate(
    n_accounts: int = 200,
    *,
    posts_per_account: int = 4,
    n_rings: int = 3,
    ring_size: int = 3,
    n_solo_leads: int = 4,
    seed: int = 7,
) -> SyntheticPlatform:
    b = _Builder(seed, posts_per_account)
    rng = b.rng
    ppa = posts_per_account
    flags = ["hash", "policy", "block"]

    for r in range(n_rings):
        invite = f"https://t.me/+ring{r}{b.unique()}"
        ring_tags = [f"{b.unique(3)}{r}x", f"{b.unique(3)}{r}y"]
        ring: set[str] = set()
        for k in range(ring_size):
            dest = _LEAD_DEST[(r * ring_size + k) % len(_LEAD_DEST)]
            aid = b.account(
                "lead",
                bio=dest.format(h=b.unique()) if k % 2 == 0 else "new sets weekly",
                links=[invite] if k % 2 == 0 else [],
            )
            link_text = "" if k % 2 == 0 else f" join {invite.replace('https://', '').replace('.', '[.]')}"
            b.post(
                aid,
                f"preview, {rng.choice(_WORDS)} series.{link_text}",
                ring_tags,
                media=[b.media(flag=flags[(r + k) % 3])],
            )
            b.post(aid, "more soon", ring_tags + [rng.choice(_COMMON_TAGS)], media=[b.media(flag="hash")])
            b.filler(aid, ppa - 2)
            ring.add(aid)
        helper = b.account("helper", bio=f"chat: {invite}")
        b.filler(helper, ppa)
        ring.add(helper)
        b.p.rings.append(ring)

    for k in range(n_solo_leads):
        h = b.unique()
        dest = _LEAD_DEST[(k + 3) % len(_LEAD_DEST)].format(h=h)
        aid = b.account("lead", bio="sketches and studies")
        b.post(aid, f"teaser, {dest}", [f"{h}solo", rng.choice(_COMMON_TAGS)], media=[b.media(flag=flags[k % 3])])
        b.filler(aid, ppa - 1)

    n_rest = max(0, n_accounts - len(b.p.accounts))
    for i in range(n_rest):
        role = ("creator", "flagged", "ordinary", "ordinary")[i % 4]
        h = b.unique()
        if role == "creator":
            # Legitimate creators use the same wording and destinations.
            aid = b.account(
                "creator",
                bio=f"full set of process videos on patreon.com/{h}, tier 2 gets PSDs",
                links=[f"https://ko-fi.com/{h}"],
            )
            b.post(
                aid,
                f"$5 tier gets the full res files! discord.gg/{h}",
                ["commission", "art"],
                media=[b.media(flag=rng.choice([None, "allow", "suppressed"]), synthetic="declared")],
            )
            b.filler(aid, ppa - 1)
        elif role == "flagged":
            # Links that are not paywalls or invites: an aggregator page, a
            # public channel, an opaque shortener, a video profile.
            bio = (f"links: linktr.ee/{h}", f"updates: t.me/{h}", f"more: bit.ly/{h}")[(i // 4) % 3]
            aid = b.account("flagged", bio=bio, links=[f"https://www.youtube.com/@{h}"])
            b.post(aid, "uncensored wip", [f"{h}tag", "wip"], media=[b.media(flag=rng.choice(flags))])
            b.filler(aid, ppa - 1)
        else:
            aid = b.account("ordinary", bio="I draw things", links=[rng.choice(_ORDINARY_LINKS).format(h=h, n=i)])
            b.post(aid, f"visit {h}.example.net for my portfolio", rng.sample(_COMMON_TAGS, 2), media=[b.media()])
            b.filler(aid, ppa - 1)
    return b.p
