"""Finding URLs in free text, including the disguised ones.

Accounts that promote paywalled material spell links so that naive filters
miss them: ``example[.]com``, ``example dot com``, ``example . com``,
``hxxps://``, full-width letters, Cyrillic look-alikes, zero-width spaces.
We undo those spellings on a working copy of the text, then find URLs in it.
Pure text processing: nothing is resolved or fetched.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from tripline.links.tlds import TLDS, WORDLIKE

# Latin look-alikes from Cyrillic and Greek. Applied only inside tokens that
# already contain ASCII letters, so genuine Cyrillic or Greek prose is left as is.
_HOMOGLYPHS = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
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
        "і": "i",
        "ј": "j",
        "ԁ": "d",
        "ɡ": "g",
        "ո": "n",
        "ս": "u",
        "ӏ": "l",
        "А": "A",
        "В": "B",
        "Е": "E",
        "К": "K",
        "М": "M",
        "Н": "H",
        "О": "O",
        "Р": "P",
        "С": "C",
        "Т": "T",
        "Х": "X",
        "Ѕ": "S",
        "І": "I",
        "Ј": "J",
        "α": "a",
        "ο": "o",
        "ρ": "p",
        "ν": "v",
        "τ": "t",
        "ι": "i",
        "κ": "k",
        "ε": "e",
        "υ": "u",
        "Α": "A",
        "Β": "B",
        "Ε": "E",
        "Ζ": "Z",
        "Η": "H",
        "Ι": "I",
        "Κ": "K",
        "Μ": "M",
        "Ν": "N",
        "Ο": "O",
        "Ρ": "P",
        "Τ": "T",
        "Υ": "Y",
        "Χ": "X",
    }
)
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060-\u2064\ufeff]")
_TOKEN = re.compile(r"\S+")
_ASCII_LETTER = re.compile(r"[A-Za-z]")

_TLD_ALT = "|".join(sorted(TLDS, key=len, reverse=True))
_STRONG_TLDS = TLDS - WORDLIKE
_LABEL = r"[^\W_](?:[\w-]{0,62})"

_REWRITES: list[tuple[re.Pattern, object]] = [
    (re.compile(r"\bh(?:xx|XX|\*\*|tt)p(s?)\b", re.IGNORECASE), r"http\1"),
    (re.compile(r"[\[\(\{<]\s*:\s*[\]\)\}>]"), ":"),
    (re.compile(r"[\[\(\{<]\s*/\s*[\]\)\}>]"), "/"),
    (re.compile(r"\s*[\[\(\{<]\s*(?:\.|dot)\s*[\]\)\}>]\s*", re.IGNORECASE), "."),
    # "example dot com", "www dot example dot co dot uk"
    (re.compile(rf"(?<=[^\W_])\s+dot\s+(?=(?:{_LABEL}\s+dot\s+){{0,6}}(?:{_TLD_ALT})(?![\w-]))", re.IGNORECASE), "."),
    # "example . com", "example .com", "example. com" (not before word-like TLDs)
    (
        re.compile(r"(?<=[^\W_])(?:\s+\.\s*|\.\s+)(?=([A-Za-z]{2,24})(?![\w.-]))"),
        lambda m: "." if m.group(1).lower() in _STRONG_TLDS else m.group(0),
    ),
]
# Cheap tests that let prose without any disguise skip the costly rewrites.
_NEEDS: list[tuple[str, ...]] = [("xx", "**", "htt"), (":",), ("/",), ("[", "(", "{", "<"), ("dot",), (" .", ". ")]
# "p a t r e o n . c o m": a domain spelled one character at a time.
# Bounded at a DNS label's 63 characters: an unbounded run made every start
# in a long "a a a a ..." scan to its end (quadratic in the text).
_LETTER_SPACED = re.compile(r"(?<!\S)((?:[^\W_] ){2,62}[^\W_]) ?\. ?((?:[A-Za-z] ){1,5}[A-Za-z])(?!\S)")


def _join_letters(m: re.Match) -> str:
    tld = m.group(2).replace(" ", "")
    return m.group(1).replace(" ", "") + "." + tld if tld.lower() in TLDS else m.group(0)


_SLASH = re.compile(rf"(\.(?:{_TLD_ALT}))\s+(?:slash|/)\s+(?=[\w@+-])", re.IGNORECASE)

_URL = re.compile(
    rf"""(?P<scheme>\b[a-z][a-z0-9+.\-]{{0,31}}://[^\s<>"'`]+)
      | (?P<ip>(?<![\w.])\d{{1,3}}(?:\.\d{{1,3}}){{3}}(?::\d{{1,5}})?[/?][^\s<>"'`]*)
      | (?P<bare>(?<![@\w.\-/])(?:{_LABEL}\.)+[a-z]{{2,24}}(?![\w\-])(?::\d{{1,5}})?(?:[/?#][^\s<>"'`]*)?)
    """,
    re.IGNORECASE | re.VERBOSE,
)
_TRAILING = ".,;:!?'\"*_~"
_PAIRS = {")": "(", "]": "[", "}": "{", ">": "<"}


@dataclass(frozen=True)
class Link:
    url: str  # the link as written once the disguise is undone
    obfuscated: bool  # the text did not contain it literally


def deobfuscate(text: str) -> str:
    t = unicodedata.normalize("NFKC", text)
    t = _INVISIBLE.sub("", t)
    if not t.isascii():
        t = _TOKEN.sub(
            lambda m: (
                m.group(0).translate(_HOMOGLYPHS)
                if not m.group(0).isascii() and _ASCII_LETTER.search(m.group(0))
                else m.group(0)
            ),
            t,
        )
    if " . " in t or ". " in t or " ." in t:
        t = _LETTER_SPACED.sub(_join_letters, t)
    lower = t.lower()
    for (pattern, repl), needs in zip(_REWRITES, _NEEDS, strict=True):
        if any(n in lower for n in needs):
            t = pattern.sub(repl, t)
    if "slash" in lower or " / " in t:
        t = _SLASH.sub(r"\1/", t)
    return t


def _bare_domain(url: str) -> str | None:
    """Cut a scheme-less match back to its last label that is a real TLD:
    "example.com.Then" (a missing space) is "example.com"."""
    cut = len(url)
    for ch in ":/?#":
        i = url.find(ch)
        if i != -1:
            cut = min(cut, i)
    labels = url[:cut].split(".")
    for i in range(len(labels) - 1, 0, -1):
        if labels[i].lower() in TLDS:
            return url if i == len(labels) - 1 else ".".join(labels[: i + 1])
    return None


def _trim(url: str) -> str:
    while url:
        last = url[-1]
        if last in _TRAILING or last in _PAIRS and url.count(last) > url.count(_PAIRS[last]):
            url = url[:-1]
        else:
            break
    return url


# Posts, captions and bios are far shorter; the cap bounds the work one
# hostile string can cost (the patterns are linear, but not free).
MAX_TEXT_CHARS = 64 * 1024


def extract(text: str) -> list[Link]:
    """Every URL in the first MAX_TEXT_CHARS of ``text``, in order of
    appearance, without duplicates."""
    if not text:
        return []
    text = text[:MAX_TEXT_CHARS]
    clean = deobfuscate(text)
    seen: set[str] = set()
    out = []
    for m in _URL.finditer(clean):
        url = _trim(m.group(0))
        if m.group("bare") and url:
            url = _bare_domain(url)
        if not url or url.endswith("://") or url in seen:
            continue
        seen.add(url)
        out.append(Link(url, url not in text))
    return out


def extract_links(text: str) -> list[str]:
    """The URLs in ``text`` as strings (see :func:`extract` for the disguise flag)."""
    return [link.url for link in extract(text)]
