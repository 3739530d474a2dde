"""XMP helpers and the IPTC DigitalSourceType / TC260 AIGC label sources.

XMP is read with bounded regular expressions over the packet text rather than
an XML parser: we need a handful of properties, and a regex cannot be made to
expand entities or recurse.
"""

from __future__ import annotations

import html
import re

from .container import ContainerView
from .record import Evidence, ProvenanceRecord
from .util import try_loads

NAME = "xmp"
IPTC_DST_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"
# IPTC digital source types that mean "made (wholly or partly) by an algorithm".
AI_SOURCE_TYPES = {
    "trainedAlgorithmicMedia",
    "compositeWithTrainedAlgorithmicMedia",
    "algorithmicMedia",
    "compositeSynthetic",
    "algorithmicallyEnhanced",
    "trainedAlgorithmicData",
}
# Of those, the ones where the picture content itself is generated.
GENERATED_SOURCE_TYPES = AI_SOURCE_TYPES - {"algorithmicallyEnhanced"}
_MAX_XMP = 4 * 1024 * 1024
TC260_NS = "http://www.tc260.org.cn/ns/AIGC/1.0/"
TC260_LABELS = {"1": "generated", "2": "possibly_generated", "3": "suspected_generated"}


def source_type_name(uri: str | None) -> str | None:
    if not uri:
        return None
    uri = uri.strip()
    return uri.rsplit("/", 1)[-1] if "/" in uri else uri


def is_ai_source_type(uri: str | None) -> bool:
    return source_type_name(uri) in GENERATED_SOURCE_TYPES


def xmp_values(xmp: str | None, local: str) -> list[str]:
    """Values of property ``*:local`` in attribute, element, rdf:resource or
    rdf:Alt/Seq/Bag form. Entities are unescaped once."""
    if not xmp:
        return []
    xmp = xmp[:_MAX_XMP]
    loc = re.escape(local)
    out: list[str] = []
    # Attribute form (prefix:local="v" or '...'). The search starts at the
    # literal ":local" and checks the prefix character after: a leading
    # [\w.-]{1,64} would be tried at every position of a long word (2 MB of
    # letters took ~9 s of CPU).
    for quote in ('"', "'"):
        for m in re.finditer(rf"(?<=[\w.-]):{loc}\s{{0,8}}=\s{{0,8}}{quote}([^{quote}]*){quote}", xmp):
            out.append(m.group(1))
    for i, m in enumerate(re.finditer(rf"<([\w.-]{{1,64}}):{loc}\b([^<>]{{0,4096}}?)(/?)>", xmp)):
        if i >= 64:
            break
        attrs = m.group(2)
        r = re.search(r'rdf:resource\s{0,8}=\s{0,8}"([^"]*)"', attrs)
        if r:
            out.append(r.group(1))
            continue
        if m.group(3):
            continue
        end = xmp.find(f"</{m.group(1)}:{local}>", m.end())
        if end < 0:
            continue
        inner = xmp[m.end() : end]
        items = re.findall(r"<rdf:li\b[^<>]{0,256}>([^<]*)</rdf:li>", inner)
        if items:
            out.extend(items)
        elif "<" not in inner:
            out.append(inner)
    return [html.unescape(v).strip() for v in out if v.strip()]


def extract(view: ContainerView, rec: ProvenanceRecord) -> None:
    xmp = view.xmp
    # IPTC photo metadata: Iptc4xmpExt:DigitalSourceType (also plus:/iptcExt: prefixes).
    dsts = xmp_values(xmp, "DigitalSourceType")
    if dsts:
        rec.iptc_digital_source_type = dsts[0]
        if is_ai_source_type(dsts[0]):
            rec.add_evidence(
                Evidence("iptc_digital_source_type", "declared", f"XMP DigitalSourceType {source_type_name(dsts[0])}")
            )
    # TC260 (GB 45438-2025) implicit AIGC label: JSON in XMP TC260:AIGC, or a PNG "AIGC" chunk.
    raw = None
    if xmp and (TC260_NS in xmp or ":AIGC" in xmp):
        vals = xmp_values(xmp, "AIGC")
        raw = vals[0] if vals else None
    if raw is None:
        raw = view.text.get("AIGC")
    if raw is not None:
        obj = try_loads(raw, view.options.max_json_depth)
        if not isinstance(obj, dict):
            rec.add_error("tc260", "AIGC label is not a JSON object")
            return
        label = {
            str(k): (v if isinstance(v, (str, int, float)) or v is None else str(v)) for k, v in list(obj.items())[:32]
        }
        rec.tc260_label = label
        code = str(label.get("Label", "")).strip()
        meaning = TC260_LABELS.get(code)
        if meaning == "generated":
            rec.add_evidence(Evidence("tc260", "declared", "TC260 AIGC label: Label=1 (AI-generated)"))
        elif meaning:
            rec.add_evidence(Evidence("tc260", "likely", f"TC260 AIGC label: Label={code} ({meaning})"))
