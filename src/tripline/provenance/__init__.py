"""AI-generation provenance: what a generator wrote into a file.

>>> from tripline.provenance import read_provenance, ProvenanceOptions
>>> rec = read_provenance(data, options=ProvenanceOptions(watermarks=False))
>>> rec.to_dict()["synthetic"]

See docs/provenance.md for the record, the sources and the evidence levels.
"""

from __future__ import annotations

from .options import ProvenanceOptions
from .reader import SOURCES, read_provenance
from .record import Evidence, Generation, ModelRef, ProvenanceRecord, Watermark, summarize

__all__ = [
    "Evidence",
    "Generation",
    "ModelRef",
    "ProvenanceOptions",
    "ProvenanceRecord",
    "SOURCES",
    "Watermark",
    "read_provenance",
    "summarize",
]
