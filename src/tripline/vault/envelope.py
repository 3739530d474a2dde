"""Envelope encryption of small secrets: a random AES-256-GCM data key per
secret, wrapped by the vault master key (``keys.KeyProvider``). Shared by
the report destination credentials and the named-secret store.

``aad`` binds a ciphertext to what it belongs to (a row's name), so a
ciphertext copied onto another row does not decrypt.
"""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tripline.vault.keys import KeyProvider


def seal(keys: KeyProvider, plaintext: bytes, aad: bytes) -> dict:
    """The stored form: {"wrapped_key", "nonce", "ct"} (base64 strings)."""
    dek, nonce = os.urandom(32), os.urandom(12)
    return {
        "wrapped_key": keys.wrap(dek, aad),
        "nonce": base64.b64encode(nonce).decode(),
        "ct": base64.b64encode(AESGCM(dek).encrypt(nonce, plaintext, aad)).decode(),
    }


def open_sealed(keys: KeyProvider, blob: dict, aad: bytes, key_id: str) -> bytes:
    dek = keys.unwrap(blob["wrapped_key"], aad, key_id)
    return AESGCM(dek).decrypt(base64.b64decode(blob["nonce"]), base64.b64decode(blob["ct"]), aad)
