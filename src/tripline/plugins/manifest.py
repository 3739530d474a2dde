"""What a plug-in declares: one ``Plugin`` naming everything it adds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tripline.signals.types import SignalType


@dataclass(frozen=True)
class ImportFormat:
    """A bank hash-list format. ``rows(lines, forced)`` yields (line number,
    signal type as written, value, note) from the file's lines, or (line
    number, None, reason, "") for a line it cannot read; ``forced`` is the
    type the user named with --signal-type, if any. ``write`` yields export lines
    (None: import only)."""

    name: str
    rows: Callable[..., Iterator[tuple[int, str | None, str, str]]]
    write: Callable[..., Iterator[str]] | None = None
    description: str = ""


@dataclass(frozen=True)
class ProvenanceSource:
    """A provenance parser: ``extract(view, record)`` reads the shared
    ContainerView and fills the ProvenanceRecord (see provenance/reader.py)."""

    name: str
    extract: Callable[[Any, Any], None]


@dataclass(frozen=True)
class ReportDestinationType:
    """A place legal reports go. ``render(incident, reporter) -> bytes`` builds
    the document a human confirms; ``connect(base_url, secret, timeout)``
    returns the delivering object (report.service.Destination); ``check``
    returns schema problems of a rendered document (empty: none)."""

    name: str
    render: Callable[[Any, Any], bytes]
    connect: Callable[..., Any] | None = None
    check: Callable[[bytes], list[str]] | None = None
    jurisdiction: str = ""


@dataclass(frozen=True)
class Plugin:
    """A plug-in's manifest. An entry point in the ``tripline.plugins`` group
    names a Plugin or a function returning one. Classifiers, exchanges and
    action destinations are factories keyed by the name an operator puts in
    configuration; their interfaces belong to the modules that call them."""

    name: str
    description: str = ""
    signal_types: tuple[SignalType, ...] = ()
    import_formats: tuple[ImportFormat, ...] = ()
    provenance_sources: tuple[ProvenanceSource, ...] = ()
    classifiers: dict[str, Callable[..., Any]] = field(default_factory=dict)
    exchanges: dict[str, Callable[..., Any]] = field(default_factory=dict)
    action_destinations: dict[str, Callable[..., Any]] = field(default_factory=dict)
    report_destinations: tuple[ReportDestinationType, ...] = ()

    def provides(self) -> dict[str, list[str]]:
        """Kind -> names, for listings."""
        return {
            "signal_types": [t.name for t in self.signal_types],
            "import_formats": [f.name for f in self.import_formats],
            "provenance_sources": [s.name for s in self.provenance_sources],
            "classifiers": sorted(self.classifiers),
            "exchanges": sorted(self.exchanges),
            "action_destinations": sorted(self.action_destinations),
            "report_destinations": [d.name for d in self.report_destinations],
        }
