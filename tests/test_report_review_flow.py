"""End to end through the real review queue and audit log: a human confirms,
the audit shows a reveal, the report is built from that and filed to the fake."""

from __future__ import annotations

import hashlib

from fake_cybertipline import FakeCyberTipline
from report_support import FILE_BYTES, T0, reporter
from tripline.audit import AuditLog
from tripline.report import (
    CyberTiplineClient,
    IpCapture,
    NcmecDestination,
    ReportService,
    from_review_item,
    vault_files,
)
from tripline.review.queue import ReviewQueue
from tripline.store import Store
from tripline.vault import Principal, StaticKeyProvider, Vault

CS = Principal("alice", ("child-safety-reviewer",))


def test_confirmed_review_item_to_finished_report(sqlite_url, tmp_path):
    with Store(sqlite_url) as store, FakeCyberTipline() as fake:
        audit = AuditLog(store.engine)
        queue = ReviewQueue(store.engine, audit)
        record = {
            "path": "uploads/upload-9.bin",
            "size": len(FILE_BYTES),
            "md5": hashlib.md5(FILE_BYTES).hexdigest(),
            "sha256": hashlib.sha256(FILE_BYTES).hexdigest(),
            "pdq": "0" * 64,
            "provenance": {"synthetic": "declared", "c2pa": {"present": False}},
            "matches": [{"bank": "ncmec", "bank_kind": "match", "suppressed": False}],
        }
        item_id = queue.enqueue(record, {"priority": "P0", "action": "review"}, None, actor="scanner")
        queue.claim(item_id, "alice")
        audit.append("alice", "review.view", f"item:{item_id}", {})
        audit.append("alice", "review.reveal", f"item:{item_id}", {"reveal_id": 1})
        queue.decide(item_id, "alice", "confirm", classification="B1", annotations={"generativeAi": False})

        vault = Vault(tmp_path / "vault", store.engine, StaticKeyProvider(bytes(32)))
        vault.put(FILE_BYTES, principal=CS, reason=f"review item {item_id} confirmed")
        inc = from_review_item(
            queue.get(item_id),
            list(audit.entries()),
            uploaded_at=T0,
            publicly_available=False,
            ip_events=[IpCapture("192.0.2.20", "Upload", T0)],
        )
        assert inc.viewed == {"file": True, "exif": False} and inc.annotations == {}

        svc = ReportService(store.engine, reporter(), vault=vault, audit=audit)
        sub = svc.build(inc, principal=CS)
        dest = NcmecDestination(CyberTiplineClient(fake.url, fake.username, fake.password, timeout=2))
        out = svc.submit(sub["id"], dest, principal=CS, files=vault_files(vault, CS), sleep=lambda s: None)
        assert out["status"] == "finished"
        (rep,) = fake.finished
        (f,) = rep.files.values()
        assert b"<fileViewedByEsp>true</fileViewedByEsp>" in f["details"]
        assert b"<exifViewedByEsp>false</exifViewedByEsp>" in f["details"]
        assert b"<industryClassification>B1</industryClassification>" in f["details"]
        assert b"generativeAi" not in f["details"]
        assert {"report.build", "report.submit", "report.finished"} <= {e["action"] for e in audit.entries()}
        assert audit.verify().ok
