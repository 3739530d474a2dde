"""Destination credentials, encrypted at rest and never returned by any API.

Stored in ``report_credentials``: the JSON secret (username/password or
token) encrypted with AES-256-GCM under a random data key wrapped by the
vault master key. ``describe`` says only whether they are set; ``_secret`` is
internal to building a destination client.
"""

from __future__ import annotations

import json

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.engine import Engine

from tripline.store.engine import write_transaction
from tripline.store.models import utcnow
from tripline.store.report_models import ReportCredential
from tripline.vault.access import require
from tripline.vault.envelope import open_sealed, seal
from tripline.vault.keys import KeyProvider

from .client import ENDPOINTS

creds_t: Table = ReportCredential.__table__
ENVIRONMENTS = ("test", "production")


def _aad(destination: str, environment: str, base_url: str) -> bytes:
    # The endpoint and environment are bound to the ciphertext: a database
    # writer who edits either column makes the secret undecryptable instead
    # of redirecting it (and the next evidence file) to another host.
    return json.dumps(["tripline-cred/2", destination, environment, base_url]).encode()


class CredentialStore:
    def __init__(self, engine: Engine, keys: KeyProvider):
        self.engine, self.keys = engine, keys

    def set(self, destination: str, *, principal, environment: str, secret: dict, base_url: str | None = None) -> dict:
        require(principal, "report.credentials")
        if environment not in ENVIRONMENTS:
            raise ValueError(f"environment must be one of {', '.join(ENVIRONMENTS)}")
        if base_url is None:
            if destination != "ncmec":
                raise ValueError(f"{destination}: give the endpoint URL")
            base_url = ENDPOINTS[environment]
        aad = _aad(destination, environment, base_url)
        blob = {"v": 2, **seal(self.keys, json.dumps(secret).encode(), aad)}
        with write_transaction(self.engine) as conn:
            conn.execute(delete(creds_t).where(creds_t.c.destination == destination))
            conn.execute(
                insert(creds_t).values(
                    destination=destination,
                    environment=environment,
                    base_url=base_url,
                    key_id=self.keys.key_id,
                    ciphertext=json.dumps(blob),
                    updated_at=utcnow(),
                )
            )
        return self.describe(destination)

    def describe(self, destination: str) -> dict:
        """Public view: never the secret."""
        with self.engine.connect() as conn:
            r = conn.execute(select(creds_t).where(creds_t.c.destination == destination)).first()
        if r is None:
            return {"destination": destination, "configured": False}
        return {
            "destination": destination,
            "configured": True,
            "environment": r.environment,
            "base_url": r.base_url,
            "updated_at": r.updated_at.isoformat(timespec="seconds"),
        }

    def _secret(self, destination: str) -> tuple[str, str, dict]:
        """(environment, base_url, secret) for building a client. Internal."""
        with self.engine.connect() as conn:
            r = conn.execute(select(creds_t).where(creds_t.c.destination == destination)).first()
        if r is None:
            raise LookupError(f"no credentials configured for {destination}")
        blob = json.loads(r.ciphertext)
        if blob.get("v") == 2:
            aad = _aad(destination, r.environment, r.base_url)
        else:
            # Rows stored before the binding: only the known NCMEC endpoints.
            if destination != "ncmec" or ENDPOINTS.get(r.environment) != r.base_url:
                raise LookupError(
                    f"{destination}: stored endpoint {r.base_url!r} is not bound to the credentials; "
                    "store the credentials again"
                )
            aad = f"tripline-cred:{destination}".encode()
        try:
            secret = json.loads(open_sealed(self.keys, blob, aad, r.key_id))
        except Exception as exc:  # KeyError_, InvalidTag
            if r.key_id != self.keys.key_id:
                raise  # another master key: a configuration error, reported as such
            raise LookupError(
                f"{destination}: stored credentials do not match their endpoint and environment "
                "(altered in the database?); store them again"
            ) from exc
        return r.environment, r.base_url, secret
