"""The settings table: one definition, a TOML file, TRIPLINE_* overrides, `tripline config check`."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tripline import config
from tripline.service.config import ServiceConfig

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch):
    for s in config.SETTINGS:
        monkeypatch.delenv(s.env, raising=False)
    monkeypatch.delenv(config.CONFIG_ENV, raising=False)
    saved = dict(os.environ)
    config.load(None)
    yield
    os.environ.clear()
    os.environ.update(saved)
    config.load(None)


def _cli(args):
    from tripline.cli import _register, app

    if not any(g.name == "config" for g in app.registered_groups):
        _register()
    return runner.invoke(app, args)


def test_docs_table_matches_settings():
    text = DOCS.read_text(encoding="utf-8")
    table = re.search(r"<!-- settings-table:start -->\n(.*)<!-- settings-table:end -->", text, re.S).group(1)
    assert table == config.docs_table(), "run `tripline config docs` and paste it into docs/configuration.md"


def test_every_setting_has_its_own_variable_and_key():
    envs = [s.env for s in config.SETTINGS]
    assert len(set(envs)) == len(envs) and all(e.startswith("TRIPLINE_") for e in envs)
    assert len(config.BY_KEY) == len(config.SETTINGS)


def test_file_then_environment_then_option(tmp_path, monkeypatch):
    f = tmp_path / "t.toml"
    f.write_text(
        'home = "/srv/t"\n[service]\nworkers = 3\ntrusted_origins = ["https://a"]\n[rate_limits]\nper_second = 50\n'
    )
    config.load(f)
    assert config.get("service.workers") == 3 and config.get("rate_limits.per_second") == 50.0
    monkeypatch.setenv("TRIPLINE_WORKERS", "5")
    assert config.get("service.workers") == 5
    assert config.get("service.workers", 7) == 7
    cfg = ServiceConfig.from_settings()
    assert cfg.home == "/srv/t" and cfg.rate_per_second == 50.0 and cfg.rate_burst == 100
    assert cfg.trusted_origins == ["https://a"]
    assert ServiceConfig.from_settings(home="/x").home == "/x"
    monkeypatch.setenv("TRIPLINE_COOKIE_SECURE", "false")
    assert ServiceConfig.from_settings().cookie_secure is False


def test_file_values_reach_worker_processes_through_the_environment(tmp_path):
    f = tmp_path / "t.toml"
    f.write_text('[vault]\nkey_file = "/run/k"\n[service]\nsecret = "' + "s" * 40 + '"\n')
    config.load(f)
    assert os.environ["TRIPLINE_VAULT_KEY_FILE"] == "/run/k"
    assert "TRIPLINE_SECRET" not in os.environ  # secrets are never exported


@pytest.mark.parametrize(
    "body, message",
    [
        ("[service]\nworker = 2\n", "unknown key 'service.worker'; did you mean 'service.workers'?"),
        ('[service]\nworkers = "two"\n', "service.workers: expected an integer"),
        ("[url_fetch]\nallow = 1\n", "url_fetch.allow: expected true or false"),
        ("[service\n", "not valid TOML"),
    ],
)
def test_config_check_names_the_bad_key(tmp_path, body, message):
    f = tmp_path / "bad.toml"
    f.write_text(body)
    with pytest.raises(config.ConfigError, match=re.escape(message)):
        config.parse_file(f)
    r = _cli(["config", "check", str(f)])
    assert r.exit_code == 2 and message.split(";")[0] in " ".join(r.output.split())


def test_config_check_accepts_a_good_file_and_rejects_a_bad_variable(tmp_path, monkeypatch):
    f = tmp_path / "ok.toml"
    f.write_text('[database]\nurl = "postgresql://db/t"\n[service]\nworkers = 2\n')
    r = _cli(["config", "check", str(f)])
    assert r.exit_code == 2 and "service.secret_file: required with a shared database" in " ".join(r.output.split())
    f.write_text('[database]\nurl = "postgresql://db/t"\n[service]\nworkers = 2\nsecret_file = "/run/s"\n')
    r = _cli(["config", "check", str(f)])
    assert r.exit_code == 0, r.output
    monkeypatch.setenv("TRIPLINE_PORT", "http")
    r = _cli(["config", "check", str(f)])
    assert r.exit_code == 2 and "TRIPLINE_PORT" in r.output


def test_global_config_option_and_show_masks_secrets(tmp_path, monkeypatch):
    f = tmp_path / "t.toml"
    f.write_text("[service]\nport = 9123\n")
    monkeypatch.setenv("TRIPLINE_SECRET", "x" * 40)
    r = _cli(["--config", str(f), "config", "show"])
    assert r.exit_code == 0, r.output
    assert "service.port = 9123  (file" in r.output and "x" * 40 not in r.output


def test_shared_database_needs_a_configured_secret(tmp_path, monkeypatch):
    cfg = ServiceConfig(home=str(tmp_path), db="postgresql://db.invalid/t")
    with pytest.raises(config.ConfigError, match="no service secret configured"):
        cfg.secret()
    secret_file = tmp_path / "secret"
    secret_file.write_text("y" * 48 + "\n")
    monkeypatch.setenv("TRIPLINE_SECRET_FILE", str(secret_file))
    assert ServiceConfig(home=str(tmp_path), db="postgresql://db.invalid/t").secret() == "y" * 48
    secret_file.write_text("short")
    with pytest.raises(config.ConfigError, match="at least 32"):
        ServiceConfig(home=str(tmp_path), db="postgresql://db.invalid/t").secret()


def test_sqlite_single_box_generates_a_private_secret(tmp_path):
    cfg = ServiceConfig(home=str(tmp_path / "h"))
    s = cfg.secret()
    path = tmp_path / "h" / "service-secret"
    assert path.read_text() == s and (path.stat().st_mode & 0o777) == 0o600
    assert ServiceConfig(home=str(tmp_path / "h")).secret() == s


# Variables that are deliberately not settings: the file's own location, the
# internal hand-over to uvicorn workers, and one-off credentials that
# `tripline report credentials` stores encrypted in the database.
NOT_SETTINGS = {"TRIPLINE_CONFIG", "TRIPLINE_SERVICE_CONFIG", "TRIPLINE_REPORT_PASSWORD", "TRIPLINE_REPORT_TOKEN"}


def test_every_variable_the_code_reads_is_a_documented_setting():
    src = Path(__file__).resolve().parents[1] / "src" / "tripline"
    used = {m for p in src.rglob("*.py") for m in re.findall(r"TRIPLINE_[A-Z0-9_]+", p.read_text(encoding="utf-8"))}
    assert used - NOT_SETTINGS - {s.env for s in config.SETTINGS} == set()
