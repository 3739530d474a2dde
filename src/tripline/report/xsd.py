"""Validation against NCMEC's CyberTipline schema (cyber_tipline.xsd).

Every built document is validated before it can be stored or sent. The
schema comes from $TRIPLINE_NCMEC_XSD, else ``../shared/fixtures/ncmec/`` next
to the repository (the copy served by the reporting API's ``/xsd``). In
production, point TRIPLINE_NCMEC_XSD at a copy fetched from the endpoint.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from lxml import etree

_REPO = Path(__file__).resolve().parents[3]
DEFAULT_XSD = _REPO.parent / "shared" / "fixtures" / "ncmec" / "cyber_tipline.xsd"


class SchemaInvalid(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__("document does not validate against cyber_tipline.xsd: " + "; ".join(errors[:5]))
        self.errors = errors


def xsd_path() -> Path:
    p = Path(os.environ.get("TRIPLINE_NCMEC_XSD") or DEFAULT_XSD)
    if not p.is_file():
        raise FileNotFoundError(f"CyberTipline schema not found at {p}: set TRIPLINE_NCMEC_XSD")
    return p


@functools.lru_cache(maxsize=4)
def _schema(path: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(path, parser=etree.XMLParser(resolve_entities=False, no_network=True)))


def schema_errors(xml: bytes, path: str | os.PathLike | None = None) -> list[str]:
    schema = _schema(str(path or xsd_path()))
    try:
        doc = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed: {exc}"]
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def validate(xml: bytes, path: str | os.PathLike | None = None) -> bytes:
    errors = schema_errors(xml, path)
    if errors:
        raise SchemaInvalid(errors)
    return xml
