"""Text normalisation, term lists and co-occurrence rules for prompts,
captions, hashtags and bios."""

from tripline.text.lexicon import Lexicon, LexiconError, parse_terms
from tripline.text.normalise import normalise, token_forms, tokens
from tripline.text.rules import KINDS, TextHit, TextRule, TextRules

__all__ = [
    "KINDS",
    "Lexicon",
    "LexiconError",
    "TextHit",
    "TextRule",
    "TextRules",
    "normalise",
    "parse_terms",
    "token_forms",
    "tokens",
]
