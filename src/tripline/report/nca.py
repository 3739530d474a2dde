"""The UK National Crime Agency as a second report destination.

The NCA's reporting API needs registration and its schema is not public, so
this is Tripline's own documented JSON mapping (``tripline.nca.report`` v1,
docs/reporting.md), the destination behind the same interface as NCMEC, and a
fake server in the tests. The operator must map it onto the real API once
registered; nothing here has been tested against the NCA.

Flow: ``POST {base}/reports`` with the JSON payload and an
``Idempotency-Key`` header (the submission's item reference); the answer is
``{"reference": "..."}``. A repeated key returns the same reference, so a
retry after a lost response does not file twice.
"""

from __future__ import annotations

import base64
import hashlib
import json

import httpx

from .client import FatalError, TransientError
from .cybertipline import (
    ReporterConfig,
    provenance_pairs,
    upload_ip_event,
    xml_datetime,
)
from .model import ConfirmedIncident

FORMAT = "tripline.nca.report"
VERSION = 1


def nca_payload(incident: ConfirmedIncident, reporter: ReporterConfig) -> dict:
    incident.check()
    ev = upload_ip_event(incident)
    u = incident.uploader
    return {
        "format": FORMAT,
        "version": VERSION,
        "reporter": {
            "organisation": reporter.esp_service,
            "email": reporter.email,
            "name": " ".join(x for x in (reporter.first_name, reporter.last_name) if x) or None,
        },
        "incident": {
            "type": incident.incident_type,
            "occurredAt": xml_datetime(incident.incident_at or incident.uploaded_at or incident.confirmed_at),
            "platform": incident.platform or reporter.esp_service,
            "urls": list(dict.fromkeys([*incident.urls, *([incident.location_url] if incident.location_url else [])])),
            "annotations": sorted(k for k, v in incident.report_annotations.items() if v),
        },
        "subject": None
        if u is None
        else {
            "accountId": u.esp_identifier,
            "screenName": u.screen_name,
            "displayName": u.display_name,
            "profileUrl": u.profile_url,
            "email": u.email,
            "ipEvents": [
                {"ip": e.ip, "event": e.event, "at": xml_datetime(e.at) if e.at else None} for e in incident.ip_events
            ],
            "associatedAccounts": incident.associated_accounts,
        },
        "files": [
            {
                "fileName": incident.file_name,
                "size": incident.file_size,
                "hashes": {
                    k: v
                    for k, v in (
                        ("md5", incident.md5),
                        ("sha256", incident.sha256),
                        ("pdq", incident.pdq),
                        ("vpdq", incident.vpdq),
                    )
                    if v
                },
                "industryClassification": incident.classification,
                "annotations": sorted(k for k, v in incident.annotations.items() if v),
                "viewedByProvider": incident.viewed.get("file") is True,
                "metadataViewedByProvider": incident.viewed.get("exif") is True,
                "publiclyAvailable": incident.publicly_available,
                "uploadedAt": xml_datetime(incident.uploaded_at) if incident.uploaded_at else None,
                "uploadIp": None if ev is None else {"ip": ev.ip, "at": xml_datetime(ev.at) if ev.at else None},
                "provenance": dict(provenance_pairs(incident.provenance)),
            }
        ],
        "review": {"confirmedAt": xml_datetime(incident.confirmed_at), "humanConfirmed": True},
    }


class NcaDestination:
    name = "nca"

    def __init__(
        self, base_url: str, token: str, *, timeout: float = 60.0, transport: httpx.BaseTransport | None = None
    ):
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "tripline-report/0.1"},
        )

    def close(self) -> None:
        self._http.close()

    def deliver(
        self, incident: ConfirmedIncident, document: bytes, files: list[tuple[str, bytes]], state: dict, checkpoint
    ) -> dict:
        if state.get("finished"):
            return {"remote_id": state["reference"], "files": []}
        body = json.loads(document)
        body["files"][0]["content"] = [base64.b64encode(d).decode() for _, d in files][:1] or None
        key = state.setdefault("idempotency_key", hashlib.sha256(document).hexdigest())
        checkpoint(state)
        try:
            r = self._http.post(self.base_url + "/reports", json=body, headers={"Idempotency-Key": key})
        except httpx.TimeoutException as exc:
            raise TransientError("NCA: timed out") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"NCA: {exc}") from exc
        if r.status_code >= 500 or r.status_code == 429:
            raise TransientError(f"NCA: HTTP {r.status_code}")
        if r.status_code not in (200, 201):
            raise FatalError(f"NCA: HTTP {r.status_code}: {r.text[:200]}")
        ref = r.json().get("reference")
        if not ref:
            raise TransientError("NCA: no reference in the response")
        state.update(reference=ref, finished=True)
        checkpoint(state)
        return {"remote_id": ref, "files": []}
