"""Cryptographic digests of the raw bytes: exact-match signals that work on
any file, decodable or not."""

from __future__ import annotations

import hashlib


def digests(data: bytes) -> dict[str, str]:
    return {"md5": hashlib.md5(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest()}
