"""Text normalisation for keyword matching.

People who want a filter to miss a word write it in ways a reader still
understands: look-alike letters from other scripts (Cyrillic "а" for Latin
"a"), leetspeak ("t33n"), separators between the letters ("n.a.m.e"),
zero-width characters, styled Unicode letters, emoji, and, in generator
prompts, weight syntax ("(word:1.2)", "[word]", "<lora:name:0.8>"). Every
matcher in Tripline compares normalised text with normalised terms, so the
same function runs on both sides and a term list never has to spell out
these variants.

``normalise`` is idempotent (a property test pins this): its output is a
space-separated sequence of tokens, each already in canonical form.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["LEET", "normalise", "token_forms", "tokens"]

# Characters that are invisible when rendered and are only ever inserted
# inside a word to split it for a machine: removed, not turned into spaces.
_INVISIBLE = dict.fromkeys(
    [0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF, 0xFFA0]
    + list(range(0x200B, 0x2010))
    + list(range(0x202A, 0x202F))
    + list(range(0x2060, 0x2070))
    + list(range(0xFE00, 0xFE10))  # variation selectors
    + list(range(0xE0000, 0xE0080))  # tag characters (emoji flags)
    + list(range(0xE0100, 0xE01F0)),  # variation selectors supplement
    None,
)

# Letter-shaped emoji stand for letters: regional indicators, squared and
# negative circled/squared Latin capitals. NFKC leaves these alone.
_LETTER_EMOJI = {}
for _base in (0x1F1E6, 0x1F130, 0x1F150, 0x1F170):
    for _i in range(26):
        _LETTER_EMOJI[_base + _i] = chr(ord("a") + _i)

# A few emoji carry the meaning a term list cares about; they become the
# word (ordinary vocabulary only). Every other emoji becomes a separator.
_EMOJI_WORDS = {
    "\U0001f476": " baby ",  # baby
    "\U0001f9d2": " child ",  # child
    "\U0001f466": " boy ",  # boy
    "\U0001f467": " girl ",  # girl
    "\U0001f6b8": " children ",  # children crossing
    "\U0001f3eb": " school ",  # school
    "\U0001f392": " school ",  # school backpack
    "\U0001f37c": " baby ",  # baby bottle
    "\U0001f51e": " nsfw ",  # no one under eighteen
}

_EMOJI_RANGES = (
    (0x1F000, 0x1FAFF),
    (0x2600, 0x27BF),
    (0x2B00, 0x2BFF),
    (0x2190, 0x21FF),
    (0x2300, 0x23FF),
    (0x25A0, 0x25FF),
    (0x1F3FB, 0x1F3FF),
    (0x20E3, 0x20E3),
)

_TRANSLATE: dict[int, str | None] = {}
for _lo, _hi in _EMOJI_RANGES:
    for _cp in range(_lo, _hi + 1):
        _TRANSLATE[_cp] = " "
_TRANSLATE.update(_INVISIBLE)
_TRANSLATE.update({cp: ch for cp, ch in _LETTER_EMOJI.items()})
_TRANSLATE.update({ord(k): v for k, v in _EMOJI_WORDS.items()})

# Letters from other scripts that render like Latin ones (a subset of
# Unicode's confusables.txt, lower case because matching casefolds first).
# Applied only to tokens that mix scripts or are made entirely of
# look-alikes, so ordinary Cyrillic or Greek text is left alone.
_CONFUSABLES = {
    # Cyrillic
    "а": "a",
    "в": "b",
    "е": "e",
    "ё": "e",
    "і": "i",
    "ї": "i",
    "ј": "j",
    "к": "k",
    "м": "m",
    "н": "h",
    "о": "o",
    "р": "p",
    "с": "c",
    "т": "t",
    "у": "y",
    "х": "x",
    "ѕ": "s",
    "ԁ": "d",
    "ԛ": "q",
    "ԝ": "w",
    "һ": "h",
    "ӏ": "l",
    "ь": "b",
    "ɡ": "g",
    # Greek
    "α": "a",
    "β": "b",
    "ε": "e",
    "η": "n",
    "ι": "i",
    "κ": "k",
    "ν": "v",
    "ο": "o",
    "ρ": "p",
    "τ": "t",
    "υ": "u",
    "χ": "x",
    "γ": "y",
    "ω": "w",
    # Latin look-alikes outside ASCII
    "ı": "i",
    "ȷ": "j",
    "ɑ": "a",
    "ɩ": "i",
    "ɪ": "i",
    "ʏ": "y",
    "ᴀ": "a",
    "ᴇ": "e",
    "ᴋ": "k",
    "ᴏ": "o",
    "ᴛ": "t",
    "ᴜ": "u",
    "ʀ": "r",
    "ɴ": "n",
    "ꜱ": "s",
    "ᴅ": "d",
    "ᴄ": "c",
    "ɢ": "g",
    "ʜ": "h",
    "ʟ": "l",
    "ᴍ": "m",
    "ᴘ": "p",
    "ᴡ": "w",
    "ᴢ": "z",
}
_CONF_TABLE = str.maketrans(_CONFUSABLES)

LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g", "@": "a", "$": "s", "!": "i"}
_LEET_TABLE = str.maketrans(LEET)
_LEET_CHARS = frozenset(LEET)

# Prompt syntax. LoRA/embedding tags keep their name (it can be a signal),
# attention weights like ":1.2" are dropped; brackets and the remaining
# punctuation are separators for the tokenizer anyway.
# Bounded and "<"-free body: unbounded, "<lora:" x 33,000 was quadratic (13 s per prompt).
_NETWORK_TAG = re.compile(
    r"<\s*(?:lora|lyco|lycoris|hypernet|hypernetwork|embedding|ti)\s*:\s*([^:<>]{0,256})[^<>]{0,512}>"
)
_WEIGHT = re.compile(r":\s*[-+]?(?:\d+\.?\d*|\.\d+)(?![\w@$!])")
_EMBEDDING = re.compile(r"\bembedding:")

# Combining marks are part of a word in many scripts (Devanagari vowel
# signs, Arabic harakat); Python's \w does not include them.
_MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670"
    "\u06d6-\u06ed\u0900-\u0dff\u0e00-\u0e7f\u0f00-\u0fff\u1ab0-\u1aff\u1dc0-\u1dff"
    "\u20d0-\u20ff\ufe20-\ufe2f"
)
_TOKEN = re.compile(rf"(?:[^\W_]|[{_MARKS}@$!])+")
_NEEDS_LEET = re.compile(r"[0-9@$!]")
_EDGE_SYMBOLS = "@$!"
# Zalgo and accents over Latin letters: stripped so "é" matches "e".
_LATIN_MARK = re.compile(r"(?<=[a-zA-Z])[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def _unicode_fold(text: str) -> str:
    # NFKC maps styled and full-width letters to plain ones; casefold after
    # it can produce text NFKC would change again, so repeat to a fixpoint.
    for _ in range(3):
        folded = unicodedata.normalize("NFKC", text).casefold()
        if folded == text:
            break
        text = folded
    return text


def _strip_latin_marks(text: str) -> str:
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    stripped = _LATIN_MARK.sub("", decomposed)
    return unicodedata.normalize("NFC", stripped) if stripped != decomposed else text


def _unconfuse(tok: str) -> str:
    mapped = tok.translate(_CONF_TABLE)
    if mapped == tok:
        return tok
    # Mixed script ("nаme" with a Cyrillic а) or made only of look-alikes.
    if any("a" <= c <= "z" for c in tok) or mapped.isascii():
        return mapped
    return tok


def _deleet_interior(tok: str) -> str:
    # Only digits and symbols between letters are read as letters: "t33n"
    # is a word, while "1girl", "512x512" and "v2" keep their digits (the
    # matcher still tries a fully de-leeted form, see token_forms).
    if not _NEEDS_LEET.search(tok):
        return tok
    letters = [i for i, c in enumerate(tok) if c.isalpha()]
    if not letters:
        return tok
    lo, hi = letters[0], letters[-1]
    return tok[:lo] + tok[lo : hi + 1].translate(_LEET_TABLE) + tok[hi + 1 :]


# Prompts reuse a small vocabulary, so per-token work is cached; only for
# short tokens, so hostile input cannot fill memory with huge cache keys.
_CACHE_MAX_LEN = 48


def _canonical_token(tok: str) -> str:
    return _canonical_cached(tok) if len(tok) <= _CACHE_MAX_LEN else _canonical_uncached(tok)


def _canonical_uncached(tok: str) -> str:
    tok = tok.strip(_EDGE_SYMBOLS)
    if not tok:
        return tok
    tok = _strip_latin_marks(_unconfuse(_deleet_interior(tok)))
    # Merged spelled-out letters can form new compositions; keep tokens in
    # the folded form a second pass would produce.
    return tok if tok.isascii() else _unicode_fold(tok)


def _merge_spelled_out(toks: list[str], spaced: list[bool]) -> list[str]:
    # "n a m e", "n.a.m.e", "n-a-m-e": runs of three or more one-character
    # tokens with at least two letters are one word spelled out. When the
    # letters are joined by punctuation, a gap with white space in it is a
    # word boundary ("a.b.c d.e.f" is two words). Merged words are never
    # single characters, so a second pass finds nothing to merge.
    out: list[str] = []
    start = 0
    n = len(toks)
    while start < n:
        if len(toks[start]) != 1:
            out.append(toks[start])
            start += 1
            continue
        end = start
        while end + 1 < n and len(toks[end + 1]) == 1:
            end += 1
        run = toks[start : end + 1]
        if len(run) < 3 or sum(c.isalpha() for c in run) < 2:
            out.extend(run)
        else:
            pieces = [[run[0]]]
            punctuated = not all(spaced[start + 1 : end + 1])
            for k in range(start + 1, end + 1):
                if punctuated and spaced[k]:
                    pieces.append([])
                pieces[-1].append(toks[k])
            if any(len(p) < 3 for p in pieces):
                pieces = [run]
            out.extend(_canonical_token("".join(p)) for p in pieces)
        start = end + 1
    return out


def tokens(text: str, *, split_camel: bool = False) -> list[str]:
    """The normalised tokens of ``text`` (``normalise(text).split()``)."""
    if not text:
        return []
    if split_camel:
        # Hashtags run words together as CamelCase; split before casefolding.
        text = _CAMEL.sub(" ", text)
    text = unicodedata.normalize("NFKC", text).translate(_TRANSLATE)
    text = _strip_latin_marks(_unicode_fold(text))
    if "<" in text:
        text = _NETWORK_TAG.sub(r" \1 ", text)
    if ":" in text:
        text = _EMBEDDING.sub(" ", _WEIGHT.sub(" ", text))
    toks: list[str] = []
    spaced: list[bool] = []  # the gap before each token holds white space
    prev_end = 0
    for m in _TOKEN.finditer(text):
        tok = _canonical_token(m.group())
        if not tok:
            continue
        gap = text[prev_end : m.start()]
        spaced.append(not gap or any(c.isspace() for c in gap))
        toks.append(tok)
        prev_end = m.end()
    return _merge_spelled_out(toks, spaced)


def normalise(text: str, *, split_camel: bool = False) -> str:
    """Canonical form of ``text`` for matching: NFKC, casefolded, confusables
    and leetspeak resolved, separators and prompt syntax removed, tokens
    joined by single spaces."""
    return " ".join(tokens(text, split_camel=split_camel))


def _token_forms(tok: str) -> tuple[str, ...]:
    if not _NEEDS_LEET.search(tok):
        if len(tok) > 3 and tok.endswith("s"):
            return (tok, tok[:-1])
        return (tok,)
    forms = [tok, tok.translate(_LEET_TABLE), tok.strip("0123456789")]
    more = [f[:-1] for f in forms if len(f) > 3 and f.endswith("s")]
    return tuple(dict.fromkeys(f for f in forms + more if f))


_canonical_cached = lru_cache(maxsize=1 << 16)(_canonical_uncached)
_forms_cached = lru_cache(maxsize=1 << 16)(_token_forms)


def token_forms(tok: str) -> tuple[str, ...]:
    """The spellings a token may stand for when looked up in a term list:
    itself, fully de-leeted ("5chool"), without digits at its edges
    ("1girl" -> "girl"), and without a plural "s"."""
    return _forms_cached(tok) if len(tok) <= _CACHE_MAX_LEN else _token_forms(tok)
