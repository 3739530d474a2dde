"""Hash banks: lists of known content, their file formats, and matching."""

from tripline.banks.formats import FORMATS, FormatError, ParseReport, parse, validate_signal, write
from tripline.banks.matcher import LoadedBank, Match, Matcher, is_flagged
from tripline.banks.repository import BankError, Banks, ImportResult

__all__ = [
    "FORMATS",
    "BankError",
    "Banks",
    "FormatError",
    "ImportResult",
    "LoadedBank",
    "Match",
    "Matcher",
    "ParseReport",
    "is_flagged",
    "parse",
    "validate_signal",
    "write",
]
