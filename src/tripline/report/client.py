"""CyberTipline Reporting API client and the NCMEC destination.

The documented flow (NCMEC "CyberTipline Reporting API", ispws):

1. ``POST /submit``   report XML (``Content-Type: text/xml``) -> ``reportResponse`` with ``reportId``
2. ``POST /upload``   multipart form ``id`` (reportId) + ``file`` -> ``reportResponse`` with ``fileId`` and ``hash`` (MD5)
3. ``POST /fileinfo`` ``fileDetails`` XML (``text/xml``) per file -> ``reportResponse``
4. ``POST /finish``   form ``id`` -> ``reportDoneResponse`` with the file ids
   (``POST /retract`` form ``id`` cancels an unfinished report; ``GET /status`` checks credentials.)

HTTP Basic authentication; every response carries ``responseCode`` (0 = success).
Codes this client acts on: 0 success; 1000 server error (retried); 2000
authentication required and 3000 not authorized (fatal: fix credentials);
4100 validation failed and 4110 malformed XML (fatal: fix the report);
5001 report does not exist; 5101 already retracted; 5102 already finished
(success when finishing or when retracting a report a lost response had
already finished). See docs/reporting.md for sources.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from lxml import etree

from .cybertipline import build_file_details
from .model import ConfirmedIncident

ENDPOINTS = {
    "test": "https://exttest.cybertip.org/ispws",
    "production": "https://report.cybertip.org/ispws",
}
RESPONSE_CODES = {
    0: "Success",
    1000: "Server error",
    1100: "Save failed",
    1110: "Upload failed",
    1111: "File upload failed",
    1300: "Update failed",
    2000: "Authentication required",
    3000: "Not authorized",
    4000: "Invalid request",
    4100: "Validation failed",
    4110: "Malformed XML submittal",
    4200: "Malformed file submittal",
    5001: "Report does not exist",
    5002: "File does not exist",
    5101: "Report already retracted",
    5102: "Report already finished",
}
RETRYABLE_CODES = frozenset({1000, 1100, 1110, 1111, 1300})
SUCCESS, ALREADY_RETRACTED, ALREADY_FINISHED, NO_SUCH_REPORT = 0, 5101, 5102, 5001


class DeliveryError(RuntimeError):
    retryable = True


class TransientError(DeliveryError):
    """Network trouble, timeouts, 5xx, server-side codes: try again later."""


class FatalError(DeliveryError):
    """Retrying cannot help (credentials, an invalid report)."""

    retryable = False


@dataclass
class Response:
    code: int
    description: str
    report_id: str | None = None
    file_id: str | None = None
    hash: str | None = None
    files: list[str] | None = None


def parse_response(body: bytes) -> Response:
    try:
        root = etree.fromstring(body, parser=etree.XMLParser(resolve_entities=False, no_network=True))
        code = int(root.findtext("responseCode"))
    except (etree.XMLSyntaxError, TypeError, ValueError) as exc:
        raise TransientError(f"unreadable response: {body[:200]!r}") from exc
    files = [f.text or "" for f in root.findall("files/fileId")] if root.tag == "reportDoneResponse" else None
    return Response(
        code,
        root.findtext("responseDescription") or RESPONSE_CODES.get(code, ""),
        root.findtext("reportId"),
        root.findtext("fileId"),
        root.findtext("hash"),
        files,
    )


class CyberTiplineClient:
    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            auth=(username, password),
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": "tripline-report/0.1"},
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kw) -> Response:
        try:
            r = self._http.request(method, self.base_url + path, **kw)
        except httpx.TimeoutException as exc:
            raise TransientError(f"{path}: timed out") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"{path}: {type(exc).__name__}: {exc}") from exc
        if r.status_code in (401, 403):
            raise FatalError(f"{path}: HTTP {r.status_code} (check the CyberTipline credentials)")
        if r.status_code >= 500:
            raise TransientError(f"{path}: HTTP {r.status_code}")
        if r.status_code != 200:
            raise FatalError(f"{path}: HTTP {r.status_code}")
        return parse_response(r.content)

    @staticmethod
    def _check(path: str, resp: Response, ok=(SUCCESS,)) -> Response:
        if resp.code in ok:
            return resp
        msg = f"{path}: response {resp.code} {resp.description or RESPONSE_CODES.get(resp.code, '')}".strip()
        if resp.code in RETRYABLE_CODES:
            raise TransientError(msg)
        raise FatalError(msg)

    def status(self) -> Response:
        return self._check("/status", self._call("GET", "/status"))

    def submit(self, report_xml: bytes) -> str:
        resp = self._check(
            "/submit",
            self._call("POST", "/submit", content=report_xml, headers={"Content-Type": "text/xml; charset=utf-8"}),
        )
        if not resp.report_id:
            raise TransientError("/submit: no reportId in the response")
        return resp.report_id

    def upload(self, report_id: str, name: str, data: bytes) -> Response:
        resp = self._check(
            "/upload",
            self._call(
                "POST", "/upload", data={"id": report_id}, files={"file": (name, data, "application/octet-stream")}
            ),
        )
        if not resp.file_id:
            raise TransientError("/upload: no fileId in the response")
        want = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if resp.hash and resp.hash.lower() != want:
            raise TransientError(f"/upload: server MD5 {resp.hash} != {want} (file damaged in transit)")
        return resp

    def fileinfo(self, xml: bytes) -> Response:
        return self._check(
            "/fileinfo",
            self._call("POST", "/fileinfo", content=xml, headers={"Content-Type": "text/xml; charset=utf-8"}),
        )

    def finish(self, report_id: str) -> Response:
        return self._check(
            "/finish", self._call("POST", "/finish", data={"id": report_id}), ok=(SUCCESS, ALREADY_FINISHED)
        )

    def retract(self, report_id: str) -> Response:
        return self._check(
            "/retract",
            self._call("POST", "/retract", data={"id": report_id}),
            ok=(SUCCESS, ALREADY_RETRACTED, ALREADY_FINISHED, NO_SUCH_REPORT),
        )


Checkpoint = Callable[[dict], None]


class NcmecDestination:
    """The CyberTipline behind the common destination interface.

    ``deliver`` runs one attempt of the flow and records progress in ``state``
    (persisted by the caller through ``checkpoint`` after every step). An
    attempt that finds an unfinished earlier report first retracts it; if
    NCMEC answers 5102 (already finished: a lost /finish response) that
    report is the result. So a report is never filed twice and never lost.
    """

    name = "ncmec"

    def __init__(self, client: CyberTiplineClient):
        self.client = client

    def deliver(
        self,
        incident: ConfirmedIncident,
        document: bytes,
        files: list[tuple[str, bytes]],
        state: dict,
        checkpoint: Checkpoint,
    ) -> dict:
        c = self.client
        if state.get("finished"):
            return {"remote_id": state["report_id"], "files": state.get("file_ids", [])}
        if state.get("report_id"):
            old = state["report_id"]
            resp = c.retract(old)
            if resp.code == ALREADY_FINISHED:
                state.update(finished=True, resolved_by="retract-5102")
                checkpoint(state)
                return {"remote_id": old, "files": state.get("file_ids", [])}
            state.setdefault("retracted", []).append(old)
            state.update(report_id=None, file_ids=[])
            checkpoint(state)
        report_id = c.submit(document)
        state.update(report_id=report_id, file_ids=[], finished=False)
        checkpoint(state)
        try:
            for name, data in files:
                up = c.upload(report_id, name, data)
                c.fileinfo(build_file_details(incident, report_id, up.file_id))
                state["file_ids"].append(up.file_id)
                checkpoint(state)
            done = c.finish(report_id)
        except FatalError:
            # Do not leave a half-built report open at NCMEC when retrying cannot help.
            try:
                if c.retract(report_id).code != ALREADY_FINISHED:
                    state.setdefault("retracted", []).append(report_id)
                    state.update(report_id=None, file_ids=[])
                    checkpoint(state)
            except DeliveryError:
                pass  # the next attempt retracts it
            raise
        state.update(finished=True, resolved_by="finish" if done.code == SUCCESS else "finish-5102")
        checkpoint(state)
        return {"remote_id": report_id, "files": done.files if done.files is not None else state["file_ids"]}
