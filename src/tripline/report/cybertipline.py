"""CyberTipline XML: the report (``/submit``) and file details (``/fileinfo``).

Elements are emitted in the order of cyber_tipline.xsd's sequences, and every
document is validated against the schema before it is returned.

Defaults (docs/reporting.md): incidentType "Child Pornography (possession,
manufacture, and distribution)"; fileViewedByEsp / exifViewedByEsp always sent,
true only when the audit shows it; publiclyAvailable only when known;
originalFileHash for MD5, SHA256 and PDQ; vPDQ and provenance as name/value
details; the file's upload ipCaptureEvent (at most one, as the schema allows).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tripline.classifiers.evidence import FLAGGED_STATEMENT
from tripline.distribution.export import associated_account_xml
from tripline.report.xmlsafe import xml_text

from .model import FILE_ANNOTATIONS, REPORT_ANNOTATIONS, ConfirmedIncident, IpCapture
from .xsd import validate

MAX_DETAIL_CHARS = 8000


@dataclass
class ReporterConfig:
    """The reporting ESP (configured once by the operator)."""

    email: str
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    contact_email: str | None = None  # contactPerson, if different
    contact_first_name: str | None = None
    contact_last_name: str | None = None
    company_template: str | None = None
    terms_of_service: str | None = None
    legal_url: str | None = None
    esp_service: str | None = None  # product name, used as espService / platform
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> ReporterConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def xml_datetime(d: datetime) -> str:
    if d.tzinfo is None:
        raise ValueError(f"naive datetime {d!r}")
    return d.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _sub(parent: ET.Element, tag: str, value=None, **attrs) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: v for k, v in attrs.items() if v is not None})
    if value is not None:
        el.text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return el


def _opt(parent: ET.Element, tag: str, value) -> None:
    """An optional element: written only when there is something to say."""
    if value:
        _sub(parent, tag, value)


def _ip_event(parent: ET.Element, ev: IpCapture) -> None:
    el = _sub(parent, "ipCaptureEvent")
    _sub(el, "ipAddress", ev.ip)
    _opt(el, "eventName", ev.event)
    if ev.at is not None:
        _sub(el, "dateTime", xml_datetime(ev.at))
    if ev.possible_proxy is not None:
        _sub(el, "possibleProxy", ev.possible_proxy)
    if ev.port is not None:
        _sub(el, "port", ev.port)


def _tostring(root: ET.Element) -> bytes:
    # The last line of defence for strings that did not pass intake cleaning
    # (older review items, associated accounts, reporter settings).
    for el in root.iter():
        if el.text:
            el.text = xml_text(el.text)
        if el.tail:
            el.tail = xml_text(el.tail)
        for k, v in el.attrib.items():
            el.attrib[k] = xml_text(v)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"


def upload_ip_event(incident: ConfirmedIncident) -> IpCapture | None:
    """The one ipCaptureEvent a fileDetails may carry: the upload event
    (closest to the upload time if there are several), else none."""
    uploads = [e for e in incident.ip_events if e.event == "Upload"]
    if not uploads:
        return None
    if incident.uploaded_at is not None and all(e.at is not None for e in uploads):
        return min(uploads, key=lambda e: abs((e.at - incident.uploaded_at).total_seconds()))
    return uploads[0]


def build_report(incident: ConfirmedIncident, reporter: ReporterConfig) -> bytes:
    incident.check()
    root = ET.Element("report")
    # incidentSummary
    s = _sub(root, "incidentSummary")
    _sub(s, "incidentType", incident.incident_type)
    if incident.platform or reporter.esp_service:
        _sub(s, "platform", incident.platform or reporter.esp_service)
    ra = [k for k in REPORT_ANNOTATIONS if incident.report_annotations.get(k) is True]
    if ra:
        a = _sub(s, "reportAnnotations")
        for k in ra:
            _sub(a, k, True)
    when = incident.incident_at or incident.uploaded_at or incident.confirmed_at
    _sub(s, "incidentDateTime", xml_datetime(when))
    if incident.incident_at is None:
        _sub(
            s,
            "incidentDateTimeDescription",
            "upload time"
            if incident.uploaded_at is not None
            else "time of review confirmation (incident time unknown)",
        )
    # internetDetails: the schema asks for at least one per report
    d = _sub(root, "internetDetails")
    w = _sub(d, "webPageIncident")
    urls = list(dict.fromkeys([*incident.urls, *([incident.location_url] if incident.location_url else [])]))
    for u in urls:
        _sub(w, "url", u)
    if not urls:
        _sub(
            w,
            "additionalInfo",
            f"Uploaded to {incident.platform or reporter.esp_service or 'the reporting service'}; no public URL.",
        )
    # reporter
    r = _sub(root, "reporter")
    rp = _sub(r, "reportingPerson")
    _opt(rp, "firstName", reporter.first_name)
    _opt(rp, "lastName", reporter.last_name)
    _opt(rp, "phone", reporter.phone)
    _sub(rp, "email", reporter.email)
    if reporter.contact_email or reporter.contact_first_name or reporter.contact_last_name:
        cp = _sub(r, "contactPerson")
        _opt(cp, "firstName", reporter.contact_first_name)
        _opt(cp, "lastName", reporter.contact_last_name)
        _opt(cp, "email", reporter.contact_email)
    _opt(r, "companyTemplate", reporter.company_template)
    _opt(r, "termsOfService", reporter.terms_of_service)
    _opt(r, "legalURL", reporter.legal_url)
    # personOrUserReported
    u = incident.uploader
    if u is not None or incident.ip_events or incident.associated_accounts:
        p = _sub(root, "personOrUserReported")
        if u is not None and u.email:
            pp = _sub(p, "personOrUserReportedPerson")
            _sub(pp, "email", u.email)
        if u is not None and u.esp_identifier:
            _sub(p, "espIdentifier", u.esp_identifier)
        service = (u.esp_service if u is not None else None) or reporter.esp_service
        if u is not None and service:
            _sub(p, "espService", service)
        if u is not None and u.screen_name:
            _sub(p, "screenName", u.screen_name)
        if u is not None and u.display_name:
            _sub(p, "displayName", u.display_name)
        if u is not None and u.profile_url:
            _sub(p, "profileUrl", u.profile_url)
        for ev in incident.ip_events:
            _ip_event(p, ev)
        for acc in incident.associated_accounts:
            p.append(associated_account_xml(acc))
    if incident.additional_info:
        _sub(root, "additionalInfo", incident.additional_info[:MAX_DETAIL_CHARS])
    return validate(_tostring(root))


def provenance_pairs(prov: dict | None) -> list[tuple[str, str]]:
    """Provenance as (name, value) pairs: prompt, model and LoRA hashes, C2PA state."""
    if not isinstance(prov, dict):
        return []
    out: list[tuple[str, str]] = []
    if prov.get("synthetic"):
        out.append(("provenanceSyntheticEvidence", str(prov["synthetic"])))
    gen = prov.get("generator") or {}
    if gen.get("family") or gen.get("tool"):
        out.append(
            ("generator", " ".join(str(x) for x in (gen.get("tool") or gen.get("family"), gen.get("version")) if x))
        )
    if prov.get("prompt"):
        out.append(("prompt", str(prov["prompt"])[:MAX_DETAIL_CHARS]))
    for m in prov.get("models") or []:
        kind = m.get("kind") or "checkpoint"
        name = "loraHash" if kind == "lora" else ("vaeHash" if kind == "vae" else "modelHash")
        val = f"{m.get('name') or 'unnamed'}: {m.get('hash') or 'no hash'}"
        if m.get("weight") is not None:
            val += f" (weight {m['weight']})"
        out.append((name, val))
    c = prov.get("c2pa") or {}
    if c.get("present"):
        parts = [f"present; validation={c.get('validation_state') or 'unknown'}"]
        if c.get("claim_generator"):
            parts.append(f"claim_generator={c['claim_generator']}")
        if c.get("digital_source_types"):
            parts.append("digitalSourceType=" + ",".join(c["digital_source_types"]))
        if c.get("issuer"):
            parts.append(f"issuer={c['issuer']}")
        out.append(("c2pa", "; ".join(parts)))
    else:
        out.append(("c2pa", "absent"))
    if prov.get("iptc_digital_source_type"):
        out.append(("iptcDigitalSourceType", str(prov["iptc_digital_source_type"])))
    return out


def build_file_details(incident: ConfirmedIncident, report_id: int | str, file_id: str) -> bytes:
    incident.check()
    root = ET.Element("fileDetails")
    _sub(root, "reportId", int(report_id))
    _sub(root, "fileId", file_id)
    _sub(root, "fileName", incident.file_name)
    _opt(root, "originalFileName", incident.original_file_name)
    if incident.uploaded_at is not None:
        _sub(root, "uploadedToEspTimestamp", xml_datetime(incident.uploaded_at))
    _opt(root, "locationOfFile", incident.location_url)
    # Always stated, and true only when the audit shows it.
    _sub(root, "fileViewedByEsp", incident.viewed.get("file") is True)
    _sub(root, "exifViewedByEsp", incident.viewed.get("exif") is True)
    if incident.publicly_available is not None:
        _sub(root, "publiclyAvailable", incident.publicly_available)
    _sub(root, "fileRelevance", "Reported")
    ann = [k for k in FILE_ANNOTATIONS if incident.annotations.get(k) is True]
    if ann:
        a = _sub(root, "fileAnnotations")
        for k in ann:
            _sub(a, k, True)
    _sub(root, "industryClassification", incident.classification)
    for htype, value in (("MD5", incident.md5), ("SHA256", incident.sha256), ("PDQ", incident.pdq)):
        if value:
            _sub(root, "originalFileHash", value, hashType=htype)
    ev = upload_ip_event(incident)
    if ev is not None:
        _ip_event(root, ev)
    if incident.vpdq:
        det = _sub(root, "details", type="HASH")
        nv = _sub(det, "nameValuePair")
        _sub(nv, "name", "vPDQ")
        _sub(nv, "value", incident.vpdq)
    pairs = provenance_pairs(incident.provenance)
    if pairs:
        det = _sub(root, "details")
        for name, value in pairs:
            nv = _sub(det, "nameValuePair")
            _sub(nv, "name", name)
            _sub(nv, "value", value)
    if incident.file_size is not None:
        _sub(root, "additionalInfo", f"File size: {incident.file_size} bytes")
    if incident.classifier_flagged:
        _sub(root, "additionalInfo", FLAGGED_STATEMENT)
    return validate(_tostring(root))
