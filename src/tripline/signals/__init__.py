"""Signal types as a registry: every module that needs to know which hash
types exist, what they are called elsewhere, how a value is checked or which
per-bank settings they take asks here.

>>> from tripline import signals
>>> signals.get("photo_pdq").name
'pdq'
>>> signals.entry_type_names()          # what bank_entries rows can hold
('pdq', 'md5', 'sha256')

The types come from the plug-ins (``tripline.plugins``), the built-in ones
(PDQ, MD5, SHA-256, vPDQ) through the same entry point as any other.
"""

from __future__ import annotations

from .builtin import BUILTIN_SIGNAL_TYPES, MD5, PDQ, SHA256, VPDQ
from .types import BankParam, BruteForceIndex, ExactIndex, SignalIndex, SignalType

__all__ = [
    "BUILTIN_SIGNAL_TYPES",
    "MD5",
    "PDQ",
    "SHA256",
    "VPDQ",
    "BankParam",
    "BruteForceIndex",
    "ExactIndex",
    "SignalIndex",
    "SignalType",
    "UnknownSignalType",
    "all_types",
    "entry_type_names",
    "exact_type_names",
    "get",
    "names",
    "resolve",
    "validate",
]


class UnknownSignalType(ValueError):
    pass


def all_types() -> tuple[SignalType, ...]:
    from tripline.plugins import registry

    return registry().signal_types


def names() -> tuple[str, ...]:
    return tuple(t.name for t in all_types())


def entry_type_names() -> tuple[str, ...]:
    """Types stored as bank_entries rows (vPDQ keeps its own tables)."""
    return tuple(t.name for t in all_types() if t.banked_as_entry)


def exact_type_names() -> tuple[str, ...]:
    """Entry types matched by identical value only (MD5, SHA-256)."""
    return tuple(t.name for t in all_types() if t.banked_as_entry and t.exact_only)


def resolve(name: str) -> SignalType | None:
    """The type called ``name`` or one of its aliases (case-insensitive)."""
    key = name.strip().lower() if isinstance(name, str) else ""
    for t in all_types():
        if key in t.names:
            return t
    return None


def get(name: str) -> SignalType:
    t = resolve(name)
    if t is None:
        raise UnknownSignalType(f"unknown signal type {name!r} (supported: {', '.join(names())})")
    return t


def validate(signal_type: str, value: str) -> str:
    """Canonical value of ``value`` as a ``signal_type``, or ValueError."""
    return get(signal_type).validate(value)
