"""Locate ../shared (read-only benign fixtures and corpus) for tests."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"shared test data missing: {path} (the repository expects ../shared beside it)")
    return path


def photos(subset: str, n: int) -> list[Path]:
    return sorted(shared("corpus", "photos", subset).iterdir())[:n]


def encode(im: Image.Image, fmt: str = "JPEG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()
