"""Named secrets: credentials Tripline needs to call a service, stored
encrypted (``vault.envelope``) and never printed or returned by ``list``.

Generic on purpose: a classifier names one in the policy
(``credential = "hive-prod"``); anything else that needs an API key can
share the store. The associated data binds each ciphertext to its name and
kind, so a row copied under another name does not decrypt.
"""

from __future__ import annotations

import json
import re

from sqlalchemy import Engine, Table, delete, insert, select

from tripline.store.engine import write_transaction
from tripline.store.models import utcnow
from tripline.store.secret_models import NamedSecret
from tripline.vault.envelope import open_sealed, seal
from tripline.vault.keys import KeyProvider

secrets_t: Table = NamedSecret.__table__
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _aad(name: str, kind: str) -> bytes:
    return f"tripline-secret:{kind}:{name}".encode()


class SecretStore:
    def __init__(self, engine: Engine, keys: KeyProvider | None):
        self.engine, self.keys = engine, keys

    def _need_keys(self) -> KeyProvider:
        if self.keys is None:
            raise LookupError("no vault key configured: set TRIPLINE_VAULT_KEY_FILE or pass --key-file")
        return self.keys

    def set(self, name: str, *, kind: str, secret: dict) -> dict:
        if not NAME.match(name):
            raise ValueError("a secret name is 1-128 letters, digits, '.', '_' or '-'")
        if not isinstance(secret, dict) or not secret:
            raise ValueError('a secret is a non-empty JSON object, e.g. {"api_key": "..."}')
        keys = self._need_keys()
        blob = seal(keys, json.dumps(secret).encode(), _aad(name, kind))
        with write_transaction(self.engine) as conn:
            conn.execute(delete(secrets_t).where(secrets_t.c.name == name))
            conn.execute(
                insert(secrets_t).values(
                    name=name, kind=kind, key_id=keys.key_id, ciphertext=json.dumps(blob), updated_at=utcnow()
                )
            )
        return self.describe(name)

    def delete(self, name: str) -> bool:
        with write_transaction(self.engine) as conn:
            return bool(conn.execute(delete(secrets_t).where(secrets_t.c.name == name)).rowcount)

    def describe(self, name: str) -> dict:
        """Public view: name, kind, when; never the secret or its field names."""
        with self.engine.connect() as conn:
            r = conn.execute(select(secrets_t).where(secrets_t.c.name == name)).first()
        if r is None:
            return {"name": name, "configured": False}
        return {
            "name": r.name,
            "kind": r.kind,
            "configured": True,
            "updated_at": r.updated_at.isoformat(timespec="seconds"),
        }

    def list(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(secrets_t.c.name).order_by(secrets_t.c.name)).all()
        return [self.describe(r.name) for r in rows]

    def get(self, name: str) -> dict:
        """The decrypted secret, for building a client. Internal: never log it."""
        with self.engine.connect() as conn:
            r = conn.execute(select(secrets_t).where(secrets_t.c.name == name)).first()
        if r is None:
            raise LookupError(f"no stored credential named {name!r} (tripline classifier credential set {name} ...)")
        return json.loads(open_sealed(self._need_keys(), json.loads(r.ciphertext), _aad(r.name, r.kind), r.key_id))
