"""CyberTipline XML builder: golden files, field coverage, XSD order, honesty."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lxml import etree

from report_support import full_reporter, maximal_incident, minimal_incident, reporter
from tripline.report import (
    IncidentError,
    IpCapture,
    SchemaInvalid,
    build_file_details,
    build_report,
    from_review_item,
    nca_payload,
    schema_errors,
    validate,
    viewed_from_audit,
)
from tripline.report.xsd import xsd_path

GOLDEN = Path(__file__).parent / "golden" / "report"
XS = "{http://www.w3.org/2001/XMLSchema}"


def _golden(name: str, data: bytes) -> None:
    path = GOLDEN / name
    if os.environ.get("TRIPLINE_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    assert data == path.read_bytes(), f"{name} differs from the golden file (TRIPLINE_UPDATE_GOLDEN=1 to refresh)"


@pytest.mark.parametrize("kind", ["minimal", "maximal"])
def test_golden(kind):
    inc = minimal_incident() if kind == "minimal" else maximal_incident()
    rep = reporter() if kind == "minimal" else full_reporter()
    _golden(f"{kind}_report.xml", build_report(inc, rep))
    _golden(f"{kind}_filedetails.xml", build_file_details(inc, 1000001, "f1"))


def _paths(xml: bytes) -> set[str]:
    root = etree.fromstring(xml)
    tree = root.getroottree()
    return {"/".join(p for p in tree.getpath(e).split("/") if p).replace("[1]", "") for e in root.iter()}


def _has(xml: bytes, xpath: str) -> bool:
    return bool(etree.fromstring(xml).xpath(xpath))


MAXIMAL_REPORT_FIELDS = {
    "incident_type": "/report/incidentSummary/incidentType",
    "platform": "/report/incidentSummary/platform",
    "report_annotations": "/report/incidentSummary/reportAnnotations/spam",
    "incident_at": "/report/incidentSummary/incidentDateTime[.='2026-11-20T09:30:00Z']",
    "urls": "/report/internetDetails/webPageIncident/url[.='https://photos.example.org/u/sample_user']",
    "location_url": "/report/internetDetails/webPageIncident/url[.='https://photos.example.org/p/42']",
    "reporter.email": "/report/reporter/reportingPerson/email",
    "reporter.contact": "/report/reporter/contactPerson/email",
    "reporter.company_template": "/report/reporter/companyTemplate",
    "reporter.terms_of_service": "/report/reporter/termsOfService",
    "reporter.legal_url": "/report/reporter/legalURL",
    "uploader.email": "/report/personOrUserReported/personOrUserReportedPerson/email",
    "uploader.esp_identifier": "/report/personOrUserReported/espIdentifier[.='u-1001']",
    "uploader.screen_name": "/report/personOrUserReported/screenName",
    "uploader.display_name": "/report/personOrUserReported/displayName",
    "uploader.profile_url": "/report/personOrUserReported/profileUrl",
    "ip_events": "/report/personOrUserReported/ipCaptureEvent[ipAddress='192.0.2.10']",
    "associated_accounts": "/report/personOrUserReported/associatedAccount[@type='Linked']/screenName",
    "additional_info": "/report/additionalInfo",
}
MAXIMAL_FILE_FIELDS = {
    "file_name": "/fileDetails/fileName[.='upload-42.png']",
    "original_file_name": "/fileDetails/originalFileName",
    "uploaded_at": "/fileDetails/uploadedToEspTimestamp",
    "location_url": "/fileDetails/locationOfFile",
    "viewed.file": "/fileDetails/fileViewedByEsp[.='true']",
    "viewed.exif": "/fileDetails/exifViewedByEsp[.='true']",
    "publicly_available": "/fileDetails/publiclyAvailable[.='true']",
    "annotations.generativeAi": "/fileDetails/fileAnnotations/generativeAi",
    "annotations.viral": "/fileDetails/fileAnnotations/viral",
    "classification": "/fileDetails/industryClassification[.='A1']",
    "md5": "/fileDetails/originalFileHash[@hashType='MD5']",
    "sha256": "/fileDetails/originalFileHash[@hashType='SHA256']",
    "pdq": "/fileDetails/originalFileHash[@hashType='PDQ']",
    "upload_ip": "/fileDetails/ipCaptureEvent[ipAddress='192.0.2.11'][eventName='Upload']",
    "vpdq": "/fileDetails/details[@type='HASH']/nameValuePair[name='vPDQ']",
    "provenance.prompt": "/fileDetails/details/nameValuePair[name='prompt']",
    "provenance.model": "/fileDetails/details/nameValuePair[name='modelHash'][value='landscape-v2: abcdef1234']",
    "provenance.lora": "/fileDetails/details/nameValuePair[name='loraHash']",
    "provenance.c2pa": "/fileDetails/details/nameValuePair[name='c2pa'][starts-with(value,'present; validation=valid')]",
    "file_size": "/fileDetails/additionalInfo",
}


def test_field_coverage_maximal():
    inc = maximal_incident()
    rep, fd = build_report(inc, full_reporter()), build_file_details(inc, 5, "f9")
    missing = [f for f, xp in MAXIMAL_REPORT_FIELDS.items() if not _has(rep, xp)]
    missing += [f for f, xp in MAXIMAL_FILE_FIELDS.items() if not _has(fd, xp)]
    assert missing == []


def test_field_coverage_minimal():
    inc = minimal_incident()
    rep, fd = build_report(inc, reporter()), build_file_details(inc, 5, "f9")
    # Required and always-stated elements are there ...
    for xp in (
        "/report/incidentSummary/incidentType",
        "/report/incidentSummary/incidentDateTime",
        "/report/internetDetails/webPageIncident",
        "/report/reporter/reportingPerson/email",
    ):
        assert _has(rep, xp), xp
    for xp in (
        "/fileDetails/reportId[.='5']",
        "/fileDetails/fileId[.='f9']",
        "/fileDetails/fileName",
        "/fileDetails/fileViewedByEsp[.='false']",
        "/fileDetails/exifViewedByEsp[.='false']",
        "/fileDetails/industryClassification[.='B2']",
    ):
        assert _has(fd, xp), xp
    # ... and nothing is made up.
    for xp in (
        "/report/personOrUserReported",
        "/report/incidentSummary/reportAnnotations",
        "/report/reporter/contactPerson",
    ):
        assert not _has(rep, xp), xp
    for xp in (
        "/fileDetails/fileAnnotations",
        "/fileDetails/publiclyAvailable",
        "/fileDetails/originalFileHash",
        "/fileDetails/ipCaptureEvent",
        "/fileDetails/details",
    ):
        assert not _has(fd, xp), xp


def _sequences() -> dict[str, list[str]]:
    """Element name -> its children's order from cyber_tipline.xsd (global
    elements with inline sequences, and the complex types we emit)."""
    xsd = etree.parse(str(xsd_path())).getroot()
    out = {}
    for el in xsd.findall(f"{XS}element"):
        seq = el.find(f"{XS}complexType/{XS}sequence")
        if seq is not None:
            out[el.get("name")] = [c.get("name") or c.get("ref") for c in seq.iter(f"{XS}element")]
    for ct in xsd.findall(f"{XS}complexType"):
        seq = ct.find(f"{XS}sequence")
        if seq is not None:
            out["type:" + ct.get("name")] = [c.get("name") or c.get("ref") for c in seq.iter(f"{XS}element")]
    return out


TYPES = {
    "reportingPerson": "type:person",
    "personOrUserReportedPerson": "type:person",
    "contactPerson": "type:contactPerson",
    "ipCaptureEvent": "type:ipCaptureEvent",
    "associatedAccount": "type:associatedAccount",
    "nameValuePair": "type:nameValue",
}


@pytest.mark.parametrize("which", ["report", "fileDetails"])
def test_element_order_follows_xsd(which):
    seqs = _sequences()
    inc = maximal_incident()
    xml = build_report(inc, full_reporter()) if which == "report" else build_file_details(inc, 1, "f1")
    checked = 0
    for el in etree.fromstring(xml).iter():
        order = seqs.get(TYPES.get(el.tag, el.tag))
        if order is None or len(el) == 0:
            continue
        idx = [order.index(c.tag) for c in el]  # every child is declared in the sequence ...
        assert idx == sorted(idx), f"{el.tag}: children {[c.tag for c in el]} out of XSD order"  # ... in order
        checked += 1
    assert checked >= (5 if which == "report" else 3)


def test_at_most_one_ip_capture_event_per_file():
    inc = maximal_incident()
    assert sum(e.event == "Upload" for e in inc.ip_events) == 2
    fd = etree.fromstring(build_file_details(inc, 1, "f1"))
    events = fd.findall("ipCaptureEvent")
    assert len(events) == 1
    assert events[0].findtext("ipAddress") == "192.0.2.11"  # the one at the upload time
    # All events still reach the report, on the reported user.
    rep = etree.fromstring(build_report(inc, reporter()))
    assert len(rep.findall("personOrUserReported/ipCaptureEvent")) == 3


def test_two_ip_capture_events_in_file_details_fail_the_xsd():
    fd = etree.fromstring(build_file_details(maximal_incident(), 1, "f1"))
    ev = fd.find("ipCaptureEvent")
    ev.addnext(etree.fromstring(etree.tostring(ev)))
    assert schema_errors(etree.tostring(fd))


def test_machine_decision_is_refused():
    with pytest.raises(IncidentError, match="human"):
        build_report(minimal_incident(decision_source="policy"), reporter())
    with pytest.raises(IncidentError, match="reviewer"):
        build_report(minimal_incident(reviewer=" "), reporter())
    with pytest.raises(IncidentError, match="classification"):
        build_file_details(minimal_incident(classification="X9"), 1, "f1")
    with pytest.raises(IncidentError):
        build_report(minimal_incident(ip_events=[IpCapture("192.0.2.1", "Sideways")]), reporter())


def test_invalid_documents_never_pass():
    with pytest.raises(SchemaInvalid):
        validate(b"<report><incidentSummary/></report>")
    assert schema_errors(b"<report") and schema_errors(b"<report")[0].startswith("not well-formed")


EVENTS = [
    {"action": "view", "item_id": "17", "user": "alice", "at": "2026-11-21T13:00:00+00:00", "details": {}},
    {"action": "reveal", "item_id": "99", "user": "bob", "at": "2026-11-21T13:01:00+00:00", "details": {}},
]


def test_viewed_from_audit_is_never_true_by_default():
    assert viewed_from_audit([]) == {"file": False, "exif": False}
    # Looking at the blurred thumbnail is not viewing the file; another item's reveal does not count.
    assert viewed_from_audit(EVENTS, "17") == {"file": False, "exif": False}
    ev = EVENTS + [{"action": "reveal", "item_id": "17", "user": "alice", "at": "x", "details": {}}]
    assert viewed_from_audit(ev, "17") == {"file": True, "exif": False}
    ev.append({"action": "view", "item_id": "17", "user": "alice", "at": "x", "details": {"panel": "exif"}})
    assert viewed_from_audit(ev, 17) == {"file": True, "exif": True}
    # tripline.audit's own entry shape works too.
    log = [{"actor": "alice", "action": "review.reveal", "target": "item:17", "detail": {}}]
    assert viewed_from_audit(log, 17) == {"file": True, "exif": False}


def test_from_review_item_uses_only_what_the_reviewer_confirmed():
    item = {
        "id": 17,
        "status": "decided",
        "decided_by": "alice",
        "decided_at": "2026-11-21T14:00:00+00:00",
        "sha256": "a" * 64,
        "record": {
            "path": "in/upload-17.png",
            "size": 10,
            "md5": "b" * 32,
            "sha256": "a" * 64,
            "pdq": "c" * 64,
            "provenance": {"synthetic": "declared"},
        },
        "outcome": {
            "outcome": "confirm",
            "classification": "A2",
            "annotations": {"generativeAi": False, "viral": True},
        },
    }
    inc = from_review_item(
        item,
        [{"actor": "alice", "action": "review.reveal", "target": "item:17", "detail": {}}],
        publicly_available=False,
    )
    assert inc.annotations == {"viral": True}  # provenance suggested AI; the reviewer did not confirm
    assert inc.viewed == {"file": True, "exif": False}
    fd = etree.fromstring(build_file_details(inc, 1, "f1"))
    assert fd.find("fileAnnotations/generativeAi") is None
    assert fd.findtext("publiclyAvailable") == "false"
    with pytest.raises(IncidentError):
        from_review_item({**item, "outcome": {"outcome": "dismiss"}}, [])
    with pytest.raises(IncidentError):
        from_review_item({**item, "decided_by": None}, [])


def test_round_trip_json():
    from tripline.report import ConfirmedIncident

    inc = maximal_incident()
    assert ConfirmedIncident.from_dict(inc.to_dict()) == inc


def test_nca_payload_mapping():
    p = nca_payload(maximal_incident(), full_reporter())
    f = p["files"][0]
    assert p["format"] == "tripline.nca.report" and p["review"]["humanConfirmed"] is True
    assert f["industryClassification"] == "A1" and f["viewedByProvider"] is True
    assert f["hashes"]["pdq"] == "f" * 64 and f["uploadIp"]["ip"] == "192.0.2.11"
    assert f["provenance"]["c2pa"].startswith("present")
    assert nca_payload(minimal_incident(), reporter())["files"][0]["viewedByProvider"] is False
