"""vPDQ match semantics, independent of storage.

Two videos match when enough of their frames match (python-threatexchange's
rule): a frame matches when some frame of the other video lies within
``distance`` bits; the *query* percentage is the share of the query's frames
that match, the *bank* percentage the share of the banked video's frames.
Both sides count distinct frame hashes of quality >= ``quality_min``. A match
needs both percentages at or above their thresholds (defaults 80% / 0%).

The banked side is searched through the PDQ index (tripline.banks.video);
``compare`` here is the brute-force reference the index path is tested
against, and ``segments`` turns per-frame hits into the time ranges a
reviewer jumps to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tripline.index import hex_to_codes
from tripline.video.hashing import Frame

DEFAULT_QUERY_MATCH_PCT = 80.0
DEFAULT_BANK_MATCH_PCT = 0.0
DEFAULT_DISTANCE = 31
DEFAULT_QUALITY_MIN = 50
# Per-frame hits kept in a match record; the segments summarise the rest.
MAX_FRAME_HITS = 200


@dataclass(frozen=True)
class VideoMatchConfig:
    query_match_pct: float = DEFAULT_QUERY_MATCH_PCT
    bank_match_pct: float = DEFAULT_BANK_MATCH_PCT
    distance: int = DEFAULT_DISTANCE  # inclusive, as for images
    quality_min: int = DEFAULT_QUALITY_MIN

    def accepts(self, query_pct: float, bank_pct: float) -> bool:
        return query_pct > 0 and query_pct >= self.query_match_pct and bank_pct >= self.bank_match_pct


def usable_positions(frames: Sequence[Frame], quality_min: int) -> list[int]:
    """Positions of the frames that count: first occurrence of each hash
    (deduplicated before the quality filter, as python-threatexchange does)."""
    seen: set[str] = set()
    out = []
    for i, f in enumerate(frames):
        if f.pdq in seen:
            continue
        seen.add(f.pdq)
        if f.quality >= quality_min:
            out.append(i)
    return out


def _distances(a: Sequence[Frame], b: Sequence[Frame]) -> np.ndarray:
    ca, cb = hex_to_codes([f.pdq for f in a]).view(np.uint64), hex_to_codes([f.pdq for f in b]).view(np.uint64)
    if not len(ca) or not len(cb):
        return np.zeros((len(ca), len(cb)), dtype=np.int32)
    return np.bitwise_count(ca[:, None, :] ^ cb[None, :, :]).sum(axis=2, dtype=np.int32)


def compare(
    query: Sequence[Frame], bank: Sequence[Frame], config: VideoMatchConfig = VideoMatchConfig()
) -> tuple[float, float]:
    """(query %, bank %) by brute force: the reference semantics."""
    qa = [query[i] for i in usable_positions(query, config.quality_min)]
    ba = [bank[i] for i in usable_positions(bank, config.quality_min)]
    if not qa or not ba:
        return 0.0, 0.0
    close = _distances(qa, ba) <= config.distance
    return 100.0 * close.any(axis=1).sum() / len(qa), 100.0 * close.any(axis=0).sum() / len(ba)


@dataclass
class Segment:
    """A run of consecutive matching query frames, and where in the banked
    video the frames it matched lie."""

    start: float
    end: float
    frames: int
    bank_start: float
    bank_end: float

    def to_dict(self) -> dict:
        return {
            "start": self.start,
            "end": self.end,
            "frames": self.frames,
            "bank_start": self.bank_start,
            "bank_end": self.bank_end,
        }


def segments(query: Sequence[Frame], best: dict[str, tuple[int, float]], quality_min: int) -> list[Segment]:
    """Group matched query frames into segments.

    ``best`` maps a query frame hash to (distance, bank timestamp) of its
    closest banked frame. Low-quality frames (fades, black frames) neither
    extend nor break a segment: they carry no evidence either way.
    """
    out: list[Segment] = []
    run: list[tuple[float, float]] = []  # (query ts, bank ts)

    def close_run():
        if run:
            bank_ts = [b for _, b in run]
            out.append(Segment(run[0][0], run[-1][0], len(run), min(bank_ts), max(bank_ts)))
            run.clear()

    for f in query:
        if f.quality < quality_min:
            continue
        hit = best.get(f.pdq)
        if hit is None:
            close_run()
        else:
            run.append((f.timestamp, hit[1]))
    close_run()
    return out


def frame_hits(query: Sequence[Frame], best: dict[str, tuple[int, float]], quality_min: int) -> list[dict]:
    """Per matching query frame: its timestamp, the banked frame's timestamp
    and the distance, for a reviewer to jump to (capped at MAX_FRAME_HITS)."""
    out = []
    for f in query:
        hit = best.get(f.pdq)
        if hit is not None and f.quality >= quality_min:
            out.append({"t": f.timestamp, "bank_t": hit[1], "distance": hit[0]})
            if len(out) >= MAX_FRAME_HITS:
                break
    return out
