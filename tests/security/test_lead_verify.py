"""15.14: `leads verify --by` names a real reviewer, is audited, and the
export does not claim media was verified."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from tripline.audit import AuditLog
from tripline.cli import leads_cmd
from tripline.distribution.synthetic import generate
from tripline.service.auth import Accounts
from tripline.store import Store


def _setup(tmp_path, platform_data):
    app = typer.Typer()
    leads_cmd.register(app)
    data, results = platform_data
    db = str(tmp_path / "d.sqlite")
    r = CliRunner().invoke(
        app, ["ingest", str(data), "--results", str(results), "--data", db, "--platform", "ExampleArt", "--json"]
    )
    assert r.exit_code == 0, r.output
    return app, db


def test_verify_checks_the_user_and_is_audited(tmp_path, monkeypatch):
    platform = generate(120, posts_per_account=3, n_rings=1, ring_size=3, n_solo_leads=2, seed=5)
    app, db = _setup(tmp_path, platform.write(tmp_path / "p"))
    url = f"sqlite:///{tmp_path / 'home' / 'tripline.db'}"
    st = Store(url)
    acc = Accounts(st.engine, AuditLog(st.engine))
    acc.add_user("rita", "a long enough password", ["reviewer"])
    acc.add_user("adam", "a long enough password", ["admin"])
    st.close()
    lead = min(platform.planted_leads)
    base = ["leads", "verify", lead, "--data", db, "--home", str(tmp_path / "home")]
    monkeypatch.delenv("TRIPLINE_DB", raising=False)
    for who in ("anybody", "adam"):
        r = CliRunner().invoke(app, [*base, "--by", who])
        assert r.exit_code != 0, (who, r.output)
    r = CliRunner().invoke(app, [*base, "--by", "rita", "--note", "checked the links"])
    assert r.exit_code == 0, r.output
    st = Store(url)
    entries = [e for e in AuditLog(st.engine).entries() if e["action"] == "lead.verify"]
    st.close()
    assert len(entries) == 1 and entries[0]["actor"] == "rita" and entries[0]["target"] == f"lead:{lead}"
