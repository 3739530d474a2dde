"""`tripline vault ...` and `tripline report ...` end to end (local operator)."""

from __future__ import annotations

import hashlib
import json

import pytest
import typer
from typer.testing import CliRunner

from fake_cybertipline import FakeCyberTipline
from report_support import FILE_BYTES, maximal_incident
from tripline.cli import report_cmd


@pytest.fixture
def cli(tmp_path, sqlite_url, monkeypatch):
    app = typer.Typer()
    report_cmd.register(app)
    key = tmp_path / "kek"
    runner = CliRunner()
    assert runner.invoke(app, ["vault", "keygen", str(key)]).exit_code == 0
    monkeypatch.setenv("TRIPLINE_VAULT_KEY_FILE", str(key))
    monkeypatch.setenv("TRIPLINE_DB", sqlite_url)
    monkeypatch.setenv("TRIPLINE_VAULT", str(tmp_path / "vault"))
    reporter = tmp_path / "reporter.json"
    reporter.write_text(json.dumps({"email": "safety@example.org", "esp_service": "Example Photos"}))
    monkeypatch.setenv("TRIPLINE_REPORTER", str(reporter))

    def run(*args, code=0):
        r = runner.invoke(app, [str(a) for a in args])
        assert r.exit_code == code, r.output
        return r.output

    return run


def test_vault_commands(cli, tmp_path):
    f = tmp_path / "item.bin"
    f.write_bytes(FILE_BYTES)
    sha = json.loads(cli("vault", "put", f, "--reason", "review item 42 confirmed"))["sha256"]
    assert sha == hashlib.sha256(FILE_BYTES).hexdigest()
    cli("vault", "get", sha, "-o", tmp_path / "back.bin", "--purpose", "check")
    assert (tmp_path / "back.bin").read_bytes() == FILE_BYTES
    hold = json.loads(cli("vault", "hold", sha, "--reason", "LE request 7"))["hold_id"]
    assert json.loads(cli("vault", "purge", "--dry-run"))["purged"] == []
    cli("vault", "release", hold)
    cli("vault", "export", tmp_path / "pkg", "--case-ref", "C-1", "--sha", sha)
    assert json.loads(cli("vault", "verify", tmp_path / "pkg"))["ok"] is True
    (tmp_path / "pkg" / "manifest.json").write_text("{}")
    cli("vault", "verify", tmp_path / "pkg", code=1)
    cli("vault", "get", "0" * 64, "-o", tmp_path / "x", "--purpose", "x", code=2)


def test_report_commands_against_the_fake(cli, tmp_path, monkeypatch):
    f = tmp_path / "item.bin"
    f.write_bytes(FILE_BYTES)
    cli("vault", "put", f, "--reason", "review item 42 confirmed")
    inc = tmp_path / "incident.json"
    inc.write_text(json.dumps(maximal_incident().to_dict()))
    sub = json.loads(cli("report", "build", inc, "--external", "-o", tmp_path / "r.xml"))
    assert sub["status"] == "built" and (tmp_path / "r.xml").read_bytes().startswith(b"<?xml")
    assert json.loads(cli("report", "validate", sub["id"]))["valid"] is True
    assert json.loads(cli("report", "validate", "--file", tmp_path / "r.xml"))["valid"] is True
    bad = tmp_path / "bad.xml"
    bad.write_text("<report/>")
    cli("report", "validate", "--file", bad, code=1)
    with FakeCyberTipline() as fake:
        monkeypatch.setenv("TRIPLINE_REPORT_PASSWORD", fake.password)
        out = cli(
            "report",
            "credentials",
            "ncmec",
            "--environment",
            "test",
            "--username",
            fake.username,
            "--base-url",
            fake.url,
        )
        assert fake.password not in out
        fake.fail("upload", "http500")
        done = json.loads(cli("report", "submit", sub["id"], "--timeout", "2", "--backoff", "0"))
        assert done["status"] == "finished" and len(fake.finished) == 1
    assert json.loads(cli("report", "status"))[0]["remote_id"] == done["remote_id"]


def test_machine_only_incident_is_refused(cli, tmp_path):
    d = maximal_incident(decision_source="policy").to_dict()
    inc = tmp_path / "incident.json"
    inc.write_text(json.dumps(d))
    out = cli("report", "build", inc, "--external", code=2)
    assert "human" in out
    # Without --external the incident must match a confirmed review item in the database.
    inc.write_text(json.dumps(maximal_incident().to_dict()))
    assert "no human-confirmed" in cli("report", "build", inc, code=2)
