"""Banking a generation service's own outputs, so its images are recognised
when they are uploaded elsewhere (and the service can prove which uploads
it made). The bank is an ordinary Tripline bank; create it once with
``tripline bank create NAME --source "our generator outputs"``."""

from __future__ import annotations

from collections.abc import Iterable

from tripline.hashing import hash_bytes


def output_entries(image: bytes, note: str | None = None) -> list[tuple[str, str, str | None]]:
    """(signal_type, value, note) entries for one generated image: PDQ when
    the image is hashable (it survives re-encoding and resizing), MD5 and
    SHA-256 always (byte-identical copies)."""
    h = hash_bytes(image)
    if h.error is not None and not h.md5:
        raise ValueError(f"cannot hash image: {h.error.message}")
    entries = [("md5", h.md5, note), ("sha256", h.sha256, note)]
    if h.pdq:
        entries.append(("pdq", h.pdq, note))
    return entries


def bank_outputs(banks, bank: str, images: Iterable[bytes], note: str | None = None):
    """Add generated images to ``bank`` (a ``tripline.banks.Banks``); returns its ImportResult."""

    def entries():
        for image in images:
            yield from output_entries(image, note)

    return banks.add(bank, entries())
