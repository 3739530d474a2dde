"""What a signal type is: the one definition every other module reads.

A signal type is a kind of hash Tripline can bank and match (PDQ, MD5, ...).
Everything that differs between types lives here, so adding one is a new
``SignalType`` registered by a plug-in, not an edit to the matcher, the bank
formats, the HMA routes and the policy schema.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class SignalIndex(Protocol):
    """Entries (id, value) in, every entry within ``threshold`` out."""

    def add(self, entries: Iterable[tuple[int, str]]) -> None: ...

    def query(self, value: str, threshold: int) -> list[tuple[int, int]]:
        """(entry id, distance) of every entry at distance <= threshold,
        nearest first, ties by id."""
        ...


@dataclass(frozen=True)
class BankParam:
    """A per-bank setting a signal type needs (PDQ's distance threshold and
    quality gate), with the range the store accepts."""

    name: str
    default: int
    low: int
    high: int
    help: str = ""

    def check(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not self.low <= value <= self.high:
            raise ValueError(f"{self.name} must be an integer in {self.low}..{self.high}, got {value!r}")
        return value


@dataclass(frozen=True)
class SignalType:
    name: str
    description: str
    normalise: Callable[[str], str]
    """Canonical form of a value; raises ValueError with a readable reason."""
    distance: Callable[[str, str], int]
    """0 for identical signals; what an index's threshold is compared with."""
    index_factory: Callable[[Path], SignalIndex]
    """A fresh index whose files (if any) live under the given directory."""
    example: Callable[[random.Random], str]
    """A random valid value (conformance tests and demos)."""
    aliases: frozenset[str] = frozenset()
    """Other names python-threatexchange, HMA and hash lists use."""
    content_types: tuple[str, ...] = ("photo",)
    default_threshold: int = 0
    params: tuple[BankParam, ...] = ()
    invalid_examples: tuple[str, ...] = ()
    exact_only: bool = False
    """Only identical values match (distance is 0 or 1; no threshold applies)."""
    banked_as_entry: bool = True
    """Stored as a row of bank_entries (False: the type has its own table)."""
    near: Callable[[str, random.Random, int], str] | None = None
    """A value at distance <= the given one from the first (for index tests)."""
    hex_digits: int | None = None
    """Length of a plain hex value, when the type is one (bare hash lists)."""
    names: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", frozenset({self.name, *self.aliases}))

    def validate(self, value: str) -> str:
        if not isinstance(value, str):
            raise ValueError(f"a {self.name} value is a string, got {type(value).__name__}")
        return self.normalise(value)

    def param(self, name: str) -> BankParam:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)


class BruteForceIndex:
    """Every entry compared with the query: the reference any faster index
    must agree with, and the index of types whose banks stay small."""

    def __init__(self, distance: Callable[[str, str], int]):
        self._distance = distance
        self._entries: list[tuple[int, str]] = []

    def add(self, entries: Iterable[tuple[int, str]]) -> None:
        self._entries.extend(entries)

    def query(self, value: str, threshold: int) -> list[tuple[int, int]]:
        hits = [(i, self._distance(value, v)) for i, v in self._entries]
        return sorted(((i, d) for i, d in hits if d <= threshold), key=lambda h: (h[1], h[0]))


class ExactIndex:
    """Hash lookup for types that only match identical values (MD5, SHA-256)."""

    def __init__(self) -> None:
        self._by_value: dict[str, list[int]] = {}

    def add(self, entries: Iterable[tuple[int, str]]) -> None:
        for i, v in entries:
            self._by_value.setdefault(v, []).append(i)

    def query(self, value: str, threshold: int) -> list[tuple[int, int]]:
        return [(i, 0) for i in sorted(self._by_value.get(value, ()))]


def hex_normaliser(name: str, digits: int) -> Callable[[str], str]:
    allowed = frozenset("0123456789abcdef")

    def normalise(value: str) -> str:
        v = value.strip().lower()
        if len(v) != digits or not allowed.issuperset(v):
            raise ValueError(f"invalid {name} value {value.strip()[:80]!r}: expected {digits} hex digits")
        return v

    return normalise


def random_hex(digits: int) -> Callable[[random.Random], str]:
    return lambda rng: "".join(rng.choice("0123456789abcdef") for _ in range(digits))


def exact_distance(a: str, b: str) -> int:
    return 0 if a == b else 1


def exact_hex_type(
    name: str,
    digits: int,
    description: str,
    aliases: Iterable[str] = (),
    content_types: tuple[str, ...] = ("photo", "video"),
) -> SignalType:
    """A cryptographic digest of the file's bytes: fixed-length hex, identical values only."""
    return SignalType(
        name=name,
        description=description,
        normalise=hex_normaliser(name, digits),
        distance=exact_distance,
        index_factory=lambda _directory: ExactIndex(),
        example=random_hex(digits),
        aliases=frozenset(aliases),
        content_types=content_types,
        invalid_examples=("", "0" * (digits - 1), "z" * digits, "0" * (digits + 1)),
        exact_only=True,
        hex_digits=digits,
    )
