"""`tripline classifier ...`: the credentials remote classifiers use.

    tripline classifier credential set NAME --type hive --secret-file key.json
    tripline classifier credential list [--json]
    tripline classifier credential delete NAME

The secret file is a JSON object ({"api_key": "..."}; the generic HTTP type
also takes {"token": ...} or {"header": {NAME: VALUE}}) or, when it is not
JSON, the key itself on one line. It is read, encrypted under the vault
master key (--key-file or $TRIPLINE_VAULT_KEY_FILE) and never printed; a
policy names it with ``credential = "NAME"``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tripline import config
from tripline.cli.common import DbOpt, HomeOpt, fail

classifier_app = typer.Typer(
    help="Classifier plug-ins: stored credentials for remote classifiers.", no_args_is_help=True
)
credential_app = typer.Typer(help="Encrypted credentials for remote classifiers (never printed).", no_args_is_help=True)
classifier_app.add_typer(credential_app, name="credential")

KeyOpt = Annotated[
    str | None, typer.Option("--key-file", help="Vault master key file (default $TRIPLINE_VAULT_KEY_FILE).")
]


def _store(home, db, key_file, need_key: bool):
    from tripline.store import Store
    from tripline.store.secrets import SecretStore
    from tripline.vault import key_provider_from_env

    try:
        keys = key_provider_from_env(key_file) if need_key else None
    except Exception as exc:  # noqa: BLE001
        fail(str(exc))
    try:
        store = Store(config.db_url(db, config.home_dir(home)))
    except Exception as exc:  # noqa: BLE001
        fail(f"cannot open database: {exc}")
    return store, SecretStore(store.engine, keys)


def _read_secret(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read secret file {path}: {getattr(exc, 'strerror', None) or exc}")
    if not text:
        fail(f"secret file {path} is empty")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        if "\n" in text:
            fail(f"secret file {path}: give a JSON object, or the key alone on one line")
        return {"api_key": text}
    if not isinstance(value, dict) or not value:
        fail(f"secret file {path}: a JSON secret is a non-empty object")
    return value


@credential_app.command("set")
def credential_set(
    name: Annotated[str, typer.Argument(help='Name a policy refers to (credential = "NAME").')],
    kind: Annotated[
        str, typer.Option("--type", help="Classifier type it is for: google-content-safety, safer, hive, http.")
    ],
    secret_file: Annotated[
        Path, typer.Option("--secret-file", help="File holding the secret (JSON object or the bare key).")
    ],
    home: HomeOpt = None,
    db: DbOpt = None,
    key_file: KeyOpt = None,
) -> None:
    """Store (or replace) a credential, encrypted."""
    from tripline.classifiers.config import REMOTE_TYPES

    if kind not in REMOTE_TYPES:
        fail(f"--type must be one of {', '.join(REMOTE_TYPES)}")
    secret = _read_secret(secret_file)
    store, secrets = _store(home, db, key_file, need_key=True)
    try:
        info = secrets.set(name, kind=kind, secret=secret)
    except ValueError as exc:
        fail(str(exc))
    finally:
        store.close()
    typer.echo(f"stored credential {info['name']} ({info['kind']}), encrypted")


@credential_app.command("list")
def credential_list(
    as_json: Annotated[bool, typer.Option("--json")] = False, home: HomeOpt = None, db: DbOpt = None
) -> None:
    """Names, types and dates of stored credentials; never the secrets."""
    store, secrets = _store(home, db, None, need_key=False)
    try:
        rows = secrets.list()
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        typer.echo(f"{r['name']}\t{r['kind']}\t{r['updated_at']}")


@credential_app.command("delete")
def credential_delete(name: str, home: HomeOpt = None, db: DbOpt = None) -> None:
    store, secrets = _store(home, db, None, need_key=False)
    try:
        gone = secrets.delete(name)
    finally:
        store.close()
    if not gone:
        fail(f"no stored credential named {name!r}")
    typer.echo(f"deleted credential {name}")


def register(app: typer.Typer) -> None:
    app.add_typer(classifier_app, name="classifier")
