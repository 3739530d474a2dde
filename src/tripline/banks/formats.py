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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from tripline import signals
from tripline.plugins.loader import registry
from tripline.plugins.manifest import ImportFormat

# The built-in formats; plug-ins may add more (tripline.plugins, docs/plugins.md).
FORMATS = ("csv", "tx", "list")


class FormatError(ValueError):
    pass


@dataclass
class ParseReport:
    """What an import skipped, so the user sees it instead of losing it silently."""

    bad_lines: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    unsupported: dict[str, int] = field(default_factory=dict)  # signal type -> count


def normalise_signal_type(name: str) -> str | None:
    """The canonical name of a type bank entries can hold, or None."""
    t = signals.resolve(name)
    return t.name if t is not None and t.banked_as_entry else None


def validate_signal(signal_type: str, value: str) -> str:
    """Return the canonical (lowercase) value or raise ValueError."""
    t = signals.resolve(signal_type)
    if t is None or not t.banked_as_entry:
        raise ValueError(f"unknown signal type {signal_type!r} (supported: {', '.join(signals.entry_type_names())})")
    return t.validate(value)


def _format(fmt: str) -> ImportFormat:
    found = registry().import_formats.get(fmt)
    if found is None:
        raise FormatError(f"unknown format {fmt!r} (choose from {', '.join(registry().import_formats)})")
    return found


def parse(
    lines: Iterable[str], fmt: str, report: ParseReport, *, signal_type: str | None = None
) -> Iterator[tuple[str, str, str | None]]:
    """Yield (signal_type, value, note) from the lines of a hash-list file."""
    rows_of = _format(fmt).rows
    forced = None
    if signal_type:
        forced = normalise_signal_type(signal_type)
        if forced is None:
            raise FormatError(f"unknown signal type {signal_type!r}")
    for lineno, raw_type, value, note in rows_of(lines, forced):
        if raw_type is None:  # the format could not read the line; value says why
            report.bad_lines.append((lineno, value))
            continue
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


def _csv_rows(lines: Iterable[str], _forced: str | None = None):
    header: list[str] | None = None
    for n, line in _content_lines(lines):
        cells = [c.strip() for c in next(csv.reader([line]))]
        if header is None and cells[0].lower() == "signal_type":
            header = [c.lower() for c in cells]
            continue
        if header and "signal_str" in header:
            # python-threatexchange's `tx dataset -P --csv` layout.
            row = dict(zip(header, cells, strict=False))  # short rows leave fields out
            note = " ".join(x for x in (row.get("collab"), row.get("category"), row.get("tags")) if x)
            yield n, row.get("signal_type", ""), row.get("signal_str", ""), note
        elif len(cells) >= 2:
            yield n, cells[0], cells[1], ",".join(cells[2:])
        else:
            yield n, "", line, ""


def _tx_rows(lines: Iterable[str], _forced: str | None = None):
    for n, line in _content_lines(lines):
        parts = line.split(None, 2)
        if len(parts) == 1:
            yield n, "", parts[0], ""
        else:
            yield n, parts[0], parts[1], parts[2] if len(parts) > 2 else ""


def _list_rows(lines: Iterable[str], forced: str | None):
    for n, line in _content_lines(lines):
        value = line.split()[0]
        guessed = forced or _BY_LENGTH.get(len(value), "")
        yield n, guessed, value, ""


def write(entries: Iterable[tuple[str, str, str | None]], fmt: str) -> Iterator[str]:
    """Yield the lines of an export file (each ending in a newline)."""
    writer = _format(fmt).write
    if writer is None:
        raise FormatError(f"format {fmt!r} can be imported but not exported")
    return writer(entries)


def _csv_write(entries: Iterable[tuple[str, str, str | None]]) -> Iterator[str]:
    yield "signal_type,signal,note\n"
    for stype, value, note in entries:
        yield _csv_line([stype, value, note or ""])


def _tx_write(entries: Iterable[tuple[str, str, str | None]]) -> Iterator[str]:
    for stype, value, _note in entries:
        yield f"{stype} {value}\n"


def _list_write(entries: Iterable[tuple[str, str, str | None]]) -> Iterator[str]:
    for _stype, value, _note in entries:
        yield f"{value}\n"


def _csv_line(cells: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


# A bare list cannot say which type a line is: the exact-match types are told
# apart by length, PDQ needs --signal-type because it is as long as SHA-256.
_BY_LENGTH = {32: "md5", 64: "sha256"}

BUILTIN_FORMATS = (
    ImportFormat("csv", _csv_rows, _csv_write, "signal_type,signal[,note], or tx dataset -P --csv"),
    ImportFormat("tx", _tx_rows, _tx_write, "python-threatexchange signal file: 'type value [metadata]'"),
    ImportFormat("list", _list_rows, _list_write, "one hash per line"),
)
