"""Master keys (key-encryption keys) for the vault and the credential store.

A key provider returns the 32-byte master key (KEK) by id. Each vault item and
each stored credential gets its own random 256-bit data key, encrypted with
AES-256-GCM; the data key is wrapped with AES-256-GCM under the KEK (envelope
encryption). Only wrapped keys are ever stored.

``FileKeyProvider`` reads the KEK from a key file: 32 raw bytes, or 64 hex
characters (``tripline vault keygen`` style: ``python -c "import os;print(os.urandom(32).hex())"``).
The file must not be readable by group or others. A KMS/HSM provider only
needs ``key_id`` and ``wrap``/``unwrap``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
NONCE_BYTES = 12


class KeyError_(RuntimeError):
    """The master key is missing, malformed or cannot unwrap a data key."""


class KeyProvider(Protocol):
    key_id: str

    def wrap(self, data_key: bytes, aad: bytes) -> str: ...

    def unwrap(self, wrapped: str, aad: bytes, key_id: str) -> bytes: ...


class StaticKeyProvider:
    """A KEK held in memory (tests, or a provider that fetched it from a KMS)."""

    def __init__(self, kek: bytes):
        if len(kek) != KEY_BYTES:
            raise KeyError_(f"the master key must be {KEY_BYTES} bytes, got {len(kek)}")
        self._aead = AESGCM(kek)
        self._kek = kek
        # A public fingerprint, so rows remember which KEK wrapped them.
        self.key_id = hashlib.sha256(b"tripline-kek-id" + kek).hexdigest()[:16]

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for one purpose (the audit head MAC), independent of
        the KEK itself and of every other purpose."""
        return HKDF(
            algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=b"tripline:" + purpose.encode()
        ).derive(self._kek)

    def wrap(self, data_key: bytes, aad: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, data_key, aad)).decode()

    def unwrap(self, wrapped: str, aad: bytes, key_id: str) -> bytes:
        if key_id != self.key_id:
            raise KeyError_(f"data key was wrapped by master key {key_id}, not the configured {self.key_id}")
        raw = base64.b64decode(wrapped)
        try:
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
        except Exception as exc:  # InvalidTag
            raise KeyError_("cannot unwrap data key (wrong master key or tampered record)") from exc


class FileKeyProvider(StaticKeyProvider):
    def __init__(self, path: str | os.PathLike):
        p = Path(path)
        try:
            st = p.stat()
            raw = p.read_bytes()
        except OSError as exc:
            raise KeyError_(f"cannot read key file {p}: {exc}") from exc
        if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyError_(f"key file {p} is readable by others; chmod 600 it")
        text = raw.strip()
        if len(raw) == KEY_BYTES:
            kek = raw
        elif len(text) == 2 * KEY_BYTES:
            try:
                kek = bytes.fromhex(text.decode())
            except ValueError as exc:
                raise KeyError_(f"key file {p}: not hex") from exc
        else:
            raise KeyError_(f"key file {p} must hold 32 raw bytes or 64 hex characters")
        super().__init__(kek)


def write_key_file(path: str | os.PathLike) -> Path:
    """Create a new random master key file (mode 600); refuses to overwrite."""
    p = Path(path)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(os.urandom(KEY_BYTES).hex() + "\n")
    return p


def key_provider_from_env(path: str | None = None) -> KeyProvider:
    """``path`` or $TRIPLINE_VAULT_KEY_FILE."""
    path = path or os.environ.get("TRIPLINE_VAULT_KEY_FILE")
    if not path:
        raise KeyError_("no vault key configured: set TRIPLINE_VAULT_KEY_FILE or pass --key-file")
    return FileKeyProvider(path)


AUDIT_HEAD_PURPOSE = "audit-head"


def audit_head_key(provider: KeyProvider | None = None) -> bytes | None:
    """The audit head MAC key from ``provider`` or the configured vault key;
    None when no vault key is configured (the head is then unkeyed)."""
    if provider is None:
        try:
            provider = key_provider_from_env()
        except KeyError_:
            return None
    derive = getattr(provider, "derive", None)
    return derive(AUDIT_HEAD_PURPOSE) if derive else None
