"""The distribution tables in the main database (migration 0006), on SQLite
and PostgreSQL, and the one-time import of an old distribution.sqlite."""

from __future__ import annotations

import json
import sqlite3

import typer
from typer.testing import CliRunner

from tripline.cli import leads_cmd
from tripline.distribution import Account, DistributionRepository, Post, import_legacy, is_legacy_file
from tripline.store import Store

# The raw layout earlier versions wrote (frozen here as test data).
LEGACY_SCHEMA = """
CREATE TABLE accounts (id TEXT PRIMARY KEY, handle TEXT, display_name TEXT, bio TEXT, links TEXT, created TEXT,
    extracted TEXT NOT NULL DEFAULT '[]');
CREATE TABLE posts (id TEXT PRIMARY KEY, account_id TEXT NOT NULL, text TEXT, hashtags TEXT, links TEXT, media TEXT,
    created TEXT, extracted TEXT NOT NULL DEFAULT '[]');
CREATE TABLE media (key TEXT PRIMARY KEY, sha256 TEXT, md5 TEXT, record TEXT NOT NULL);
CREATE TABLE lead_state (lead_id TEXT PRIMARY KEY, state TEXT NOT NULL, by TEXT, note TEXT, at TEXT NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
"""


def _legacy_file(path):
    con = sqlite3.connect(path)
    con.executescript(LEGACY_SCHEMA)
    con.execute(
        "INSERT INTO accounts VALUES ('a2','h2','D2','bio',?,'2026-01-01',?)",
        (json.dumps(["https://x.example/a"]), json.dumps([{"url": "https://x.example/a"}])),
    )
    con.execute("INSERT INTO accounts VALUES ('a1','h1','','', '[]', '', '[]')")
    con.execute(
        "INSERT INTO posts VALUES ('p1','a1','hello','[\"t\"]','[]',?, '', '[]')",
        (json.dumps([{"kind": "sha256", "value": "ab" * 32}]),),
    )
    con.execute(
        "INSERT INTO media VALUES ('k1', ?, NULL, ?)", ("ab" * 32, json.dumps({"sha256": "ab" * 32, "flagged": True}))
    )
    con.execute("INSERT INTO lead_state VALUES ('a1','verified','alice','seen','2026-02-02T00:00:00+00:00')")
    con.execute("INSERT INTO meta VALUES ('platform','ExampleArt')")
    con.commit()
    con.close()


def test_repository_round_trip_on_both_databases(db_url):
    with DistributionRepository(db_url) as repo:
        repo.put_accounts([(Account("b", "hb", "", "", ["u"], ""), [{"x": 1}]), (Account("B", "", "", "", [], ""), [])])
        repo.put_accounts([(Account("b", "hb2", "", "", [], ""), [])])  # replaces, as re-ingest does
        repo.put_posts([(Post("p", "b", "t", ["h"], [], [{"kind": "md5", "value": "cd" * 16}], ""), [])])
        repo.put_media_records([{"path": "/m/1.jpg", "md5": "CD" * 16, "sha256": None}, {"nokey": 1}])
        repo.set_lead_state("b", "verified", by="bob")
        repo.set_meta("platform", "P")
        assert [a.id for a, _ in repo.accounts()] == ["B", "b"]  # bytewise order on both
        assert repo.account("b").handle == "hb2"
        assert repo.counts() == {"accounts": 2, "posts": 1, "media_records": 1}
        assert repo.media_record({"kind": "md5", "value": "cd" * 16})["path"] == "/m/1.jpg"
        assert repo.lead_states()["b"]["by"] == "bob" and repo.meta("platform") == "P"
    # The same database is the Store's: one schema, one migration history.
    with Store(db_url) as store:
        assert store.list_banks() == []
    with DistributionRepository(db_url) as repo:
        assert repo.counts()["posts"] == 1


def test_import_legacy_copies_everything_once(tmp_path, db_url):
    old = tmp_path / "distribution.sqlite"
    _legacy_file(old)
    assert is_legacy_file(old) and not is_legacy_file(tmp_path / "missing.sqlite")
    with DistributionRepository(db_url) as repo:
        assert import_legacy(repo, old) == {"accounts": 2, "posts": 1, "media_records": 1, "lead_states": 1}
        assert import_legacy(repo, old) is None
        ((a, extracted),) = [x for x in repo.accounts() if x[0].id == "a2"]
        assert a.links == ["https://x.example/a"] and extracted == [{"url": "https://x.example/a"}]
        assert repo.media_record({"kind": "sha256", "value": "ab" * 32})["flagged"] is True
        assert repo.lead_states()["a1"] == {
            "state": "verified",
            "by": "alice",
            "note": "seen",
            "at": "2026-02-02T00:00:00+00:00",
        }
        assert repo.meta("platform") == "ExampleArt"


def _reviewer(home) -> None:
    # A lead verdict must name a real, enabled reviewer (tests/security/test_lead_verify.py).
    from tripline.audit import AuditLog
    from tripline.service.auth import Accounts

    st = Store(f"sqlite:///{home / 'tripline.db'}")
    try:
        Accounts(st.engine, AuditLog(st.engine)).add_user("tester", "a long enough password", ["reviewer"])
    finally:
        st.close()


def test_cli_imports_an_old_file_found_in_the_state_folder(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    _legacy_file(home / "distribution.sqlite")
    _reviewer(home)
    app = typer.Typer()
    leads_cmd.register(app)
    runner = CliRunner()
    r = runner.invoke(app, ["leads", "verify", "a2", "--home", str(home), "--by", "tester"])
    assert r.exit_code == 0, r.output
    assert "imported" in r.output and "2 accounts" in r.output
    r = runner.invoke(app, ["leads", "verify", "a1", "--home", str(home), "--reject", "--by", "tester"])
    assert r.exit_code == 0, r.output
    assert "imported" not in r.output  # once only
    with DistributionRepository(f"sqlite:///{home / 'tripline.db'}") as repo:
        assert repo.lead_states()["a2"]["state"] == "verified"
        assert repo.counts()["accounts"] == 2


def test_cli_upgrades_an_old_data_file_in_place(tmp_path):
    old = tmp_path / "d.sqlite"
    _legacy_file(old)
    home = tmp_path / "home"
    home.mkdir()
    _reviewer(home)
    app = typer.Typer()
    leads_cmd.register(app)
    r = CliRunner().invoke(app, ["leads", "verify", "a2", "--data", str(old), "--home", str(home), "--by", "tester"])
    assert r.exit_code == 0, r.output
    with DistributionRepository(old) as repo:
        assert set(repo.lead_states()) == {"a1", "a2"}
