"""Helpers for bench scripts: locate ../shared and the corpus."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif"}


def shared_dir(arg: str | None) -> Path:
    path = Path(arg) if arg else REPO.parent / "shared"
    if not (path / "corpus" / "photos").is_dir():
        sys.exit(f"shared data not found at {path} (expected corpus/photos inside); pass --shared DIR")
    return path


def corpus_photos(shared: Path, subset: str | None = None) -> list[Path]:
    root = shared / "corpus" / "photos"
    if subset:
        root = root / subset
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
