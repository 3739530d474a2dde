"""15.5: the stored NCMEC endpoint and environment are bound to the encrypted
credentials; editing either column no longer redirects the secret."""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import update

from tripline.report import CredentialStore
from tripline.report.credentials import creds_t
from tripline.store import Store
from tripline.vault import StaticKeyProvider, local_operator


@pytest.fixture
def creds(db_url):
    store = Store(db_url)
    yield store, CredentialStore(store.engine, StaticKeyProvider(os.urandom(32)))
    store.close()


@pytest.mark.parametrize(
    "column,value", [("base_url", "https://attacker.example/ispws"), ("environment", "production")]
)
def test_edited_endpoint_is_refused(creds, column, value):
    store, cs = creds
    cs.set("ncmec", principal=local_operator(), environment="test", secret={"username": "u", "password": "p"})
    assert cs._secret("ncmec")[2] == {"username": "u", "password": "p"}
    with store.engine.begin() as conn:
        conn.execute(update(creds_t).where(creds_t.c.destination == "ncmec").values(**{column: value}))
    with pytest.raises(LookupError):
        cs._secret("ncmec")


def test_legacy_row_only_for_known_endpoints(creds):
    store, cs = creds
    cs.set("ncmec", principal=local_operator(), environment="test", secret={"username": "u", "password": "p"})
    with store.engine.begin() as conn:
        conn.execute(
            update(creds_t).values(
                base_url="https://attacker.example/ispws",
                ciphertext=json.dumps({"wrapped_key": "x", "nonce": "", "ct": ""}),
            )
        )
    with pytest.raises(LookupError, match="not bound"):
        cs._secret("ncmec")
