# ruff: noqa: F811  (pytest fixtures imported from service_support)
"""Reports and the vault through the service: a human confirms in the console,
a child-safety reviewer builds the report, then (separately) submits it to the
local fake CyberTipline; status shows in the console and the API; roles are
enforced; everything is in the audit log."""

from __future__ import annotations

import pytest

from fake_cybertipline import FakeCyberTipline
from report_support import reporter
from service_support import edited, env, env_any, login, photo_bytes  # noqa: F401
from tripline.report import CredentialStore
from tripline.service.roles import PERMISSIONS, ROLES
from tripline.vault import StaticKeyProvider, local_operator

CS = "child-safety-reviewer"


def _configure(env, fake):
    env.svc.vault_keys = StaticKeyProvider(bytes(32))
    env.svc.vault_dir = str(env.svc.cfg.home_dir() / "vault")
    env.svc.reporter = reporter()
    env.svc.ncmec_client_timeout = 2.0
    CredentialStore(env.svc.engine, env.svc.vault_keys).set(
        "ncmec",
        principal=local_operator(),
        environment="test",
        secret={"username": fake.username, "password": fake.password},
        base_url=fake.url,
    )


def _flagged_item(env, i=0) -> int:
    data = photo_bytes(i)
    name = f"known{i}"
    assert env.client.post("/v1/banks", json={"name": name}, headers=env.h("policy-manager")).status_code == 201
    hashes = env.client.post(
        "/h/hash",
        files={"photo": ("a.jpg", data, "image/jpeg")},
        params={"types": "pdq,md5"},
        headers=env.h("integration"),
    ).json()
    env.client.post(
        f"/v1/banks/{name}/signals",
        headers=env.h("policy-manager"),
        json={"signals": [{"signal_type": t, "value": v} for t, v in hashes.items()]},
    )
    r = env.client.post(
        "/v1/scan", files={"file": ("upload.jpg", edited(data), "image/jpeg")}, headers=env.h("integration")
    )
    item_id = r.json()["review_item_id"]
    assert item_id is not None and env.svc.queue.get(item_id)["queue"] == "child-safety"
    return item_id


def _confirm_in_console(env, item_id, *, reveal: bool):
    c, csrf = login(env, CS)
    assert (
        c.post(f"/review/items/{item_id}/claim", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    )
    if reveal:
        r = c.post(f"/review/items/{item_id}/reveal", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200, r.text
    r = c.post(
        f"/review/items/{item_id}/decide",
        follow_redirects=False,
        data={"csrf_token": csrf, "outcome": "confirm", "classification": "B1"},
    )
    assert r.status_code == 303, r.text
    return c, csrf


def test_console_confirm_build_submit_status(env_any):
    env = env_any
    with FakeCyberTipline() as fake:
        _configure(env, fake)
        item_id = _flagged_item(env)
        c, csrf = _confirm_in_console(env, item_id, reveal=True)
        # Confirming files nothing: no submission exists, nothing reached the fake.
        assert env.client.get("/v1/reports", headers=env.h("auditor")).json() == []
        assert not fake.reports
        page = c.get(f"/review/items/{item_id}")
        assert 'id="report-build"' in page.text and 'id="report-submit"' not in page.text

        r = c.post(f"/review/items/{item_id}/report/build", data={"csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 303, r.text
        page = c.get(f"/review/items/{item_id}").text
        assert 'id="report-status">built<' in page and 'id="report-valid">valid<' in page
        assert 'id="viewed-file">true<' in page and 'id="viewed-exif">false<' in page
        assert 'id="report-submit"' in page
        assert not fake.reports  # built, not sent
        sub_id = env.client.get("/v1/reports", headers=env.h(CS)).json()[0]["id"]
        # The evidence is preserved in the vault on build.
        sha = env.svc.queue.get(item_id)["sha256"]
        info = env.client.get(f"/v1/vault/{sha}", headers=env.h("auditor")).json()
        assert info["preservations"] and "report build" in info["preservations"][0]["reason"]

        # Submitting is its own deliberate action.
        r = c.post(
            f"/console/reports/{sub_id}/submit",
            data={"csrf_token": csrf, "item_id": str(item_id)},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        (rep,) = fake.finished
        (f,) = rep.files.values()
        assert b"<fileViewedByEsp>true</fileViewedByEsp>" in f["details"]
        assert b"<exifViewedByEsp>false</exifViewedByEsp>" in f["details"]
        assert b"<industryClassification>B1</industryClassification>" in f["details"]

        page = c.get(f"/review/items/{item_id}").text
        assert 'id="report-status">finished<' in page and rep.report_id in page
        assert 'id="report-submit"' not in page and 'id="report-build"' not in page
        for role in ("auditor", "admin", CS):
            rc, _ = login(env, role)
            lst = rc.get("/console/reports")
            assert lst.status_code == 200 and "finished" in lst.text and rep.report_id in lst.text, role
        st = env.client.get(f"/v1/reports/{sub_id}", headers=env.h("admin")).json()
        assert st["status"] == "finished" and st["remote_id"] == rep.report_id and st["last_error"] is None
        # Retention counts from the report: a preservation record carries the NCMEC id.
        info = env.client.get(f"/v1/vault/{sha}", headers=env.h(CS)).json()
        assert f"ncmec:{rep.report_id}" in {p["report_ref"] for p in info["preservations"]}
        # A second submit is refused by the report state machine (already finished: nothing re-sent).
        env.client.post(f"/v1/reports/{sub_id}/submit", headers=env.h(CS))
        assert len(fake.finished) == 1

        actions = [e["action"] for e in env.svc.audit.entries()]
        for a in (
            "review.reveal",
            "review.decide",
            "vault.put",
            "report.build",
            "report.submit",
            "report.finished",
            "report.list_viewed",
        ):
            assert a in actions or any(x.startswith(a) for x in actions), a
        assert env.svc.audit.verify().ok
        assert not env.svc.vault().verify_custody()


def test_api_build_without_reveal_says_not_viewed(env):
    with FakeCyberTipline() as fake:
        _configure(env, fake)
        item_id = _flagged_item(env)
        _confirm_in_console(env, item_id, reveal=False)
        r = env.client.post("/v1/reports", json={"item_id": item_id}, headers=env.h(CS))
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["status"] == "built" and body["valid"] is True
        assert body["viewed"] == {"file": False, "exif": False}
        assert env.client.post(f"/v1/reports/{body['id']}/validate", headers=env.h(CS)).json()["valid"] is True
        r = env.client.post(f"/v1/reports/{body['id']}/submit", headers=env.h(CS))
        assert r.status_code == 200 and r.json()["status"] == "finished", r.text
        (rep,) = fake.finished
        (f,) = rep.files.values()
        assert b"<fileViewedByEsp>false</fileViewedByEsp>" in f["details"]


def test_unconfirmed_item_cannot_be_reported(env):
    with FakeCyberTipline() as fake:
        _configure(env, fake)
        item_id = _flagged_item(env)
        r = env.client.post("/v1/reports", json={"item_id": item_id}, headers=env.h(CS))
        assert r.status_code == 400, r.text
        c, csrf = login(env, CS)
        r = c.post(f"/review/items/{item_id}/report/build", data={"csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 400
        c.post(f"/review/items/{item_id}/claim", data={"csrf_token": csrf})
        c.post(f"/review/items/{item_id}/decide", data={"csrf_token": csrf, "outcome": "dismiss"})
        assert env.client.post("/v1/reports", json={"item_id": item_id}, headers=env.h(CS)).status_code == 400
        assert env.client.get("/v1/reports", headers=env.h(CS)).json() == [] and not fake.reports


def test_vault_routes_and_audit(env):
    with FakeCyberTipline() as fake:
        _configure(env, fake)
        data = b"benign test pattern " * 50
        r = env.client.post(
            "/v1/vault",
            params={"reason": "test preservation"},
            content=data,
            headers={**env.h("integration"), "Content-Type": "application/octet-stream"},
        )
        assert r.status_code == 201, r.text
        sha = r.json()["sha256"]
        assert (
            env.client.get(f"/v1/vault/{sha}/content", params={"purpose": "check"}, headers=env.h(CS)).content == data
        )
        hid = env.client.post(f"/v1/vault/{sha}/hold", json={"reason": "LE request 1"}, headers=env.h(CS)).json()[
            "hold_id"
        ]
        assert (
            env.client.post(f"/v1/vault/holds/{hid}/release", json={"reason": "closed"}, headers=env.h(CS)).status_code
            == 200
        )
        assert env.client.get(f"/v1/vault/{'0' * 64}", headers=env.h(CS)).status_code == 404
        actions = {e["action"] for e in env.svc.audit.entries()}
        assert {"vault.put", "vault.get", "vault.hold", "vault.release"} <= actions
        custody = [e["action"] for e in env.svc.vault().custody(sha)]
        assert custody[:4] == ["put", "get", "hold", "release"]


SHA = "a" * 64
ROUTES = [
    ("GET", "/v1/reports", "report.status"),
    ("GET", "/v1/reports/1", "report.status"),
    ("POST", "/v1/reports", "report.build"),
    ("POST", "/v1/reports/1/validate", "report.build"),
    ("POST", "/v1/reports/1/submit", "report.submit"),
    ("POST", "/v1/vault", "vault.put"),
    ("GET", f"/v1/vault/{SHA}", "vault.read_meta"),
    ("GET", f"/v1/vault/{SHA}/content?purpose=x", "vault.get"),
    ("POST", f"/v1/vault/{SHA}/hold", "vault.hold"),
    ("POST", "/v1/vault/holds/1/release", "vault.release"),
]


def test_report_and_vault_roles(env):
    with FakeCyberTipline() as fake:
        _configure(env, fake)
        for method, path, perm in ROUTES:
            for role in ROLES:
                r = env.client.request(method, path, headers=env.h(role), json={"item_id": 1, "reason": "x"})
                if role in PERMISSIONS[perm]:
                    assert r.status_code != 403, (role, method, path, r.text)
                else:
                    assert r.status_code == 403, (role, method, path, r.status_code)
            assert env.client.request(method, path).status_code == 401
        # Purge and credentials stay with the local operator: no service route or permission.
        assert "vault.purge" not in PERMISSIONS and "report.credentials" not in PERMISSIONS
        # Console: the reports page and the report actions.
        for role in ROLES:
            c, csrf = login(env, role)
            r = c.get("/console/reports", follow_redirects=False)
            assert r.status_code == (200 if role in PERMISSIONS["report.status"] else 403), role
            r = c.post("/console/reports/1/submit", data={"csrf_token": csrf}, follow_redirects=False)
            if role not in PERMISSIONS["report.submit"]:
                assert r.status_code == 403, role
            r = c.post("/review/items/1/report/build", data={"csrf_token": csrf}, follow_redirects=False)
            if role not in PERMISSIONS["report.build"]:
                assert r.status_code == 403, role
        assert not fake.reports
        assert PERMISSIONS["report.submit"] == {CS}


@pytest.mark.parametrize("role", ["reviewer"])
def test_reviewer_item_page_has_no_report_actions(env, role):
    with FakeCyberTipline() as fake:
        _configure(env, fake)
        item_id = _flagged_item(env)
        _confirm_in_console(env, item_id, reveal=False)
        c, _ = login(env, role)
        # General reviewers cannot even open a child-safety item.
        assert c.get(f"/review/items/{item_id}").status_code == 403


def test_failed_submission_shows_last_error(env):
    with FakeCyberTipline() as fake:
        _configure(env, fake)
        item_id = _flagged_item(env)
        _confirm_in_console(env, item_id, reveal=True)
        sub_id = env.client.post("/v1/reports", json={"item_id": item_id}, headers=env.h(CS)).json()["id"]
        fake.fail("submit", "code3000")  # not authorized: fatal, no retry
        r = env.client.post(f"/v1/reports/{sub_id}/submit", headers=env.h(CS))
        assert r.status_code == 200 and r.json()["status"] == "failed" and r.json()["last_error"], r.text
        assert not fake.finished
        c, _ = login(env, "auditor")
        page = c.get("/console/reports", params={"status": "failed"}).text
        assert ">failed<" in page and "3000" in page
        assert "report.failed" in {e["action"] for e in env.svc.audit.entries()}
