"""The destination registry: which kind of service a link leads to.

It is data (``destinations.toml`` plus any operator files), not code, so that
trust-and-safety staff can add a service without a release.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tripline.links.canonical import CanonicalUrl, parse


@dataclass(frozen=True)
class Category:
    name: str
    description: str = ""
    lead_destination: bool = False
    weight: float = 0.0


@dataclass(frozen=True)
class Destination:
    host: str
    category: str
    platform: str | None = None
    path_prefix: str = ""
    account: str | None = None  # "path1" | "path2" | "subdomain"
    group: bool = False


@dataclass(frozen=True)
class Classification:
    category: str
    platform: str | None
    account: str | None  # account name on the destination, if the URL names one
    group: str | None  # group / invite identifier, if the URL is an invite
    lead_destination: bool
    weight: float


class RegistryError(ValueError):
    pass


class DestinationRegistry:
    def __init__(self, categories: dict[str, Category], destinations: list[Destination]):
        self.categories = dict(categories)
        self._by_host: dict[str, list[Destination]] = {}
        for d in destinations:
            if d.category not in self.categories:
                raise RegistryError(f"destination {d.host}{d.path_prefix}: unknown category {d.category!r}")
            rules = self._by_host.setdefault(d.host, [])
            rules[:] = [r for r in rules if r.path_prefix != d.path_prefix]  # later files win
            rules.append(d)
        for rules in self._by_host.values():
            rules.sort(key=lambda r: -len(r.path_prefix))

    @classmethod
    def load(cls, *extra: str | Path, include_default: bool = True) -> DestinationRegistry:
        texts = []
        if include_default:
            texts.append(resources.files("tripline.links").joinpath("destinations.toml").read_text("utf-8"))
        texts += [Path(p).read_text("utf-8") for p in extra]
        categories: dict[str, Category] = {}
        destinations: list[Destination] = []
        for text in texts:
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise RegistryError(f"registry file is not valid TOML: {exc}") from exc
            for name, c in data.get("categories", {}).items():
                categories[name] = Category(
                    name, c.get("description", ""), bool(c.get("lead_destination", False)), float(c.get("weight", 0.0))
                )
            for d in data.get("destination", []):
                try:
                    host = parse(d["host"]).host
                    destinations.append(
                        Destination(
                            host=host,
                            category=d["category"],
                            platform=d.get("platform"),
                            path_prefix=d.get("path_prefix", ""),
                            account=d.get("account"),
                            group=bool(d.get("group", False)),
                        )
                    )
                except KeyError as exc:
                    raise RegistryError(f"destination entry {d!r} lacks {exc}") from exc
        return cls(categories, destinations)

    def lead_categories(self) -> set[str]:
        return {c.name for c in self.categories.values() if c.lead_destination}

    def rule_for(self, c: CanonicalUrl) -> Destination | None:
        labels = c.host.split(".")
        for i in range(len(labels)):
            for rule in self._by_host.get(".".join(labels[i:]), ()):
                if c.path.startswith(rule.path_prefix):
                    return rule
        return None

    def classify(self, url: str | CanonicalUrl) -> Classification | None:
        c = url if isinstance(url, CanonicalUrl) else parse(url)
        rule = self.rule_for(c)
        if rule is None:
            return None
        cat = self.categories[rule.category]
        segments = (
            [s for s in c.path[len(rule.path_prefix) :].split("/") if s]
            if rule.group
            else [s for s in c.path.split("/") if s]
        )
        account = None
        if rule.account == "path1" and segments:
            account = segments[0].lstrip("@")
        elif rule.account == "path2" and len(segments) > 1:
            account = segments[1]
        elif rule.account == "subdomain" and c.host != rule.host and c.host.endswith("." + rule.host):
            account = c.host[: -len(rule.host) - 1].split(".")[-1]
        group = segments[0] if rule.group and segments else None
        return Classification(rule.category, rule.platform, account, group, cat.lead_destination, cat.weight)
