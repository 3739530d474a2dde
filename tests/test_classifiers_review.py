# ruff: noqa: F811  (pytest fixtures imported from service_support)
"""Classifier evidence through the service: /v1/scan runs the configured
classifier, the console shows its scores beside match and provenance
evidence, and a confirmed report says only that a classifier flagged the
file."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from report_support import FILE_BYTES
from service_support import login, make_env, photo_bytes

sys.path.insert(0, str(Path(__file__).parent))
from fake_classifiers import BRIGHT_POLICY, brightness_model  # noqa: E402
from tripline.audit import AuditLog  # noqa: E402
from tripline.classifiers.evidence import FLAGGED_STATEMENT, flagged_by_classifier  # noqa: E402
from tripline.report import from_review_item  # noqa: E402
from tripline.report.cybertipline import build_file_details  # noqa: E402
from tripline.review.queue import ReviewQueue  # noqa: E402
from tripline.store import Store  # noqa: E402

POLICY = (
    BRIGHT_POLICY
    + """eligible = ["unmatched"]

[[rule]]
name = "bright-unmatched"
when = 'classifier(name == "bright" and label == "brightness" and score >= 0.05)'
action = "review"
priority = "P2"
reason = "test rule: a test-built brightness score sends the upload to review"
"""
)


def test_service_scan_runs_the_classifier_and_the_console_shows_it(sqlite_url, tmp_path):
    brightness_model(tmp_path / "bright.onnx")
    (tmp_path / "policy.toml").write_text(POLICY)
    env = make_env(sqlite_url, tmp_path, policy=str(tmp_path / "policy.toml"))
    try:
        r = env.client.post(
            "/v1/scan", files={"file": ("u.jpg", photo_bytes(0), "image/jpeg")}, headers=env.h("integration")
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["decision"]["action"] == "review"
        assert "classifiers" not in body  # scores go to staff (the console), not the API caller
        item = env.svc.queue.get(body["review_item_id"])
        scores = item["record"]["classifiers"]["bright"]
        assert 0.05 < scores["labels"]["brightness"] < 1 and scores["model"].startswith("onnx:sha256:")
        assert "classifier_input" not in item["record"]
        c, _ = login(env, "child-safety-reviewer")
        page = c.get(f"/review/items/{body['review_item_id']}")
        assert page.status_code == 200
        assert "<h2>Classifiers</h2>" in page.text and "brightness" in page.text
        assert "<h2>Match evidence</h2>" in page.text and "<h2>Provenance</h2>" in page.text
    finally:
        env.svc.close()


def test_confirmed_report_says_a_classifier_flagged_it_without_vendor_internals(sqlite_url):
    with Store(sqlite_url) as store:
        audit = AuditLog(store.engine)
        queue = ReviewQueue(store.engine, audit)
        record = {
            "path": "u/upload.bin",
            "size": len(FILE_BYTES),
            "md5": hashlib.md5(FILE_BYTES).hexdigest(),
            "sha256": hashlib.sha256(FILE_BYTES).hexdigest(),
            "matches": [],
            "classifiers": {"vendor-x": {"labels": {"secret_label": 0.97}, "model": "hive:model-v9", "ms": 80}},
        }
        decision = {
            "action": "review",
            "priority": "P0",
            "fired": [
                {
                    "rule": "r",
                    "action": "review",
                    "priority": "P0",
                    "reason": "x",
                    "because": ["classifier(name='vendor-x', label='secret_label', score=0.97) satisfies score >= 0.9"],
                }
            ],
        }
        assert flagged_by_classifier(decision)
        assert not flagged_by_classifier({"fired": [{"action": "review", "because": ["match(bank='b') ..."]}]})
        item_id = queue.enqueue(record, decision, None, actor="scanner")
        queue.claim(item_id, "alice")
        queue.decide(item_id, "alice", "confirm", classification="A1", annotations={})
        inc = from_review_item(queue.get(item_id), list(audit.entries()))
        assert inc.classifier_flagged
        xml = build_file_details(inc, 1, "f1").decode()
        assert FLAGGED_STATEMENT in xml
        for internal in ("vendor-x", "secret_label", "0.97", "hive", "model-v9"):
            assert internal not in xml
