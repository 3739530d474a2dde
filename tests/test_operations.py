"""Operator lifecycle: probes, `tripline db upgrade|current`, serve's start-up
checks, `tripline user ...`, and backup/restore of database + vault + keys."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import threading
import uuid

import pytest
import typer
from sqlalchemy import text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from service_support import make_env
from tripline import config
from tripline.audit import AuditLog
from tripline.cli import db_cmd, user_cmd
from tripline.service import health
from tripline.service.app import check_can_serve
from tripline.service.auth import Accounts
from tripline.service.config import ServiceConfig
from tripline.store import Store
from tripline.store.engine import SchemaNotCurrent, current_revision, head_revision, make_engine, migrate

runner = CliRunner()
SECRET = "s" * 40


def _app():
    app = typer.Typer()
    db_cmd.register(app)
    user_cmd.register(app)
    return app


# -- probes ---------------------------------------------------------------------


def test_probes_answer_without_credentials_and_reveal_only_status(sqlite_url, tmp_path):
    env = make_env(sqlite_url, tmp_path)
    try:
        assert env.client.get("/healthz").json() == {"status": "ok"}
        assert env.client.get("/readyz").json() == {"status": "ok"}

        def lagging(_svc):
            raise RuntimeError("index 12345 changes behind at /secret/path")

        health.READINESS_CHECKS.append(("test-lag", lagging))
        try:
            r = env.client.get("/readyz")
        finally:
            health.READINESS_CHECKS.remove(("test-lag", lagging))
        assert r.status_code == 503 and r.json() == {"status": "unavailable"}
        assert env.client.get("/healthz").status_code == 200
        assert env.client.get("/readyz").status_code == 200
    finally:
        env.svc.close()


def test_readyz_fails_while_bank_changes_wait_unapplied(db_url, tmp_path):
    env = make_env(db_url, tmp_path)
    try:
        env.svc.sync_banks()
        assert env.client.get("/readyz").status_code == 200
        # Another instance changes a bank; this one's sync loop has stalled.
        other = Store(db_url)
        try:
            other.create_bank("elsewhere")
        finally:
            other.close()
        env.svc._synced_at = 0.0
        assert env.svc.bank_lag() > 0
        assert env.client.get("/readyz").status_code == 503
        env.svc.sync_banks()
        assert env.client.get("/readyz").status_code == 200
    finally:
        env.svc.close()


def test_readyz_fails_when_the_schema_falls_behind(db_url, tmp_path):
    env = make_env(db_url, tmp_path)
    try:
        with env.svc.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        assert env.client.get("/readyz").status_code == 503
    finally:
        env.svc.close()


# -- db upgrade / current / serve refuses ----------------------------------------


def test_db_current_and_upgrade(db_url, tmp_path):
    base = ["--db", db_url, "--home", str(tmp_path)]
    r = runner.invoke(_app(), ["db", "current", *base, "--json"])
    assert r.exit_code == 1 and '"current": null' in r.output
    r = runner.invoke(_app(), ["db", "upgrade", *base])
    assert r.exit_code == 0 and head_revision() in r.output, r.output
    r = runner.invoke(_app(), ["db", "current", *base])
    assert r.exit_code == 0 and "up to date" in r.output
    assert "already" in runner.invoke(_app(), ["db", "upgrade", *base]).output


def test_serve_refuses_an_old_postgresql_schema_and_never_migrates_it(pg_url, tmp_path):
    cfg = ServiceConfig(home=str(tmp_path), db=pg_url, secret_key=SECRET)
    with pytest.raises(SchemaNotCurrent, match="tripline db upgrade"):
        check_can_serve(cfg)
    engine = make_engine(pg_url)
    try:
        assert current_revision(engine) is None  # serving did not create the schema
        migrate(engine)
        check_can_serve(cfg)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0003'"))
        with pytest.raises(SchemaNotCurrent, match="at schema revision 0003"):
            check_can_serve(cfg)
        assert current_revision(engine) == "0003"
    finally:
        engine.dispose()


def test_serve_on_postgresql_without_a_shared_secret_is_a_startup_error(pg_url, tmp_path):
    with pytest.raises(config.ConfigError, match="no service secret"):
        check_can_serve(ServiceConfig(home=str(tmp_path), db=pg_url))
    assert not (tmp_path / "service-secret").exists()


def test_serve_on_single_box_sqlite_creates_the_database(sqlite_url, tmp_path):
    check_can_serve(ServiceConfig(home=str(tmp_path), db=sqlite_url))
    engine = make_engine(sqlite_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_concurrent_upgrades_do_not_race(db_url):
    errors = []

    def run():
        engine = make_engine(db_url)
        try:
            migrate(engine)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


# -- user lifecycle -----------------------------------------------------------------

PASSWORD = "a long enough password"


def test_user_lifecycle_ends_sessions_and_is_audited(db_url, tmp_path):
    base = ["--db", db_url, "--home", str(tmp_path)]
    app = _app()

    def cli(*args, stdin=None):
        r = runner.invoke(app, [*args, *base], input=stdin)
        return r

    assert cli("user", "add", "root", "--roles", "admin", "--password-stdin", stdin=PASSWORD + "\n").exit_code == 0
    assert cli("user", "add", "alice", "--roles", "reviewer", "--password-stdin", stdin=PASSWORD + "\n").exit_code == 0
    lines = cli("user", "list").output.splitlines()
    assert '{"username": "alice", "roles": ["reviewer"], "disabled": false}' in lines

    with Store(db_url) as store:
        acc = Accounts(store.engine, AuditLog(store.engine))
        uid = acc.authenticate("alice", PASSWORD)["id"]
        token, _ = acc.create_session(uid)
        assert acc.session_principal(token) is not None

        assert cli("user", "disable", "alice", "--actor", "ops-bob").exit_code == 0
        assert acc.session_principal(token) is None
        assert acc.authenticate("alice", PASSWORD) is None
        assert cli("user", "enable", "alice").exit_code == 0
        assert acc.session_principal(token) is None  # ended, not suspended
        assert acc.authenticate("alice", PASSWORD) is not None

        token, _ = acc.create_session(uid)
        assert cli("user", "set-roles", "alice", "--roles", "reviewer,auditor").exit_code == 0
        assert acc.session_principal(token).roles == ("reviewer", "auditor")
        r = cli("user", "reset-password", "alice", "--password-stdin", stdin="another long password\n")
        assert r.exit_code == 0 and acc.session_principal(token) is None
        assert acc.authenticate("alice", "another long password") is not None

        r = cli("user", "disable", "root")
        assert r.exit_code == 2 and "last enabled admin" in r.output
        r = cli("user", "set-roles", "root", "--roles", "reviewer")
        assert r.exit_code == 2 and "last enabled admin" in r.output
        assert cli("user", "remove", "nobody").exit_code == 2
        assert cli("user", "remove", "alice").exit_code == 0
        assert [u["username"] for u in acc.users()] == ["root"]

        log = AuditLog(store.engine)
        entries = [(e["actor"], e["action"]) for e in log.entries() if e["target"] == "user:alice"]
        assert [a for _, a in entries] == [
            "user.add",
            "user.disable",
            "user.enable",
            "user.set_roles",
            "user.reset_password",
            "user.remove",
        ]
        assert ("cli:ops-bob", "user.disable") in entries
        assert log.verify().ok


# -- backup and restore ----------------------------------------------------------------


def _populate(url, home):
    from tripline.vault import FileKeyProvider, Vault, write_key_file
    from tripline.vault.access import Principal

    (home / "keys").mkdir(parents=True)
    key_file = write_key_file(home / "keys" / "vault.key")
    store = Store(url)
    acc = Accounts(store.engine, AuditLog(store.engine))
    acc.add_user("alice", PASSWORD, ["reviewer"], actor="test")
    store.create_bank("b1")
    vault = Vault(home / "vault", store.engine, FileKeyProvider(key_file))
    data = b"benign generated bytes " * 300
    sha = vault.put(data, principal=Principal("cs", ("child-safety-reviewer",)), reason="backup test")["sha256"]
    store.close()
    return key_file, sha, data


def _verify_restored(url, home, key_file, sha, data):
    from tripline.vault import FileKeyProvider, Vault
    from tripline.vault.access import Principal

    with Store(url) as store:
        assert AuditLog(store.engine).verify().ok
        vault = Vault(home / "vault", store.engine, FileKeyProvider(key_file))
        assert vault.verify_custody() == []
        assert vault.get(sha, principal=Principal("cs", ("child-safety-reviewer",)), purpose="restore check") == data
        assert [u["username"] for u in Accounts(store.engine, AuditLog(store.engine)).users()] == ["alice"]
        assert [b.name for b in store.list_banks()] == ["b1"]


def _copy_files(src_home, dst_home):
    # The vault folder and the key file are the other two parts of a backup.
    shutil.copytree(src_home / "vault", dst_home / "vault")
    shutil.copytree(src_home / "keys", dst_home / "keys")


def test_backup_and_restore_sqlite(tmp_path):
    src, dst = tmp_path / "live", tmp_path / "restored"
    url = f"sqlite:///{src / 'tripline.db'}"
    key_file, sha, data = _populate(url, src)
    # The online backup API gives a consistent copy while the service runs.
    with sqlite3.connect(src / "tripline.db") as live, sqlite3.connect(tmp_path / "dump.db") as out:
        live.backup(out)
    dst.mkdir()
    shutil.copy(tmp_path / "dump.db", dst / "tripline.db")
    _copy_files(src, dst)
    _verify_restored(f"sqlite:///{dst / 'tripline.db'}", dst, dst / "keys" / "vault.key", sha, data)


@pytest.mark.skipif(not shutil.which("pg_dump") or not shutil.which("pg_restore"), reason="no pg_dump")
def test_backup_and_restore_postgresql(pg_url, pg_admin_engine, tmp_path):
    src, dst = tmp_path / "live", tmp_path / "restored"
    key_file, sha, data = _populate(pg_url, src)
    u = make_url(pg_url)
    conn_args = ["-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "postgres"]
    dump = tmp_path / "tripline.dump"
    subprocess.run(["pg_dump", *conn_args, "-Fc", "-f", str(dump), u.database], check=True, timeout=120)
    restored = f"tripline_test_{uuid.uuid4().hex[:12]}"
    with pg_admin_engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{restored}"'))
    try:
        subprocess.run(["pg_restore", *conn_args, "--no-owner", "-d", restored, str(dump)], check=True, timeout=120)
        dst.mkdir()
        _copy_files(src, dst)
        _verify_restored(
            u.set(database=restored).render_as_string(hide_password=False), dst, dst / "keys" / "vault.key", sha, data
        )
    finally:
        with pg_admin_engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n "
                    "AND pid <> pg_backend_pid()"
                ),
                {"n": restored},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{restored}"'))
