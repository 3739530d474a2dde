"""Tripline's own plug-in: what ships in the box, registered through the same
``tripline.plugins`` entry point as any third-party package (pyproject.toml)."""

from __future__ import annotations

from .manifest import Plugin, ProvenanceSource


def plugin() -> Plugin:
    # Imported here, not at module level, so listing entry points stays cheap.
    from tripline.banks.formats import BUILTIN_FORMATS
    from tripline.classifiers.registry import BUILTIN_CLASSIFIER_TYPES
    from tripline.provenance.reader import SOURCES
    from tripline.report.destinations import BUILTIN_REPORT_DESTINATIONS
    from tripline.signals.builtin import BUILTIN_SIGNAL_TYPES

    return Plugin(
        name="builtin",
        description="PDQ, MD5, SHA-256 and vPDQ; csv/tx/list hash lists; the provenance parsers; NCMEC and NCA; the classifier types",
        signal_types=BUILTIN_SIGNAL_TYPES,
        import_formats=BUILTIN_FORMATS,
        provenance_sources=tuple(ProvenanceSource(name, fn) for name, fn in SOURCES),
        report_destinations=BUILTIN_REPORT_DESTINATIONS,
        classifiers=BUILTIN_CLASSIFIER_TYPES,
    )
