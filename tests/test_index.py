"""tripline.index: exact agreement with brute force, updates, persistence, readers."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tripline.index import (
    IndexLockedError,
    PDQIndex,
    brute_force_search,
    codes_to_hex,
    hex_to_codes,
    mih,
    store,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def flip(code: np.ndarray, k: int, rng) -> np.ndarray:
    """`code` with exactly k distinct bits flipped."""
    bits = np.unpackbits(code)
    bits[rng.choice(256, size=k, replace=False)] ^= 1
    return np.packbits(bits)


def assert_same(got, want):
    assert len(got) == len(want)
    for i, ((gi, gd), (wi, wd)) in enumerate(zip(got, want, strict=True)):
        assert gi.dtype == np.int64 and gd.dtype == np.int32
        assert np.array_equal(gi, wi) and np.array_equal(gd, wd), (
            f"query {i}: got {list(zip(gi, gd, strict=True))} want {list(zip(wi, wd, strict=True))}"
        )


def naive(codes, ids, queries, r):
    """Slow, obviously-correct oracle used to check the numpy oracle itself."""
    out = []
    for q in queries:
        qi = int.from_bytes(q.tobytes(), "big")
        hits = sorted(
            ((qi ^ int.from_bytes(c.tobytes(), "big")).bit_count(), int(i)) for c, i in zip(codes, ids, strict=True)
        )
        hits = [(d, i) for d, i in hits if d <= r]
        out.append((np.array([i for _, i in hits], np.int64), np.array([d for d, _ in hits], np.int32)))
    return out


# ---- helpers ------------------------------------------------------------------


def test_hex_round_trip_and_byte_order():
    h = "f" * 2 + "0" * 60 + "0a"
    codes = hex_to_codes([h, h.upper()])
    assert codes.shape == (2, 32) and codes.dtype == np.uint8
    assert codes[0, 0] == 0xFF and codes[0, 31] == 0x0A
    assert codes_to_hex(codes) == [h, h]
    assert hex_to_codes([]).shape == (0, 32)


@pytest.mark.parametrize("bad", ["ab" * 31, "ab" * 33, "g" * 64, "0x" + "0" * 62, 123, None])
def test_hex_to_codes_rejects_and_names_bad_value(bad):
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        hex_to_codes(["0" * 64, bad])


def test_input_validation(tmp_path):
    idx = PDQIndex.open(tmp_path / "i")
    with pytest.raises(ValueError):
        idx.add([1], np.zeros((1, 31), np.uint8))
    with pytest.raises(ValueError):
        idx.add([1, 2], np.zeros((1, 32), np.uint8))
    with pytest.raises(ValueError):
        idx.search(np.zeros((1, 32), np.uint8), -1)
    with pytest.raises(ValueError):
        idx.search(np.zeros((1, 32), np.uint8), 3.0)
    with pytest.raises(ValueError, match="duplicate id 7"):
        PDQIndex.build(tmp_path / "j", [7, 7], np.zeros((2, 32), np.uint8))


def test_numpy_oracle_matches_naive():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 256, (60, 32), dtype=np.uint8)
    codes[10:20] = flip(codes[0], 3, rng)
    ids = rng.permutation(1000)[:60].astype(np.int64)
    q = np.stack([codes[0], ~codes[1], flip(codes[2], 120, rng)])
    for r in (0, 3, 31, 120, 128, 255, 256):
        assert_same(brute_force_search(codes, ids, q, r), naive(codes, ids, q, r))


def test_radii_cover_threshold():
    # The pigeonhole argument needs sum(wr + 1) == r + 1 and, per word,
    # hr[2k] + hr[2k+1] + 2 == wr[k] + 1.
    for r in range(200):
        wr, hr = mih.radii(r)
        assert (wr + 1).clip(0).sum() == r + 1
        for k in range(8):
            if wr[k] >= 0 and wr[k] < 31:
                assert hr[2 * k] + hr[2 * k + 1] + 2 == wr[k] + 1


# ---- agreement with brute force -------------------------------------------------


def make_case(seed: int, n: int, kind: str, r: int):
    """A db and queries aimed at the edges: equal hashes, complements, exact-r neighbours."""
    rng = np.random.default_rng(seed)
    if kind == "random":
        codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    elif kind == "cluster":  # everything near one centre: same buckets in every table
        c = rng.integers(0, 256, 32, dtype=np.uint8)
        codes = np.stack([flip(c, int(k), rng) for k in rng.integers(0, 48, n)])
    else:  # "sparse": low-weight codes, near-zero halves, heavy duplicates
        codes = np.stack([flip(np.zeros(32, np.uint8), int(k), rng) for k in rng.integers(0, 40, n)])
        codes[: n // 4] = codes[0]
        codes[n // 4 : n // 3] = 0xFF
    ids = rng.choice(10 * n + 10, size=n, replace=False).astype(np.int64) - 5 * n
    base = codes[rng.integers(0, n, 6)]
    q = [base[0], ~base[1], np.zeros(32, np.uint8), np.full(32, 0xFF, np.uint8)]
    q += [flip(base[2], min(r, 256), rng), flip(base[3], min(r + 1, 256), rng)]
    q += [flip(base[4], int(rng.integers(0, 60)), rng), rng.integers(0, 256, 32, dtype=np.uint8)]
    return codes, ids, np.stack(q).astype(np.uint8)


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 150),
    kind=st.sampled_from(["random", "cluster", "sparse"]),
    r=st.one_of(st.integers(0, 48), st.integers(0, 256), st.sampled_from([31, 32, 40, 255, 256])),
)
def test_search_equals_brute_force(seed, n, kind, r):
    codes, ids, q = make_case(seed, n, kind, r)
    want = brute_force_search(codes, ids, q, r)
    with tempfile.TemporaryDirectory() as d:
        idx = PDQIndex.build(Path(d) / "i", ids, codes)
        assert_same(idx.search(q, r, parallel=False), want)
        assert_same(idx.search(q, r, parallel=True), want)
        assert_same([idx.search(q[i : i + 1], r)[0] for i in range(len(q))], want)
        idx.close()


def test_boundary_is_inclusive(tmp_path):
    rng = np.random.default_rng(5)
    c = rng.integers(0, 256, (1, 32), dtype=np.uint8)
    codes = np.stack([flip(c[0], k, rng) for k in range(0, 257, 1)])
    ids = np.arange(257, dtype=np.int64)  # id == distance from c
    idx = PDQIndex.build(tmp_path / "i", ids, codes)
    for r in (0, 1, 15, 16, 30, 31, 32, 40, 64, 128, 255, 256):
        got_ids, got_d = idx.search(c, r)[0]
        assert list(got_ids) == list(range(r + 1)), r
        assert list(got_d) == list(range(r + 1))
    # all bits flipped: exactly distance 256
    ids2, d2 = idx.search(~c, 0)[0]
    assert list(ids2) == [256] and list(d2) == [0]


def test_equal_hashes_all_returned_even_past_buffer(tmp_path):
    rng = np.random.default_rng(6)
    c = rng.integers(0, 256, 32, dtype=np.uint8)
    codes = np.vstack([np.tile(c, (300, 1)), rng.integers(0, 256, (500, 32), dtype=np.uint8)])
    ids = np.arange(800, dtype=np.int64) * 7
    idx = PDQIndex.build(tmp_path / "i", ids, codes)
    got = idx.search(np.stack([c, c]), 0)
    for g_ids, g_d in got:
        assert list(g_ids) == list(ids[:300]) and not g_d.any()


def test_larger_clustered_db_all_thresholds(tmp_path):
    rng = np.random.default_rng(7)
    n = 20000
    codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    centres = codes[:40].copy()
    for i in range(40, 4000):  # families of near-duplicates around 40 centres
        codes[i] = flip(centres[i % 40], int(rng.integers(0, 45)), rng)
    ids = rng.permutation(n).astype(np.int64)
    q = np.stack(
        [flip(centres[i % 40], int(rng.integers(0, 45)), rng) for i in range(24)]
        + [rng.integers(0, 256, 32, dtype=np.uint8) for _ in range(8)]
    )
    idx = PDQIndex.build(tmp_path / "i", ids, codes)
    for r in list(range(0, 49, 3)) + [31, 32, 40, 70]:
        assert_same(idx.search(q, r), brute_force_search(codes, ids, q, r))


def test_empty_index_and_empty_queries(tmp_path):
    idx = PDQIndex.open(tmp_path / "new")
    assert len(idx) == 0 and (tmp_path / "new").is_dir()
    res = idx.search(np.zeros((2, 32), np.uint8), 256)
    assert [len(i) for i, _ in res] == [0, 0]
    assert idx.search(np.zeros((0, 32), np.uint8), 31) == []
    assert idx.stats()["last_update"] is None


# ---- updates -------------------------------------------------------------------


class Model:
    def __init__(self):
        self.d: dict[int, np.ndarray] = {}

    def add(self, ids, codes):
        for i, c in zip(ids, codes, strict=True):
            self.d[int(i)] = c.copy()

    def remove(self, ids):
        for i in ids:
            self.d.pop(int(i), None)

    def arrays(self):
        ids = np.array(sorted(self.d), dtype=np.int64)
        codes = np.stack([self.d[i] for i in ids]) if len(ids) else np.zeros((0, 32), np.uint8)
        return ids, codes


def check(idx, model, q, r):
    ids, codes = model.arrays()
    assert len(idx) == len(ids)
    e_ids, e_codes = idx.export()
    assert np.array_equal(e_ids, ids) and np.array_equal(e_codes, codes)
    assert_same(idx.search(q, r), brute_force_search(codes, ids, q, r))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    ops=st.lists(
        st.sampled_from(["add", "replace", "remove", "remove_unknown", "compact", "reopen", "big_add"]),
        min_size=1,
        max_size=14,
    ),
)
def test_updates_match_model(seed, ops):
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 256, (40, 32), dtype=np.uint8)  # codes drawn near these
    model = Model()
    q = np.vstack([pool[:6], rng.integers(0, 256, (2, 32), dtype=np.uint8)])

    def fresh(k):
        return np.stack([flip(pool[int(rng.integers(0, 40))], int(rng.integers(0, 40)), rng) for _ in range(k)])

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "i"
        init_ids = rng.choice(500, 60, replace=False).astype(np.int64)
        init_codes = fresh(60)
        idx = PDQIndex.build(path, init_ids, init_codes, compact_threshold=50)
        model.add(init_ids, init_codes)
        for op in ops:
            if op == "add":
                ids = rng.choice(1000, 5).astype(np.int64)  # may repeat within the call
                codes = fresh(5)
                idx.add(ids, codes)
                model.add(ids, codes)
            elif op == "replace" and model.d:
                ids = rng.choice(list(model.d), min(3, len(model.d)), replace=False)
                codes = fresh(len(ids))
                idx.add(ids, codes)
                model.add(ids, codes)
            elif op == "remove" and model.d:
                ids = rng.choice(list(model.d), min(4, len(model.d)), replace=False)
                idx.remove(ids)
                model.remove(ids)
            elif op == "remove_unknown":
                idx.remove(np.array([10**9, -(10**9)]))
            elif op == "compact":
                idx.compact()
                assert idx.stats()["pending"] == 0
            elif op == "reopen":
                idx.close()
                idx = PDQIndex.open(path, compact_threshold=50)
            elif op == "big_add":  # past compact_threshold: logged, then folded into a new base
                ids = rng.choice(np.arange(2000, 3000), 70, replace=False).astype(np.int64)
                codes = fresh(70)
                gen = idx.stats()["generation"]
                idx.add(ids, codes)
                model.add(ids, codes)
                assert idx.stats()["generation"] == gen + 1
            check(idx, model, q, 40)
        idx.close()
        with PDQIndex.open(path, readonly=True) as ro:
            check(ro, model, q, 40)


def test_auto_compaction_and_stats(tmp_path):
    rng = np.random.default_rng(3)
    idx = PDQIndex.open(tmp_path / "i", compact_threshold=20)
    codes = rng.integers(0, 256, (50, 32), dtype=np.uint8)
    for i in range(0, 20, 2):
        idx.add(np.arange(i, i + 2), codes[i : i + 2])
    s = idx.stats()
    assert s["generation"] == 0 and s["pending"] == 20 and s["size"] == 20
    assert s["last_update"].endswith("Z")
    idx.add([20], codes[20:21])  # crosses the threshold
    s = idx.stats()
    assert s["generation"] == 1 and s["pending"] == 0 and s["segments"] == 1 and s["size"] == 21
    assert s["disk_bytes"] > 21 * 32 and s["memory_bytes"] >= 21 * 40
    files = sorted(p.name for p in (tmp_path / "i").iterdir())
    assert files == ["LOCK", "MANIFEST.json", "base-1", "log-1.bin"]  # old generation removed
    idx.remove(np.arange(21))
    idx.compact()
    assert len(idx) == 0 and idx.stats()["segments"] == 0


def test_second_writer_is_refused_and_readonly_cannot_write(tmp_path):
    idx = PDQIndex.open(tmp_path / "i")
    with pytest.raises(IndexLockedError):
        PDQIndex.open(tmp_path / "i")
    ro = PDQIndex.open(tmp_path / "i", readonly=True)
    with pytest.raises(PermissionError):
        ro.add([1], np.zeros((1, 32), np.uint8))
    idx.close()
    PDQIndex.open(tmp_path / "i").close()  # lock released by close


def test_reader_sees_old_state_until_refresh(tmp_path):
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 256, (100, 32), dtype=np.uint8)
    w = PDQIndex.build(tmp_path / "i", np.arange(100), codes, compact_threshold=10)
    r = PDQIndex.open(tmp_path / "i", readonly=True)
    assert r.refresh() is False
    w.add([1000], codes[:1])  # logged
    assert len(r) == 100 and r.search(codes[:1], 0)[0][0].tolist() == [0]
    assert r.refresh() is True
    assert r.search(codes[:1], 0)[0][0].tolist() == [0, 1000]
    w.remove(np.arange(50))  # big: new generation, old one deleted from disk
    assert not (tmp_path / "i" / "base-1").exists()
    # the reader still serves its mapped (deleted) generation
    assert r.search(codes[:1], 0)[0][0].tolist() == [0, 1000]
    assert r.refresh() is True
    assert len(r) == 51 and r.search(codes[:1], 0)[0][0].tolist() == [1000]
    r2 = PDQIndex.open(tmp_path / "i", readonly=True)
    assert len(r2) == 51


def test_torn_log_record_is_ignored_then_truncated(tmp_path):
    rng = np.random.default_rng(8)
    codes = rng.integers(0, 256, (10, 32), dtype=np.uint8)
    w = PDQIndex.open(tmp_path / "i")
    w.add(np.arange(5), codes[:5])
    w.close()
    log = tmp_path / "i" / "log-0.bin"
    good = log.stat().st_size
    rec = store.encode_record(store.KIND_ADD, np.arange(5, 10), codes[5:])
    for cut in (1, store.REC_HEADER, len(rec) - 1):
        with open(log, "ab") as f:
            f.write(rec[:cut])
        assert len(PDQIndex.open(tmp_path / "i", readonly=True)) == 5
        PDQIndex.open(tmp_path / "i").close()  # writer recovery truncates the tail
        assert log.stat().st_size == good
    # a flipped payload byte fails the CRC
    with open(log, "ab") as f:
        f.write(rec[:-1] + bytes([rec[-1] ^ 1]))
    assert len(PDQIndex.open(tmp_path / "i", readonly=True)) == 5


def test_open_is_fast_and_memory_mapped(tmp_path):
    rng = np.random.default_rng(9)
    codes = rng.integers(0, 256, (50000, 32), dtype=np.uint8)
    PDQIndex.build(tmp_path / "i", np.arange(50000), codes).close()
    import time

    t = time.perf_counter()
    idx = PDQIndex.open(tmp_path / "i", readonly=True)
    assert time.perf_counter() - t < 0.5
    assert not idx._base.pos.flags.writeable  # a read-only mapping, not a loaded copy
    assert idx.search(codes[123:124], 0)[0][0].tolist() == [123]
