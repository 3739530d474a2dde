"""Text rules: which lexicons must appear in one text, and how close.

Three kinds, all evaluated on one text source at a time (a term in the
negative prompt never pairs with a term in the prompt: the negative prompt
lists what the user asked *not* to get):

- ``any``: a term of any of the named lexicons appears;
- ``all``: a term of every named lexicon appears, anywhere in the text;
- ``near``: a term of every named lexicon appears, each within ``within``
  tokens of a term of the first lexicon (co-occurrence, "A near B").
"""

from __future__ import annotations

from dataclasses import dataclass

from tripline.text.lexicon import Hit, Lexicon
from tripline.text.normalise import token_forms, tokens

__all__ = ["KINDS", "TextHit", "TextRule", "TextRules"]

KINDS = ("any", "all", "near")


@dataclass(frozen=True)
class TextRule:
    name: str
    kind: str  # any | all | near
    lexicons: tuple[str, ...]
    within: int | None = None  # near only: max distance in tokens


@dataclass(frozen=True)
class TextHit:
    rule: str
    source: str
    terms: tuple[str, ...]  # the listed terms that made the hit, sorted

    @property
    def detail(self) -> str:
        return f"{self.rule} in {self.source}: " + ", ".join(repr(t) for t in self.terms)


class TextRules:
    """Compiled lexicons and rules; ``scan`` is the hot path of the prompt gate."""

    def __init__(self, lexicons: dict[str, Lexicon], rules: list[TextRule]):
        self.lexicons = dict(lexicons)
        self.rules = list(rules)
        for rule in self.rules:
            missing = [n for n in rule.lexicons if n not in self.lexicons]
            if missing:
                raise KeyError(f"text rule {rule.name!r} names unknown lexicon(s) {', '.join(missing)}")
        used = sorted({n for r in self.rules for n in r.lexicons})
        # One index over every lexicon in use: each token is looked up once,
        # not once per lexicon (the prompt gate's hot loop).
        self._single: dict[str, list[tuple[str, str]]] = {}
        self._phrases: dict[str, list[tuple[tuple[str, ...], str, str]]] = {}
        self._prefixes: dict[int, dict[str, list[tuple[str, str]]]] = {}
        for name in used:
            single, phrases_by_first, prefixes = self.lexicons[name].index()
            for form, term in single.items():
                self._single.setdefault(form, []).append((name, term))
            for first, phrases in phrases_by_first.items():
                self._phrases.setdefault(first, []).extend((p, name, t) for p, t in phrases)
            for plen, table in prefixes.items():
                for prefix, term in table.items():
                    self._prefixes.setdefault(plen, {}).setdefault(prefix, []).append((name, term))
        self._used = used

    def _find_all(self, toks: list[str]) -> dict[str, list[Hit]]:
        forms = [token_forms(t) for t in toks]
        found: dict[str, list[Hit]] = {name: [] for name in self._used}
        n = len(toks)
        for i in range(n):
            here: dict[str, str] = {}
            # Per lexicon, a phrase beats a single word at the same position.
            if self._phrases:
                for form in forms[i]:
                    for phrase, name, term in self._phrases.get(form, ()):
                        if (
                            name not in here
                            and i + len(phrase) <= n
                            and all(p in forms[i + k] for k, p in enumerate(phrase[1:], 1))
                        ):
                            here[name] = term
            for form in forms[i]:
                for name, term in self._single.get(form, ()):
                    here.setdefault(name, term)
                for plen, table in self._prefixes.items():
                    if len(form) >= plen:
                        for name, term in table.get(form[:plen], ()):
                            here.setdefault(name, term)
            for name, term in here.items():
                found[name].append(Hit(i, term))
        return found

    def scan_tokens(self, toks: list[str], source: str) -> list[TextHit]:
        if not toks or not self.rules:
            return []
        found = self._find_all(toks)
        out = []
        for rule in self.rules:
            terms = _evaluate(rule, found)
            if terms:
                out.append(TextHit(rule.name, source, tuple(sorted(terms))))
        return out

    def scan(self, text: str | None, source: str = "text", *, split_camel: bool = False) -> list[TextHit]:
        if not text:
            return []
        return self.scan_tokens(tokens(text, split_camel=split_camel), source)


def _evaluate(rule: TextRule, found: dict[str, list[Hit]]) -> set[str]:
    hits = [found[n] for n in rule.lexicons]
    if rule.kind == "any":
        return {h.term for group in hits for h in group}
    if not all(hits):
        return set()
    if rule.kind == "all":
        return {h.term for group in hits for h in group}
    # near: anchor on each term of the first lexicon; every other lexicon
    # needs a term within the window of that same anchor.
    terms: set[str] = set()
    window = rule.within or 0
    for anchor in hits[0]:
        close = [[h for h in group if abs(h.start - anchor.start) <= window] for group in hits[1:]]
        if all(close):
            terms.add(anchor.term)
            terms.update(h.term for group in close for h in group)
    return terms
