"""Hash-list file formats: parse and write, no I/O beyond the text given.

Accepted on import:
  csv   signal_type,signal[,note]  (header optional), and python-threatexchange's
        `tx dataset -P --csv` export (signal_type,signal_str,collab,category,tags)
  tx    python-threatexchange's signal file, as read by its LocalFileSignalExchangeAPI
        and written by `tx dataset -P`: "signal_type signal [metadata...]" per line
  list  one hash per line; MD5 (32 hex) and SHA-256 (64 hex) are told apart by
        length, PDQ needs --signal-type pdq because it is also 64 hex digits
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

# Names python-threatexchange and HMA use for the signal types Tripline matches.
SIGNAL_ALIASES = {
    "pdq": "pdq", "hash_pdq": "pdq", "photo_pdq": "pdq",
    "md5": "md5", "photo_md5": "md5", "video_md5": "md5", "hash_md5": "md5",
    "sha256": "sha256", "sha-256": "sha256", "photo_sha256": "sha256", "video_sha256": "sha256",
    "hash_sha256": "sha256",
}
SIGNAL_TYPES = ("pdq", "md5", "sha256")
_HEX_LEN = {"pdq": 64, "md5": 32, "sha256": 64}
_HEX = re.compile(r"^[0-9a-f]+$")
FORMATS = ("csv", "tx", "list")


class FormatError(ValueError):
    pass


@dataclass
class ParseReport:
    """What an import skipped, so the user sees it instead of losing it silently."""
    bad_lines: list[tuple[int, str]] = field(default_factory=list)   # (line number, reason)
    unsupported: dict[str, int] = field(default_factory=dict)        # signal type -> count


def normalise_signal_type(name: str) -> str | None:
    return SIGNAL_ALIASES.get(name.strip().lower())


def validate_signal(signal_type: str, value: str) -> str:
    """Return the canonical (lowercase) value or raise ValueError."""
    v = value.strip().lower()
    want = _HEX_LEN.get(signal_type)
    if want is None:
        raise ValueError(f"unknown signal type {signal_type!r} (supported: {', '.join(SIGNAL_TYPES)})")
    if len(v) != want or not _HEX.match(v):
        raise ValueError(f"invalid {signal_type} value {value.strip()[:80]!r}: expected {want} hex digits")
    return v


def parse(
    lines: Iterable[str], fmt: str, report: ParseReport, *, signal_type: str | None = None
) -> Iterator[tuple[str, str, str | None]]:
    """Yield (signal_type, value, note) from the lines of a hash-list file."""
    if fmt not in FORMATS:
        raise FormatError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    forced = None
    if signal_type:
        forced = normalise_signal_type(signal_type)
        if forced is None:
            raise FormatError(f"unknown signal type {signal_type!r}")
    rows = _csv_rows(lines) if fmt == "csv" else _tx_rows(lines) if fmt == "tx" else _list_rows(lines, forced)
    for lineno, raw_type, value, note in rows:
        stype = forced or normalise_signal_type(raw_type)
        if stype is None:
            report.unsupported[raw_type] = report.unsupported.get(raw_type, 0) + 1
            continue
        try:
            yield stype, validate_signal(stype, value), (note or None)
        except ValueError as exc:
            report.bad_lines.append((lineno, str(exc)))


def _content_lines(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    for n, line in enumerate(lines, 1):
        line = line.strip().lstrip("\ufeff")
        if line and not line.startswith("#"):
            yield n, line


def _csv_rows(lines: Iterable[str]):
    header: list[str] | None = None
    for n, line in _content_lines(lines):
        cells = [c.strip() for c in next(csv.reader([line]))]
        if header is None and cells[0].lower() == "signal_type":
            header = [c.lower() for c in cells]
            continue
        if header and "signal_str" in header:
            # python-threatexchange's `tx dataset -P --csv` layout.
            row = dict(zip(header, cells))
            note = " ".join(x for x in (row.get("collab"), row.get("category"), row.get("tags")) if x)
            yield n, row.get("signal_type", ""), row.get("signal_str", ""), note
        elif len(cells) >= 2:
            yield n, cells[0], cells[1], ",".join(cells[2:])
        else:
            yield n, "", line, ""


def _tx_rows(lines: Iterable[str]):
    for n, line in _content_lines(lines):
        parts = line.split(None, 2)
        if len(parts) == 1:
            yield n, "", parts[0], ""
        else:
            yield n, parts[0], parts[1], parts[2] if len(parts) > 2 else ""


def _list_rows(lines: Iterable[str], forced: str | None):
    for n, line in _content_lines(lines):
        value = line.split()[0]
        guessed = forced or {32: "md5", 64: "sha256"}.get(len(value), "")
        yield n, guessed, value, ""


def write(entries: Iterable[tuple[str, str, str | None]], fmt: str) -> Iterator[str]:
    """Yield the lines of an export file (each ending in a newline)."""
    if fmt == "csv":
        yield "signal_type,signal,note\n"
        for stype, value, note in entries:
            yield _csv_line([stype, value, note or ""])
    elif fmt == "tx":
        for stype, value, _note in entries:
            yield f"{stype} {value}\n"
    elif fmt == "list":
        for _stype, value, _note in entries:
            yield f"{value}\n"
    else:
        raise FormatError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


def _csv_line(cells: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()
