"""Submission against the local fake CyberTipline, with injected faults.

Every test is bounded: client timeout 0.3 s, fake delay 0.6 s, no real sleeps
between retries. The fake listens on 127.0.0.1 only.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from sqlalchemy import select

from fake_cybertipline import FakeCyberTipline, FakeNca
from report_support import FILE_BYTES, maximal_incident, minimal_incident, reporter
from tripline.report import (
    CredentialStore,
    CyberTiplineClient,
    IncidentError,
    NcaDestination,
    NcmecDestination,
    ReportConflict,
    ReportService,
    vault_files,
)
from tripline.store import Store
from tripline.store.models import utcnow
from tripline.store.report_models import ReportCredential
from tripline.vault import AccessDenied, Principal, StaticKeyProvider, Vault
from tripline.vault.keys import KeyError_

REVIEWER = Principal("alice", ("child-safety-reviewer",))
PLAIN_REVIEWER = Principal("bob", ("reviewer",))
KEY = StaticKeyProvider(bytes(range(32)))


@pytest.fixture
def env(sqlite_url, tmp_path):
    store = Store(sqlite_url)
    vault = Vault(tmp_path / "vault", store.engine, KEY)
    svc = ReportService(store.engine, reporter(), vault=vault, require_review=False)
    yield store, vault, svc
    store.close()


@pytest.fixture
def fake():
    with FakeCyberTipline(delay=0.6) as f:
        yield f


def _dest(fake, password="esp-pass"):
    return NcmecDestination(CyberTiplineClient(fake.url, fake.username, password, timeout=0.3))


def _prepare(env, incident=None):
    _store, vault, svc = env
    inc = incident or maximal_incident()
    vault.put(FILE_BYTES, principal=REVIEWER, reason=f"review item {inc.item_id} confirmed")
    return svc.build(inc, principal=REVIEWER)


def _submit(env, fake, sub, **kw):
    _store, vault, svc = env
    return svc.submit(
        sub["id"],
        _dest(fake, **{k: kw.pop(k) for k in list(kw) if k == "password"}),
        principal=REVIEWER,
        files=vault_files(vault, REVIEWER),
        sleep=lambda s: None,
        **kw,
    )


def test_happy_path_files_one_complete_report(env, fake):
    sub = _prepare(env)
    assert sub["status"] == "built"
    out = _submit(env, fake, sub)
    assert out["status"] == "finished" and out["attempts"] == 1
    assert fake.calls == ["submit", "upload", "fileinfo", "finish"]
    (rep,) = fake.finished
    assert out["remote_id"] == rep.report_id
    (f,) = rep.files.values()
    assert f["data"] == FILE_BYTES and f["name"] == "upload-42.png"
    assert b"<fileViewedByEsp>true</fileViewedByEsp>" in f["details"]
    # The report is a preservation request: retention now counts from the report.
    info = env[1].info(maximal_incident().sha256, principal=REVIEWER)
    assert any(p["report_ref"] == f"ncmec:{rep.report_id}" for p in info["preservations"])
    # Submitting again is a no-op, not a second report.
    assert _submit(env, fake, sub)["status"] == "finished"
    assert len(fake.reports) == 1


def test_timeout_on_submit_is_retried_without_duplicates(env, fake):
    fake.fail("submit", "timeout")
    out = _submit(env, fake, _prepare(env))
    assert out["status"] == "finished" and out["attempts"] == 2
    assert len(fake.finished) == 1


def test_server_error_mid_upload_retracts_and_refiles(env, fake):
    fake.fail("upload", "http500")
    out = _submit(env, fake, _prepare(env))
    assert out["status"] == "finished"
    assert len(fake.finished) == 1
    retracted = [r for r in fake.reports.values() if r.retracted]
    assert len(retracted) == 1 and out["retracted"] == [retracted[0].report_id]
    assert fake.calls == ["submit", "upload", "retract", "submit", "upload", "fileinfo", "finish"]


def test_response_code_1000_mid_upload_is_retried(env, fake):
    fake.fail("upload", "code1000")
    out = _submit(env, fake, _prepare(env))
    assert out["status"] == "finished" and len(fake.finished) == 1


def test_dropped_connection_before_finish(env, fake):
    fake.fail("finish", "drop_before")
    out = _submit(env, fake, _prepare(env))
    assert out["status"] == "finished"
    assert len(fake.finished) == 1 and sum(r.retracted for r in fake.reports.values()) == 1


def test_finish_processed_but_answer_lost_counts_via_5102(env, fake):
    fake.fail("finish", "drop_after")
    out = _submit(env, fake, _prepare(env))
    assert out["status"] == "finished"
    (rep,) = fake.reports.values()  # no second report at all
    assert rep.finished and not rep.retracted and out["remote_id"] == rep.report_id
    assert fake.calls[-1] == "retract"  # answered 5102 'already finished'


def test_timeout_on_finish(env, fake):
    fake.fail("finish", "timeout")
    out = _submit(env, fake, _prepare(env))
    assert out["status"] == "finished" and len(fake.finished) == 1


def test_bad_credentials_fail_fast_and_visibly(env, fake):
    out = _submit(env, fake, _prepare(env), password="wrong")
    assert out["status"] == "failed" and out["attempts"] == 1
    assert "credentials" in out["last_error"]
    assert fake.reports == {}


def test_not_authorized_code_is_fatal(env, fake):
    fake.fail("submit", "code3000")
    out = _submit(env, fake, _prepare(env))
    assert out["status"] == "failed" and out["attempts"] == 1


def test_retries_exhausted_then_resumed_later(env, fake):
    for _ in range(3):
        fake.fail("finish", "http500")
    sub = _prepare(env)
    out = _submit(env, fake, sub, max_attempts=3)
    assert out["status"] == "failed" and out["attempts"] == 3 and fake.finished == []
    # A new build must not create a second report for the same item while one is open.
    with pytest.raises(ReportConflict):
        env[2].build(maximal_incident(), principal=REVIEWER)
    out = _submit(env, fake, sub)
    assert out["status"] == "finished" and len(fake.finished) == 1
    assert all(r.retracted for r in fake.reports.values() if not r.finished)


def test_crash_after_submit_resumes_by_retracting(env, fake):
    """A worker killed after /submit left an open report id in the database."""
    store, _vault, svc = env
    sub = _prepare(env)
    client = CyberTiplineClient(fake.url, fake.username, fake.password, timeout=0.3)
    orphan = client.submit(svc.document(sub["id"], principal=REVIEWER))
    from tripline.report.service import subs_t

    with store.engine.begin() as conn:
        conn.execute(
            subs_t.update()
            .where(subs_t.c.id == sub["id"])
            .values(
                status="submitting",
                state={"report_id": orphan, "file_ids": [], "finished": False},
                # The killed worker's claim has lapsed (report.service.SUBMIT_LEASE).
                updated_at=utcnow() - timedelta(hours=1),
            )
        )
    out = _submit(env, fake, sub)
    assert out["status"] == "finished" and fake.reports[orphan].retracted and len(fake.finished) == 1


def test_backoff_grows(env, fake):
    _store, vault, svc = env
    for _ in range(3):
        fake.fail("submit", "code1000")
    sleeps = []
    svc.submit(
        _prepare(env)["id"],
        _dest(fake),
        principal=REVIEWER,
        files=vault_files(vault, REVIEWER),
        backoff=0.5,
        sleep=sleeps.append,
    )
    assert sleeps == [0.5, 1.0, 2.0]


def test_roles(env, fake):
    _store, _vault, svc = env
    with pytest.raises(AccessDenied):
        svc.build(minimal_incident(), principal=PLAIN_REVIEWER)
    sub = svc.build(minimal_incident(), principal=REVIEWER)
    with pytest.raises(AccessDenied):
        svc.submit(sub["id"], _dest(fake), principal=PLAIN_REVIEWER, files=lambda i: [])
    assert svc.list(principal=Principal("aud", ("auditor",)))[0]["status"] == "built"


def test_credentials_encrypted_and_never_returned(env):
    store, _vault, _svc = env
    creds = CredentialStore(store.engine, KEY)
    admin = Principal("root", ("admin",))
    with pytest.raises(AccessDenied):
        creds.set("ncmec", principal=REVIEWER, environment="test", secret={"username": "u", "password": "p"})
    shown = creds.set(
        "ncmec", principal=admin, environment="test", secret={"username": "esp-user", "password": "sekrit-pass-123"}
    )
    assert shown["base_url"] == "https://exttest.cybertip.org/ispws"
    assert "sekrit" not in repr(shown) and "esp-user" not in repr(shown)
    with store.engine.connect() as conn:
        raw = repr(conn.execute(select(ReportCredential.__table__)).all())
    assert "sekrit" not in raw and "esp-user" not in raw
    assert creds._secret("ncmec")[2]["password"] == "sekrit-pass-123"
    with pytest.raises(KeyError_):
        CredentialStore(store.engine, StaticKeyProvider(os.urandom(32)))._secret("ncmec")


def test_postgres_and_sqlite_status_tracking(db_url, tmp_path, fake):
    with Store(db_url) as store:
        vault = Vault(tmp_path / "v", store.engine, KEY)
        svc = ReportService(store.engine, reporter(), vault=vault, require_review=False)
        env = (store, vault, svc)
        fake.fail("upload", "http500")
        out = _submit(env, fake, _prepare(env))
        assert out["status"] == "finished" and len(fake.finished) == 1
        assert [s["status"] for s in svc.list(principal=REVIEWER)] == ["finished"]


def test_nca_destination_behind_the_same_interface(env):
    _store, vault, svc = env
    with FakeNca() as nca:
        vault.put(FILE_BYTES, principal=REVIEWER, reason="confirmed")
        sub = svc.build(maximal_incident(), principal=REVIEWER, destination="nca")
        nca.faults = ["http503", "drop_after"]
        dest = NcaDestination(nca.url, "nca-token", timeout=0.5)
        out = svc.submit(sub["id"], dest, principal=REVIEWER, files=vault_files(vault, REVIEWER), sleep=lambda s: None)
        assert out["status"] == "finished" and out["attempts"] == 3
        assert len(nca.reports) == 1  # idempotent across the lost answer
        (rep,) = nca.reports.values()
        assert out["remote_id"] == rep["reference"]
        assert rep["payload"]["files"][0]["industryClassification"] == "A1"


def test_fatal_error_after_submit_retracts_the_open_report(env, fake):
    fake.fail("fileinfo", "code4100")
    out = _submit(env, fake, _prepare(env))
    assert out["status"] == "failed" and "4100" in out["last_error"]
    (rep,) = fake.reports.values()
    assert rep.retracted and not rep.finished


def _review_row(store, item_id, *, outcome, decided_by="alice", status="decided"):
    from tripline.store.models import utcnow
    from tripline.store.review_models import ReviewItem

    with store.engine.begin() as conn:
        conn.execute(
            ReviewItem.__table__.insert().values(
                id=item_id,
                sha256=None,
                media_type=None,
                status=status,
                queue="child-safety",
                priority="P0",
                priority_rank=0,
                record={},
                decision={"action": "review"},
                context=None,
                outcome=outcome,
                decided_by=decided_by,
                decided_at=utcnow(),
                created_at=utcnow(),
            )
        )


def test_build_requires_a_matching_human_confirmation_in_the_review_queue(env):
    store, _vault, _svc = env
    svc = ReportService(store.engine, reporter())  # require_review=True, the default
    with pytest.raises(IncidentError, match="no human-confirmed"):
        svc.build(maximal_incident(), principal=REVIEWER)  # no review item 42
    _review_row(store, 42, outcome={"outcome": "dismiss"})
    with pytest.raises(IncidentError, match="no human-confirmed"):
        svc.build(maximal_incident(), principal=REVIEWER)
    _review_row(
        store,
        43,
        outcome={"outcome": "confirm", "classification": "A1", "annotations": {"generativeAi": False, "viral": True}},
    )
    with pytest.raises(IncidentError, match="generativeAi"):  # suggested by provenance, not confirmed
        svc.build(maximal_incident(item_id="43"), principal=REVIEWER)
    with pytest.raises(IncidentError, match="confirmed by alice"):
        svc.build(maximal_incident(item_id="43", reviewer="mallory"), principal=REVIEWER)
    with pytest.raises(IncidentError, match="classification"):
        svc.build(maximal_incident(item_id="43", classification="B1", annotations={"viral": True}), principal=REVIEWER)
    ok = svc.build(maximal_incident(item_id="43", annotations={"viral": True}), principal=REVIEWER)
    assert ok["status"] == "built"
