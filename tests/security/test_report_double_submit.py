"""15.12: two concurrent submits of one report: exactly one delivers."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import update

from report_support import FILE_BYTES, maximal_incident, reporter
from tripline.report import ReportConflict, ReportService, vault_files
from tripline.report.service import subs_t
from tripline.store import Store
from tripline.store.models import utcnow
from tripline.vault import Principal, StaticKeyProvider, Vault

CS = Principal("alice", ("child-safety-reviewer",))


class SlowDestination:
    name = "ncmec"

    def __init__(self):
        self.deliveries = 0
        self.entered = threading.Event()
        self.release = threading.Event()

    def deliver(self, incident, document, payload, state, checkpoint):
        self.deliveries += 1
        self.entered.set()
        assert self.release.wait(10)
        return {"remote_id": f"r{self.deliveries}"}


@pytest.fixture
def svc(db_url, tmp_path):
    store = Store(db_url)
    vault = Vault(tmp_path / "vault", store.engine, StaticKeyProvider(bytes(range(32))))
    inc = maximal_incident()
    vault.put(FILE_BYTES, principal=CS, reason="confirmed")
    rs = ReportService(store.engine, reporter(), vault=vault, require_review=False)
    sub = rs.build(inc, principal=CS)
    yield rs, vault, sub, store
    store.close()


def test_second_concurrent_submit_is_refused(svc):
    rs, vault, sub, _store = svc
    dest = SlowDestination()
    out = {}
    t = threading.Thread(
        target=lambda: out.update(first=rs.submit(sub["id"], dest, principal=CS, files=vault_files(vault, CS)))
    )
    t.start()
    assert dest.entered.wait(10)
    with pytest.raises(ReportConflict):
        rs.submit(sub["id"], dest, principal=CS, files=vault_files(vault, CS))
    dest.release.set()
    t.join(10)
    assert out["first"]["status"] == "finished" and dest.deliveries == 1


def test_stale_claim_of_a_killed_submit_is_taken_over(svc):
    rs, vault, sub, store = svc
    with store.engine.begin() as conn:
        conn.execute(
            update(subs_t)
            .where(subs_t.c.id == sub["id"])
            .values(status="submitting", updated_at=utcnow() - timedelta(hours=1))
        )
    dest = SlowDestination()
    dest.release.set()
    assert rs.submit(sub["id"], dest, principal=CS, files=vault_files(vault, CS))["status"] == "finished"
