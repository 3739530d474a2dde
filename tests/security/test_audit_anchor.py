"""15.4: a database writer who rewrites and re-chains the audit log is caught
by an older anchor, and (with the vault key) by the keyed head."""

from __future__ import annotations

import os

import pytest
import typer
from sqlalchemy import select, update
from typer.testing import CliRunner

from service_support import env_any  # noqa: F401
from tripline.audit.log import GENESIS, HEAD_KEY, audit, entry_hash, settings_t
from tripline.cli import serve_cmd
from tripline.store import Store
from tripline.vault import StaticKeyProvider, audit_head_key


def _rewrite_and_rechain(engine, seq: int, new_action: str, *, head_mac: str | None = None) -> None:
    """What someone with database write access but no vault key can do."""
    with engine.begin() as conn:
        rows = list(conn.execute(select(audit).order_by(audit.c.seq)))
        prev = GENESIS
        for r in rows:
            if r.seq < seq:
                prev = r.hash
                continue
            action = new_action if r.seq == seq else r.action
            h = entry_hash(prev, r.seq, r.at, r.actor, action, r.target, r.detail)
            conn.execute(update(audit).where(audit.c.seq == r.seq).values(action=action, prev_hash=prev, hash=h))
            prev = h
        head = {"seq": rows[-1].seq, "hash": prev}
        if head_mac:
            head["mac"] = head_mac
        conn.execute(update(settings_t).where(settings_t.c.key == HEAD_KEY).values(value=head))


def _fill(log, n=6):
    return [log.append("alice", "review.view", f"item:{i}") for i in range(n)]


def test_older_anchor_catches_a_rechained_log(db_url):
    from tripline.audit import AuditLog

    store = Store(db_url)
    try:
        log = AuditLog(store.engine)
        entries = _fill(log)
        anchor = (entries[2]["seq"], entries[2]["hash"])  # an older entry, as every real anchor is
        assert log.verify(anchor).ok
        _rewrite_and_rechain(store.engine, 2, "review.nothing_happened")
        res = log.verify(anchor)
        assert not res.ok and any("entry 3" in p for p in res.problems), res.problems
        assert not log.verify((2, "0" * 64)).ok
        assert not log.verify((99, entries[-1]["hash"])).ok
    finally:
        store.close()


def test_keyed_head_catches_a_rechained_log_without_anchor(db_url):
    from tripline.audit import AuditLog

    store = Store(db_url)
    try:
        key = audit_head_key(StaticKeyProvider(os.urandom(32)))
        log = AuditLog(store.engine, head_key=key)
        _fill(log)
        assert log.verify().ok and log.verify().keyed
        _rewrite_and_rechain(store.engine, 2, "review.nothing_happened", head_mac="f" * 64)
        res = log.verify()
        assert not res.ok and any("vault key" in p for p in res.problems)
    finally:
        store.close()


def test_api_verify_takes_an_anchor(env_any):  # noqa: F811 - pytest fixture imported from service_support
    env = env_any
    first = env.svc.audit.append("alice", "review.view", "item:1")
    _fill(env.svc.audit)
    h = env.h("auditor")
    ok = env.client.get("/v1/audit/verify", params={"head": f"{first['seq']}:{first['hash']}"}, headers=h).json()
    assert ok["ok"], ok
    _rewrite_and_rechain(env.svc.engine, first["seq"], "x")
    bad = env.client.get("/v1/audit/verify", params={"head": f"{first['seq']}:{first['hash']}"}, headers=h).json()
    assert not bad["ok"]
    assert env.client.get("/v1/audit/verify", params={"head": "2:zz"}, headers=h).status_code == 400


def test_cli_verify_with_an_older_anchor(sqlite_url, tmp_path):
    from tripline.audit import AuditLog

    store = Store(sqlite_url)
    entries = _fill(AuditLog(store.engine))
    store.close()
    app = typer.Typer()
    serve_cmd.register(app)
    base = ["--db", sqlite_url, "--home", str(tmp_path)]
    anchor = f"{entries[1]['seq']}:{entries[1]['hash']}"
    assert CliRunner().invoke(app, ["audit", "verify", *base, "--head", anchor]).exit_code == 0
    store = Store(sqlite_url)
    _rewrite_and_rechain(store.engine, 1, "x")
    store.close()
    r = CliRunner().invoke(app, ["audit", "verify", *base, "--head", anchor])
    assert r.exit_code == 1, r.output
    r = CliRunner().invoke(app, ["audit", "verify", *base, "--head", "2:" + "0" * 64])
    assert r.exit_code == 1, r.output


@pytest.fixture(autouse=True)
def _no_ambient_key(monkeypatch):
    monkeypatch.delenv("TRIPLINE_VAULT_KEY_FILE", raising=False)
