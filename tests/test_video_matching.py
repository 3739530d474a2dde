"""Video banks and matching: semantics, the frame index, thresholds,
segments, python-threatexchange signal files, and the sample-set outcomes."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from tripline.banks import Banks, Match
from tripline.banks.video import VideoBanks, combine, match_video, signal_id
from tripline.store import Store
from tripline.video import Frame, compare, from_te_signal, hash_video, to_te_signal
from tripline.video.matching import VideoMatchConfig
from video_fixtures import sample

ORIGINAL = "chair-orig-22-sd-bar"
EDITS = ["chair-22-sd-sepia-bar", "chair-22-sd-grey-bar", "chair-22-with-small-logo-bar"]
LARGE_LOGO = "chair-22-with-large-logo-bar"
UNRELATED = ["doorknob-hd-no-bar", "pattern-sd-grey-bar"]


@pytest.fixture(scope="module")
def hashes():
    # Each hash runs in its own child process: threads are enough to overlap them.
    names = [ORIGINAL, *EDITS, LARGE_LOGO, *UNRELATED]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return dict(zip(names, pool.map(lambda n: hash_video(sample(n)), names), strict=True))


@pytest.fixture
def vbanks(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    banks = Banks(store, tmp_path / "idx")
    vb = VideoBanks.of(banks)
    yield vb
    vb.close()
    banks.close()
    store.close()


def rec(frames):
    return {"vpdq": {"frames": [[f.pdq, f.quality, f.timestamp] for f in frames]}}


def F(bits_on: int, quality=100, t=0.0) -> Frame:
    """A frame whose hash has the first ``bits_on`` bits set."""
    v = (1 << 256) - (1 << (256 - bits_on)) if bits_on else 0
    return Frame(f"{v:064x}", quality, t)


# -- semantics (brute force reference) -------------------------------------


def test_percentages_count_distinct_good_frames():
    query = [F(0, t=0), F(0, t=1), F(100, t=2), F(200, quality=10, t=3)]
    bank = [F(10), F(150), F(250)]
    # distinct usable query hashes: 0 and 100; 0 is within 10 of bank[0]
    assert compare(query, bank) == (50.0, pytest.approx(100 / 3))
    assert compare(query, bank, VideoMatchConfig(distance=9)) == (0.0, 0.0)


def test_thresholds_are_configurable():
    cfg = VideoMatchConfig()
    assert (cfg.query_match_pct, cfg.bank_match_pct, cfg.distance, cfg.quality_min) == (80.0, 0.0, 31, 50)
    assert cfg.accepts(80, 0) and not cfg.accepts(79.9, 100)
    assert not VideoMatchConfig(bank_match_pct=50).accepts(100, 49)
    assert not VideoMatchConfig(query_match_pct=0).accepts(0, 0)  # at least one frame must match


def test_te_signal_round_trip(hashes):
    frames = hashes["doorknob-hd-no-bar"]
    text = to_te_signal(frames)
    assert json.loads(text)[1] == f"{frames[1].pdq},{frames[1].quality},1.0"
    assert [(f.pdq, f.quality, f.timestamp) for f in from_te_signal(text)] == [
        (f.pdq, f.quality, f.timestamp) for f in frames
    ]
    with pytest.raises(ValueError):
        from_te_signal('["nothex,1,0.0"]')


def test_te_compatible_with_python_threatexchange(hashes):
    vpdq_signal = pytest.importorskip("threatexchange.extensions.vpdq.vpdq").VPDQSignal
    a, b = to_te_signal(hashes[ORIGINAL]), to_te_signal(hashes[EDITS[0]])
    result = vpdq_signal.compare_hash(b, a)
    info = result.distance
    q, p = compare(hashes[EDITS[0]], hashes[ORIGINAL])
    assert (info.query_match_percent, info.compared_match_percent) == (pytest.approx(q), pytest.approx(p))
    assert result.match


# -- banks and the index ----------------------------------------------------


def test_sample_set_outcomes(vbanks, hashes):
    vbanks.banks.create("known")
    vbanks.add("known", [(hashes[ORIGINAL], ORIGINAL)])
    names = [*EDITS, ORIGINAL, LARGE_LOGO, *UNRELATED]
    with vbanks.matcher() as m:
        found = dict(zip(names, m.match([rec(hashes[n]) for n in names]), strict=True))
    for n in [*EDITS, ORIGINAL]:
        assert len(found[n]) == 1, n
        hit = found[n][0]
        assert hit.signal_type == "vpdq" and hit.query_match_pct >= 80 and hit.value == signal_id(hashes[ORIGINAL])
        assert hit.segments and hit.segments[0]["start"] == 0.0 and hit.segments[-1]["end"] >= 21.0
        assert hit.frames[0] == {"t": 0.0, "bank_t": 0.0, "distance": hit.frames[0]["distance"]}
    # Honest result: a logo covering a large part of the frame moves every
    # frame hash 32-88 bits from the original's, so vPDQ does not match it.
    assert found[LARGE_LOGO] == []
    for n in UNRELATED:
        assert found[n] == []


def test_index_agrees_with_brute_force(vbanks, hashes):
    vbanks.banks.create("all")
    vbanks.add("all", [(hashes[n], n) for n in hashes])
    vbanks.set_thresholds("all", query_match_pct=1)
    with vbanks.matcher(["all"]) as m:
        results = m.match([rec(hashes[n]) for n in hashes])
    ids = {signal_id(f): n for n, f in hashes.items()}
    for q, found in zip(hashes, results, strict=True):
        got = {ids[x.value]: (x.query_match_pct, x.bank_match_pct) for x in found}
        want = {}
        for b in hashes:
            qp, bp = compare(hashes[q], hashes[b])
            if qp > 0:
                want[b] = (round(qp, 2), round(bp, 2))
        assert got == want, q


def test_bank_side_threshold(vbanks, hashes):
    vbanks.banks.create("known")
    # The bank holds the original; the query is its first 8 seconds.
    vbanks.add("known", [(hashes[ORIGINAL], None)])
    clip = [f for f in hashes[EDITS[0]] if f.timestamp < 8]
    [[hit]] = match_video([rec(clip)], vbanks.banks)
    assert hit.query_match_pct == 100 and hit.bank_match_pct < 50
    assert hit.segments == [
        {"start": 0.0, "end": 7.0, "frames": 8, "bank_start": 0.0, "bank_end": hit.segments[0]["bank_end"]}
    ]
    vbanks.set_thresholds("known", bank_match_pct=50)
    assert match_video([rec(clip)], vbanks.banks) == [[]]


def test_persistence_removal_and_drift(vbanks, hashes, tmp_path):
    vb = vbanks
    vb.banks.create("b")
    assert vb.add("b", [(hashes[ORIGINAL], "x"), (hashes[ORIGINAL], "again")]).added == 1
    vb.add("b", [(hashes["doorknob-hd-no-bar"], None)])
    assert vb.store.count_video_frames("b") == len(hashes[ORIGINAL]) + 4
    assert len(vb.index("b")) == len(hashes[ORIGINAL]) + 4
    vb.banks.close()
    # A lost index (the process's cache slot) is rebuilt from the database.
    import shutil

    shutil.rmtree(next((tmp_path / "idx").glob("slot-*/*.vpdq")))
    fresh = VideoBanks(vb.banks)
    assert len(fresh.index("b")) == len(hashes[ORIGINAL]) + 4
    fresh.close()
    vb2 = VideoBanks.of(vb.banks)
    assert vb2.remove("b", [signal_id(hashes[ORIGINAL])]) == 1
    assert match_video([rec(hashes[EDITS[0]])], vb.banks) == [[]]
    assert vb2.store.count_video_frames("b") == 4


def test_tx_import_export(vbanks, hashes):
    vbanks.banks.create("te")
    lines = [
        "pdq " + "0" * 64,
        f"vpdq {to_te_signal(hashes[ORIGINAL])} some-collab tag1",
        "vpdq [not json",
        f"video_vpdq {to_te_signal(hashes['doorknob-hd-no-bar'])}",
    ]
    res, bad = vbanks.import_tx("te", lines)
    assert res.added == 2 and [n for n, _ in bad] == [3]
    exported = list(vbanks.export_tx("te"))
    assert exported == [
        f"vpdq {to_te_signal(hashes[ORIGINAL])}\n",
        f"vpdq {to_te_signal(hashes['doorknob-hd-no-bar'])}\n",
    ]


def test_allow_list_suppresses_video_and_exact_hits(vbanks, hashes):
    vbanks.banks.create("bad")
    vbanks.banks.create("benign", kind="allow")
    vbanks.add("bad", [(hashes[ORIGINAL], None)])
    vbanks.add("benign", [(hashes[ORIGINAL], None)])
    [vfound] = match_video([rec(hashes[EDITS[0]])], vbanks.banks)
    md5_hit = Match("bad", "match", "md5", 1, "0" * 32, 0, "original")
    merged = combine([md5_hit], vfound)
    assert {m.bank for m in merged} == {"bad", "benign"}
    assert all(m.suppressed for m in merged if m.bank_kind == "match")
    assert merged[0].to_dict()["bank_kind"] == "allow"


def test_frames_added_after_the_matcher_loaded_are_ignored(vbanks, hashes):
    vbanks.banks.create("b")
    vbanks.add("b", [(hashes["doorknob-hd-no-bar"], None)])
    with vbanks.matcher(["b"]) as m:
        vbanks.add("b", [(hashes[ORIGINAL], None)])  # lands in the index the matcher reads
        assert m.match([rec(hashes[EDITS[0]])]) == [[]]
    [[hit]] = match_video([rec(hashes[EDITS[0]])], vbanks.banks)
    assert hit.value == signal_id(hashes[ORIGINAL])
