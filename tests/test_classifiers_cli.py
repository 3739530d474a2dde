"""`tripline classifier credential ...`, the named-secret store, and
`tripline policy check` opening every configured classifier."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
from fake_classifiers import BRIGHT_POLICY, FakeVendor, brightness_model  # noqa: E402
from tripline.cli import classifier_cmd, policy_cmd  # noqa: E402
from tripline.store import Store  # noqa: E402
from tripline.store.secrets import SecretStore, secrets_t  # noqa: E402
from tripline.vault import StaticKeyProvider, write_key_file  # noqa: E402

SECRET = "hv-SUPER-secret-9f8e7d"


@pytest.fixture
def run():
    app = typer.Typer()
    classifier_cmd.register(app)
    policy_cmd.register(app)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def env(tmp_path, db_url, monkeypatch):
    key = tmp_path / "master.key"
    write_key_file(key)
    monkeypatch.setenv("TRIPLINE_VAULT_KEY_FILE", str(key))
    monkeypatch.setenv("TRIPLINE_DB", db_url)
    monkeypatch.setenv("TRIPLINE_HOME", str(tmp_path / "home"))
    return db_url


def test_credential_set_list_never_prints_the_secret(run, env, tmp_path):
    f = tmp_path / "hive.key"
    f.write_text(SECRET + "\n")
    r = run("classifier", "credential", "set", "hive-prod", "--type", "hive", "--secret-file", f)
    assert r.exit_code == 0, r.output
    r2 = run("classifier", "credential", "list", "--json")
    assert r2.exit_code == 0 and json.loads(r2.output)[0]["name"] == "hive-prod"
    for out in (r.output, r2.output):
        assert SECRET not in out
    store = Store(env)
    try:
        with store.engine.connect() as conn:
            row = conn.execute(select(secrets_t)).one()
        assert SECRET not in row.ciphertext  # encrypted at rest
        from tripline.vault import key_provider_from_env

        assert SecretStore(store.engine, key_provider_from_env()).get("hive-prod") == {"api_key": SECRET}
    finally:
        store.close()
    assert run("classifier", "credential", "set", "x", "--type", "onnx", "--secret-file", f).exit_code == 2
    assert run("classifier", "credential", "delete", "hive-prod").exit_code == 0
    assert json.loads(run("classifier", "credential", "list", "--json").output) == []


def test_secret_is_bound_to_its_name(env):
    store = Store(env)
    keys = StaticKeyProvider(b"k" * 32)
    try:
        s = SecretStore(store.engine, keys)
        s.set("a", kind="hive", secret={"api_key": "1"})
        s.set("b", kind="hive", secret={"api_key": "2"})
        with store.engine.begin() as conn:  # an attacker with DB access swaps the ciphertexts
            ca = conn.execute(select(secrets_t.c.ciphertext).where(secrets_t.c.name == "a")).scalar()
            conn.execute(secrets_t.update().where(secrets_t.c.name == "b").values(ciphertext=ca))
        with pytest.raises(Exception, match="cannot unwrap"):
            s.get("b")
        with pytest.raises(LookupError):
            s.get("nope")
    finally:
        store.close()


POLICY = BRIGHT_POLICY


def test_policy_check_opens_every_classifier(run, env, tmp_path):
    brightness_model(tmp_path / "bright.onnx")
    p = tmp_path / "p.toml"
    p.write_text(POLICY)
    r = run("policy", "check", p, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["classifiers"]["bright"]["model"].startswith("onnx:sha256:")
    (tmp_path / "bright.onnx").write_bytes(b"corrupt")
    r = run("policy", "check", p)
    assert r.exit_code == 2 and "classifier 'bright'" in r.output and "not a loadable ONNX model" in r.output


def test_policy_check_finds_a_missing_credential(run, env, tmp_path):
    fake = FakeVendor("hive")
    try:
        p = tmp_path / "p.toml"
        p.write_text(
            f'[policy]\nname = "c"\nversion = "1"\n[classifiers.hive]\ntype = "hive"\n'
            f'credential = "hive-prod"\nurl = "{fake.url}"\nallow_private = true\n'
        )
        r = run("policy", "check", p)
        assert r.exit_code == 2 and "no stored credential named 'hive-prod'" in r.output
        f = tmp_path / "k"
        f.write_text('{"api_key": "x"}')
        assert run("classifier", "credential", "set", "hive-prod", "--type", "hive", "--secret-file", f).exit_code == 0
        r = run("policy", "check", p)
        assert r.exit_code == 0, r.output
        assert "classifier hive: hive" in r.output
        assert fake.requests == []  # checking never calls the vendor
    finally:
        fake.close()


def test_scan_names_a_classifier_that_cannot_open_before_scanning(env, tmp_path):
    from tripline.cli import scan_cmd

    app = typer.Typer()
    scan_cmd.register(app)
    brightness_model(tmp_path / "bright.onnx", input_shape=["N", 3, 8, 8])  # policy says size 16
    (tmp_path / "p.toml").write_text(POLICY)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(b"")
    r = CliRunner().invoke(
        app,
        [
            "scan",
            str(tmp_path / "in"),
            "--out",
            str(tmp_path / "out"),
            "--policy",
            str(tmp_path / "p.toml"),
            "--workers",
            "0",
        ],
    )
    assert r.exit_code == 2 and "classifier 'bright'" in r.output
    assert not (tmp_path / "out" / "run.json").exists()  # the run never started


def test_envelope_roundtrip_and_binding():
    from cryptography.exceptions import InvalidTag

    from tripline.vault.envelope import open_sealed, seal

    keys = StaticKeyProvider(b"e" * 32)
    blob = seal(keys, b'{"api_key": "x"}', b"aad-1")
    assert set(blob) == {"wrapped_key", "nonce", "ct"}  # the stored form report credentials already use
    assert open_sealed(keys, blob, b"aad-1", keys.key_id) == b'{"api_key": "x"}'
    with pytest.raises((InvalidTag, Exception)):
        open_sealed(keys, blob, b"aad-2", keys.key_id)
    assert seal(keys, b"same", b"a")["ct"] != seal(keys, b"same", b"a")["ct"]  # fresh key and nonce each time
