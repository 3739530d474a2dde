"""Plug-ins: packages that add signal types, bank import formats, provenance
sources, classifiers, exchanges, action and report destinations through the
``tripline.plugins`` entry-point group. See docs/plugins.md."""

from __future__ import annotations

from .loader import GROUP, Failed, Loaded, Registry, build, registry, reset
from .manifest import ImportFormat, Plugin, ProvenanceSource, ReportDestinationType

__all__ = [
    "GROUP",
    "Failed",
    "ImportFormat",
    "Loaded",
    "Plugin",
    "ProvenanceSource",
    "Registry",
    "ReportDestinationType",
    "build",
    "registry",
    "reset",
]
