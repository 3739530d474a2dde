"""`tripline audit verify|export`, `tripline user add`, `tripline apikey create|list|revoke`."""

from __future__ import annotations

import json

import typer
from sqlalchemy import update
from typer.testing import CliRunner

from tripline.audit.log import audit
from tripline.cli import serve_cmd, user_cmd
from tripline.store import Store

runner = CliRunner()


def _app():
    app = typer.Typer()
    serve_cmd.register(app)
    user_cmd.register(app)
    return app


def test_cli_admin_and_audit(sqlite_url, tmp_path):
    app = _app()
    base = ["--db", sqlite_url, "--home", str(tmp_path)]
    r = runner.invoke(
        app,
        ["user", "add", "alice", "--roles", "reviewer,child-safety-reviewer", *base, "--password-stdin"],
        input="a long enough password\n",
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app, ["user", "add", "bob", "--roles", "wizard", *base, "--password-stdin"], input="x" * 20 + "\n"
    )
    assert r.exit_code != 0
    r = runner.invoke(app, ["apikey", "create", "ingest", "--roles", "integration", *base])
    assert r.exit_code == 0 and r.output.strip().startswith("tl_")
    key = r.output.strip()
    r = runner.invoke(app, ["apikey", "list", *base])
    assert "ingest" in r.output and key not in r.output
    r = runner.invoke(app, ["apikey", "revoke", "ingest", *base])
    assert r.exit_code == 0
    r = runner.invoke(app, ["audit", "verify", *base, "--json"])
    assert r.exit_code == 0, r.output
    head = json.loads(r.output)
    assert head["ok"] and head["entries"] == 3
    out = tmp_path / "audit.jsonl"
    r = runner.invoke(app, ["audit", "export", *base, "-o", str(out)])
    assert r.exit_code == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["action"] for x in lines] == ["user.add", "apikey.create", "apikey.revoke", "audit.export"]
    # Tamper: verify fails with exit 1 and names the entry.
    with Store(sqlite_url) as store, store.engine.begin() as conn:
        conn.execute(update(audit).where(audit.c.seq == 2).values(detail={"roles": ["admin"]}))
    r = runner.invoke(app, ["audit", "verify", *base])
    assert r.exit_code == 1 and "entry 2" in r.output and "BROKEN" in r.output
    # An anchored head from before catches truncation too.
    r = runner.invoke(app, ["audit", "verify", *base, "--head", f"99:{'0' * 64}"])
    assert r.exit_code == 1
