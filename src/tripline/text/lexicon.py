"""Term lists ("lexicons") and finding their terms in normalised tokens.

An operator-supplied list uses the format hotline keyword lists are shared
in: UTF-8 text, one term per line. Blank lines and lines starting with
``#`` are ignored, a byte-order mark and Windows line endings are accepted.
A term may be several words (matched as consecutive tokens) and may end in
``*`` to match any token starting with it. Terms go through the same
``normalise`` as the text, so a list never needs leetspeak or look-alike
variants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tripline.text.normalise import token_forms, tokens

__all__ = ["Lexicon", "LexiconError", "parse_terms"]


class LexiconError(ValueError):
    pass


def parse_terms(text: str, *, source: str = "<terms>") -> list[str]:
    """Terms of a one-term-per-line keyword list."""
    terms = []
    for lineno, line in enumerate(text.lstrip("\ufeff").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not tokens(line.rstrip("*")):
            raise LexiconError(f"{source}:{lineno}: term {line!r} has no letters or digits after normalisation")
        terms.append(line)
    return terms


@dataclass(frozen=True)
class Hit:
    start: int  # token index where the term starts
    term: str  # the term as listed


@dataclass
class Lexicon:
    name: str
    terms: tuple[str, ...]
    _single: dict[str, str] = field(default_factory=dict, repr=False)
    _phrases: dict[str, list[tuple[tuple[str, ...], str]]] = field(default_factory=dict, repr=False)
    _prefixes: dict[int, dict[str, str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.terms = tuple(self.terms)
        if not self.terms:
            raise LexiconError(f"lexicon {self.name!r} has no terms")
        for term in self.terms:
            prefix = term.endswith("*")
            toks = tokens(term.rstrip("*"))
            if not toks:
                raise LexiconError(f"lexicon {self.name!r}: term {term!r} has no letters or digits after normalisation")
            if prefix:
                if len(toks) != 1:
                    raise LexiconError(f"lexicon {self.name!r}: prefix term {term!r} must be one word")
                self._prefixes.setdefault(len(toks[0]), {})[toks[0]] = term
            elif len(toks) == 1:
                self._single.setdefault(toks[0], term)
            else:
                self._phrases.setdefault(toks[0], []).append((tuple(toks), term))

    def index(self):
        """(single words, phrases by first word, prefixes by length), all
        normalised, for matchers that combine several lexicons."""
        return self._single, self._phrases, self._prefixes

    @classmethod
    def from_file(cls, path: str | Path, name: str | None = None) -> Lexicon:
        path = Path(path)
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LexiconError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
        return cls(name or path.stem, tuple(parse_terms(text, source=str(path))))

    def _term_at(self, toks: list[str], forms: list[tuple[str, ...]], i: int) -> str | None:
        # Phrases first, so "alpha one" is reported rather than "alpha".
        for form in forms[i]:
            for phrase, term in self._phrases.get(form, ()):
                n = len(phrase)
                if i + n <= len(toks) and all(p in forms[i + k] for k, p in enumerate(phrase[1:], 1)):
                    return term
        for form in forms[i]:
            term = self._single.get(form)
            if term is not None:
                return term
            for plen, table in self._prefixes.items():
                if len(form) >= plen and form[:plen] in table:
                    return table[form[:plen]]
        return None

    def find(self, toks: list[str], forms: list[tuple[str, ...]] | None = None) -> list[Hit]:
        """Every position in ``toks`` (normalised tokens) where a term starts."""
        if forms is None:
            forms = [token_forms(t) for t in toks]
        hits = []
        for i in range(len(toks)):
            term = self._term_at(toks, forms, i)
            if term is not None:
                hits.append(Hit(i, term))
        return hits
