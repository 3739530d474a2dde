"""The signal types Tripline ships: PDQ, MD5, SHA-256 and vPDQ."""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path

from .types import (
    BankParam,
    BruteForceIndex,
    SignalType,
    exact_hex_type,
    hex_normaliser,
    random_hex,
)

PDQ_DEFAULT_THRESHOLD = 31  # Meta's recommended operating point for PDQ
PDQ_QUALITY_MIN = 50  # frames and photos under this are not matched


def _pdq_distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _pdq_near(value: str, rng: random.Random, within: int) -> str:
    n = int(value, 16)
    for bit in rng.sample(range(256), rng.randint(0, within)):
        n ^= 1 << bit
    return f"{n:064x}"


class _PDQIndex:
    """tripline.index's multi-index-hashing PDQIndex behind the SignalIndex shape."""

    def __init__(self, directory: Path):
        from tripline.index import PDQIndex

        self._idx = PDQIndex.open(Path(directory) / "pdq.idx")

    def add(self, entries: Iterable[tuple[int, str]]) -> None:
        import numpy as np

        from tripline.index import hex_to_codes

        entries = list(entries)
        if entries:
            self._idx.add(np.array([i for i, _ in entries], dtype=np.int64), hex_to_codes(v for _, v in entries))

    def query(self, value: str, threshold: int) -> list[tuple[int, int]]:
        from tripline.index import hex_to_codes

        ids, dists = self._idx.search(hex_to_codes([value]), threshold)[0]
        return sorted(zip(ids.tolist(), dists.tolist(), strict=True), key=lambda h: (h[1], h[0]))


PDQ = SignalType(
    name="pdq",
    description="Meta's PDQ perceptual hash of a photo (256 bits, Hamming distance)",
    normalise=hex_normaliser("pdq", 64),
    distance=_pdq_distance,
    index_factory=_PDQIndex,
    example=random_hex(64),
    near=_pdq_near,
    aliases=frozenset({"hash_pdq", "photo_pdq", "pdq_photo"}),
    content_types=("photo",),
    default_threshold=PDQ_DEFAULT_THRESHOLD,
    params=(
        BankParam("pdq_threshold", PDQ_DEFAULT_THRESHOLD, 0, 256, "largest Hamming distance that matches"),
        BankParam("pdq_quality_min", PDQ_QUALITY_MIN, 0, 100, "photos whose PDQ quality is under this are not matched"),
    ),
    invalid_examples=("", "xyz", "0" * 63, "g" * 64, "0" * 65),
    hex_digits=64,
)


MD5 = exact_hex_type("md5", 32, "MD5 of the file's bytes (exact match)", {"photo_md5", "video_md5", "hash_md5"})
SHA256 = exact_hex_type(
    "sha256",
    64,
    "SHA-256 of the file's bytes (exact match)",
    {"sha-256", "photo_sha256", "video_sha256", "hash_sha256"},
)


def _vpdq_normalise(value: str) -> str:
    from tripline.video.hashing import from_te_signal, to_te_signal

    try:
        frames = from_te_signal(value.strip())
    except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
        raise ValueError(f"invalid vpdq value: {exc}") from None
    if not frames:
        raise ValueError("invalid vpdq value: no frames")
    return to_te_signal(frames)


def _vpdq_distance(a: str, b: str) -> int:
    """100 minus the smaller of the two match percentages (python-threatexchange's
    query and compared percentages), so 0 means every usable frame matched both ways."""
    from tripline.video.hashing import from_te_signal
    from tripline.video.matching import compare

    q, c = compare(from_te_signal(a), from_te_signal(b))
    return 100 - int(min(q, c))


def _vpdq_example(rng: random.Random) -> str:
    from tripline.video.hashing import Frame, to_te_signal

    return to_te_signal([Frame(random_hex(64)(rng), 100, float(t)) for t in range(rng.randint(1, 4))])


VPDQ = SignalType(
    name="vpdq",
    description="Meta's vPDQ video hash: one PDQ per sampled frame (match percentages)",
    normalise=_vpdq_normalise,
    distance=_vpdq_distance,
    index_factory=lambda _directory: BruteForceIndex(_vpdq_distance),
    example=_vpdq_example,
    aliases=frozenset({"video_vpdq", "hash_vpdq"}),
    content_types=("video",),
    # 100 - the default 80 % match on both sides (docs/video.md).
    default_threshold=20,
    invalid_examples=("", "[]", "not json", '["abc,1,0"]', '{"a": 1}'),
    banked_as_entry=False,  # video_signals / video_frames, see banks/video.py
)

BUILTIN_SIGNAL_TYPES = (PDQ, MD5, SHA256, VPDQ)
