"""A local fake of NCMEC's CyberTipline Reporting API (and of an NCA endpoint).

Listens on 127.0.0.1 only, on a free port, in a daemon thread. Implements
/status, /submit, /upload, /fileinfo, /finish and /retract with HTTP Basic
auth and the documented response codes (0, 1000, 2000, 3000, 4100, 4110,
5001, 5101, 5102); validates /submit and /fileinfo bodies against
cyber_tipline.xsd. Response shapes follow the schema's reportResponse and
reportDoneResponse elements.

Faults are queued per endpoint and consumed one per call::

    server.fail("submit", "timeout")        # sleep past the client's timeout, then answer
    server.fail("upload", "http500")        # HTTP 500
    server.fail("upload", "code1000")       # responseCode 1000 (server error)
    server.fail("finish", "drop_before")    # close the connection without processing
    server.fail("finish", "drop_after")     # process, then close without answering
    server.fail("submit", "code3000")       # any documented code
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from lxml import etree

from tripline.report.xsd import schema_errors

DESCRIPTIONS = {
    0: "Success",
    1000: "Server error",
    2000: "Authentication required",
    3000: "Not authorized",
    4100: "Validation failed",
    4110: "Malformed XML submittal",
    5001: "Report does not exist",
    5002: "File does not exist",
    5101: "Report already retracted",
    5102: "Report already finished",
}


@dataclass
class FakeReport:
    report_id: str
    xml: bytes
    files: dict = field(default_factory=dict)  # fileId -> {"name", "data", "md5", "details"}
    finished: bool = False
    retracted: bool = False


def _resp(code: int, **extra) -> bytes:
    parts = [
        f"<responseCode>{code}</responseCode>",
        f"<responseDescription>{'' if code == 0 else DESCRIPTIONS.get(code, 'Error')}</responseDescription>",
    ]
    for k in ("reportId", "fileId", "hash"):
        if k in extra:
            parts.append(f"<{k}>{extra[k]}</{k}>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<reportResponse>' + "".join(parts) + "</reportResponse>").encode()


class _LoopbackServer:
    """Serves a handler on 127.0.0.1 on a free port, for the duration of a with block."""

    def _listen(self, handler, path: str) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeCyberTipline(_LoopbackServer):
    def __init__(self, username: str = "esp-user", password: str = "esp-pass", *, delay: float = 1.0):
        self.username, self.password, self.delay = username, password, delay
        self.reports: dict[str, FakeReport] = {}
        self.calls: list[str] = []
        self.faults: dict[str, list[str]] = {}
        self._ids = itertools.count(1000001)
        self._fids = itertools.count(1)
        self._lock = threading.Lock()
        self.authorized = True
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet
                pass

            def do_GET(self):
                fake._handle(self, "GET")

            def do_POST(self):
                fake._handle(self, "POST")

        self._listen(Handler, "/ispws")

    def fail(self, endpoint: str, kind: str) -> None:
        self.faults.setdefault(endpoint, []).append(kind)

    @property
    def finished(self) -> list[FakeReport]:
        return [r for r in self.reports.values() if r.finished]

    # -- plumbing --------------------------------------------------------
    def _send(self, h, status: int, body: bytes = b"") -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/xml; charset=utf-8")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _drop(self, h) -> None:
        h.close_connection = True
        try:
            h.connection.shutdown(2)
        except OSError:
            pass

    def _handle(self, h, method: str) -> None:
        path = h.path.split("?", 1)[0]
        path = path.removeprefix("/ispws")
        endpoint = path.strip("/")
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        self.calls.append(endpoint)
        auth = h.headers.get("Authorization", "")
        want = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if auth != want:
            return self._send(h, 401, _resp(2000))
        if not self.authorized:
            return self._send(h, 200, _resp(3000))
        with self._lock:
            queue = self.faults.get(endpoint) or []
            fault = queue.pop(0) if queue else None
        if fault == "timeout":
            time.sleep(self.delay)
        elif fault == "http500":
            return self._send(h, 500, b"internal error")
        elif fault and fault.startswith("code"):
            return self._send(h, 200, _resp(int(fault[4:])))
        elif fault == "drop_before":
            return self._drop(h)
        with self._lock:
            status, out = self._dispatch(method, endpoint, h.headers, body)
        if fault == "drop_after":
            return self._drop(h)
        self._send(h, status, out)

    def _form(self, headers, body: bytes) -> dict:
        ctype = headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
            out = {}
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                out[name] = (part.get_filename(), part.get_payload(decode=True))
            return out
        return {k: (None, v[0].encode()) for k, v in parse_qs(body.decode()).items()}

    def _dispatch(self, method: str, ep: str, headers, body: bytes) -> tuple[int, bytes]:
        if method == "GET" and ep == "status":
            return 200, _resp(0)
        if method != "POST":
            return 405, b""
        if ep in ("submit", "fileinfo"):
            if "text/xml" not in headers.get("Content-Type", ""):
                return 200, _resp(4000)
            try:
                doc = etree.fromstring(body)
            except etree.XMLSyntaxError:
                return 200, _resp(4110)
            if schema_errors(body):
                return 200, _resp(4100)
            if ep == "submit":
                if doc.tag != "report":
                    return 200, _resp(4100)
                rid = str(next(self._ids))
                self.reports[rid] = FakeReport(rid, body)
                return 200, _resp(0, reportId=rid)
            rid, fid = doc.findtext("reportId"), doc.findtext("fileId")
            rep = self.reports.get(rid)
            if rep is None:
                return 200, _resp(5001)
            if rep.retracted:
                return 200, _resp(5101)
            if rep.finished:
                return 200, _resp(5102)
            if fid not in rep.files:
                return 200, _resp(5002)
            rep.files[fid]["details"] = body
            return 200, _resp(0, reportId=rid)
        form = self._form(headers, body)
        rid = (form.get("id") or (None, b""))[1].decode()
        rep = self.reports.get(rid)
        if rep is None:
            return 200, _resp(5001)
        if rep.retracted:
            return 200, _resp(5101)
        if rep.finished:
            return 200, _resp(5102)
        if ep == "upload":
            name, data = form.get("file") or (None, None)
            if data is None:
                return 200, _resp(4200)
            fid = f"f{next(self._fids)}"
            md5 = hashlib.md5(data).hexdigest()
            rep.files[fid] = {"name": name, "data": data, "md5": md5, "details": None}
            return 200, _resp(0, reportId=rid, fileId=fid, hash=md5)
        if ep == "finish":
            rep.finished = True
            files = "".join(f"<fileId>{f}</fileId>" for f in rep.files)
            return 200, (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<reportDoneResponse><responseCode>0</responseCode>'
                f"<reportId>{rid}</reportId><files>{files}</files></reportDoneResponse>"
            ).encode()
        if ep == "retract":
            rep.retracted = True
            return 200, _resp(0, reportId=rid)
        return 404, b""


class FakeNca(_LoopbackServer):
    """A stand-in for the NCA endpoint: POST /reports, idempotent by key."""

    def __init__(self, token: str = "nca-token"):
        self.token = token
        self.reports: dict[str, dict] = {}
        self.faults: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return self._out(401, {"error": "unauthorized"})
                fault = fake.faults.pop(0) if fake.faults else None
                if fault == "http503":
                    return self._out(503, {"error": "busy"})
                key = self.headers.get("Idempotency-Key") or ""
                if key not in fake.reports:
                    fake.reports[key] = {"reference": f"NCA-{len(fake.reports) + 1:06d}", "payload": json.loads(body)}
                if fault == "drop_after":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self._out(201, {"reference": fake.reports[key]["reference"]})

            def _out(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._listen(Handler, "/nca")
