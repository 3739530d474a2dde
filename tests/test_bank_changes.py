"""The bank change log (store) and the per-process index caches that apply it
(tripline.banks.indexes), on SQLite and PostgreSQL. docs/consistency.md."""

import json
import shutil
import threading
import time

import numpy as np
import pytest
from sqlalchemy import text

from tripline.banks import Banks
from tripline.banks import indexes as cache_mod
from tripline.index import codes_to_hex
from tripline.store import Store, log_bank_change


def rand_pdq(rng, n=1):
    return codes_to_hex(rng.integers(0, 256, size=(n, 32), dtype=np.uint8))


def item(pdq):
    return {"pdq": pdq, "pdq_quality": 100, "pdq_dihedral": [pdq]}


def hits(banks, pdq, name="b"):
    m = banks.matcher([name])
    try:
        return len(m.match([item(pdq)])[0])
    finally:
        m.close()


@pytest.fixture
def store(db_url):
    s = Store(db_url)
    yield s
    s.close()


def ops(store, after=0):
    return [(c.op, c.signal_type, len(c.entry_ids or ())) for c in store.changes_after(after)]


def test_every_bank_change_is_logged_in_order(store, tmp_path):
    rng = np.random.default_rng(1)
    p = rand_pdq(rng, 2)
    banks = Banks(store, tmp_path / "index")
    banks.create("b")
    banks.add("b", [("pdq", p[0], None), ("pdq", p[1], None), ("md5", "a" * 32, None)])
    banks.add("b", [("pdq", p[0], None)])  # a duplicate changes nothing
    banks.set_enabled("b", "pdq", [p[0]], False)
    banks.set_enabled("b", "pdq", [p[0]], True)
    banks.remove("b", "pdq", [p[1], "f" * 64])
    banks.update("b", pdq_threshold=20)
    banks.update("b", enabled=False)
    banks.add("b", [("pdq", rand_pdq(rng)[0], None)], regions={}, keypoints={})
    banks.delete("b")
    assert ops(store) == [
        ("create", None, 0),
        ("add", "md5", 1),
        ("add", "pdq", 2),
        ("disable", "pdq", 1),
        ("enable", "pdq", 1),
        ("remove", "pdq", 1),
        ("update", None, 0),
        ("disable", None, 0),
        ("add", "pdq", 1),
        ("delete", None, 0),
    ]
    seqs = [c.seq for c in store.changes_after(0)]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert store.last_change_seq() == seqs[-1]
    assert [c.seq for c in store.changes_after(seqs[3], limit=2)] == seqs[4:6]
    banks.close()


def test_a_change_and_its_log_row_commit_together(store):
    store.create_bank("b")
    before = store.last_change_seq()
    bank_id = store.get_bank("b").id
    with pytest.raises(RuntimeError):
        with store.engine.connect().execution_options(tripline_write=True) as conn, conn.begin():
            conn.execute(text("UPDATE banks SET pdq_threshold = 3 WHERE id = :i"), {"i": bank_id})
            log_bank_change(conn, bank_id, "b", "update", detail={"pdq_threshold": 3})
            raise RuntimeError("crash before commit")
    assert store.last_change_seq() == before and store.get_bank("b").pdq_threshold == 31


def test_postgres_change_seqs_become_visible_in_commit_order(pg_url):
    """Sequences can commit out of order; the advisory lock in
    log_bank_change makes a later writer wait, so a reader never sees seq N
    while a lower seq is still in flight."""
    store = Store(pg_url)
    try:
        store.create_bank("b")
        bank_id = store.get_bank("b").id
        base = store.last_change_seq()
        first = store.engine.connect()
        tx = first.begin()
        s1 = log_bank_change(first, bank_id, "b", "update")
        got = {}

        def second():
            with store.engine.connect() as conn, conn.begin():
                got["seq"] = log_bank_change(conn, bank_id, "b", "update")

        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.5)
        assert t.is_alive(), "the second writer must wait for the first to commit"
        assert store.last_change_seq() == base  # nothing in flight is visible
        tx.commit()
        first.close()
        t.join(10)
        assert got["seq"] > s1 and store.last_change_seq() == got["seq"]
    finally:
        store.close()


def test_two_caches_on_one_folder_never_share_a_lock(store, tmp_path):
    """The CLI's Banks and a service's Banks on the same index folder: each
    takes its own slot, writes never open an index, both see every change."""
    rng = np.random.default_rng(2)
    serving = Banks(store, tmp_path / "index")
    cli = Banks(store, tmp_path / "index")
    serving.create("b")
    assert hits(serving, rand_pdq(rng)[0]) == 0
    p = rand_pdq(rng, 3)
    cli.add("b", [("pdq", v, None) for v in p])
    assert [hits(serving, v) for v in p] == [1, 1, 1]
    cli.remove("b", "pdq", [p[0]])
    cli.set_enabled("b", "pdq", [p[1]], False)
    assert [hits(serving, v) for v in p] == [0, 0, 1]
    assert [hits(cli, v) for v in p] == [0, 0, 1]
    assert serving.cache.slot != cli.cache.slot and serving.caught_up() and cli.lag() == 0
    serving.close()
    cli.close()


def _regions(rng, n):
    return [(code, h) for code, h in zip(range(1, n + 1), rand_pdq(rng, n), strict=True)]


def test_deleting_the_cache_loses_nothing(store, tmp_path):
    rng = np.random.default_rng(3)
    banks = Banks(store, tmp_path / "index")
    banks.create("b")
    p = rand_pdq(rng, 3)
    regions = {p[0]: _regions(rng, 4), p[1]: _regions(rng, 2)}
    banks.add("b", [("pdq", v, None) for v in p], regions=regions)
    banks.remove("b", "pdq", [p[1]])
    before = (len(banks.index("b")), len(banks.regions_index("b")))
    assert before == (2, 4)
    banks.close()
    shutil.rmtree(tmp_path / "index")
    again = Banks(store, tmp_path / "index")
    assert (len(again.index("b")), len(again.regions_index("b"))) == before
    assert hits(again, p[0]) == 1 and hits(again, p[1]) == 0
    # The region hashes themselves came back, under the entry's region ids.
    entry = {e.value: e.id for e in store.iter_entries("b")}[p[0]]
    ids, codes = again.regions_index("b").export()
    assert ids.tolist() == [entry * 8 + code for code, _ in regions[p[0]]]
    assert codes_to_hex(codes) == [h for _, h in regions[p[0]]]
    again.close()


def test_replaying_changes_is_harmless(store, tmp_path):
    """A crash after applying changes but before recording the seq replays
    them: the result is the same, keypoint records are not duplicated."""
    from tripline.keypoints import Keypoints

    rng = np.random.default_rng(4)
    banks = Banks(store, tmp_path / "index")
    banks.create("b")
    p = rand_pdq(rng, 4)
    kp = Keypoints(
        rng.uniform(0, 100, (20, 2)).astype(np.float32), rng.integers(0, 256, (20, 32), dtype=np.uint8), (100, 100)
    )
    banks.add("b", [("pdq", v, None) for v in p], keypoints={p[0]: kp, p[1]: kp})
    banks.remove("b", "pdq", [p[2]])
    state = (sorted(banks.index("b").export()[0].tolist()), len(banks.keypoints_reader("b")))
    slot = banks.cache.slot
    banks.close()
    st = json.loads((slot / "STATE.json").read_text())
    (slot / "STATE.json").write_text(json.dumps({**st, "seq": 0}))
    again = Banks(store, tmp_path / "index")
    assert again.lag() > 0
    assert (sorted(again.index("b").export()[0].tolist()), len(again.keypoints_reader("b"))) == state
    assert state[1] == 2 and again.caught_up()
    again.close()


def test_a_restart_applies_only_what_it_missed_and_a_corrupt_index_is_rebuilt(store, tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    banks = Banks(store, tmp_path / "index")
    banks.create("b")
    p = rand_pdq(rng, 3)
    banks.add("b", [("pdq", p[0], None)])
    assert hits(banks, p[0]) == 1
    banks.close()
    store.add_entries("b", [("pdq", p[1], None)])  # while it is down
    builds = []
    real = cache_mod.build_pdq
    monkeypatch.setattr(cache_mod, "build_pdq", lambda *a: builds.append(a[0]) or real(*a))
    again = Banks(store, tmp_path / "index")
    assert hits(again, p[0]) == 1 and hits(again, p[1]) == 1
    assert builds == []  # deltas, no rebuild
    folder = again.cache.slot / f"{again.get('b').id}-b"
    again.close()
    (folder / "MANIFEST.json").write_text("{not json")
    third = Banks(store, tmp_path / "index")
    assert hits(third, p[0]) == 1 and hits(third, p[1]) == 1 and len(builds) == 1
    third.close()


def test_a_cache_from_another_database_is_discarded(db_url, tmp_path):
    rng = np.random.default_rng(6)
    p = rand_pdq(rng)[0]
    s1 = Store(db_url)
    b1 = Banks(s1, tmp_path / "index")
    b1.create("b")
    b1.add("b", [("pdq", p, None)])
    assert hits(b1, p) == 1
    b1.close()
    s1.close()
    s2 = Store(f"sqlite:///{tmp_path / 'other.db'}")
    b2 = Banks(s2, tmp_path / "index")
    b2.create("b")
    assert hits(b2, p) == 0
    b2.close()
    s2.close()


def test_a_deleted_and_recreated_bank_starts_empty_everywhere(store, tmp_path):
    rng = np.random.default_rng(7)
    p = rand_pdq(rng)[0]
    a, b = Banks(store, tmp_path / "index"), Banks(store, tmp_path / "index")
    a.create("b")
    a.add("b", [("pdq", p, None), ("md5", "b" * 32, None)])
    assert hits(b, p) == 1
    a.delete("b")
    a.create("b")
    assert hits(b, p) == 0 and hits(a, p) == 0
    assert len(b.index("b")) == 0 and b.cache.exact_mirror() is None
    a.close()
    b.close()


def test_a_service_applies_changes_made_elsewhere_within_two_seconds(db_url, tmp_path):
    """The service's in-memory MD5/SHA-256 mirror and PDQ index follow
    changes made by another process (here: another Banks on the database)."""
    from service_support import make_env

    env = make_env(db_url, tmp_path)
    store = Store(db_url)
    other = Banks(store, tmp_path / "cli")
    p = rand_pdq(np.random.default_rng(8))[0]

    def seen(h):
        return bool(env.svc.lookup([h])[0]["matches"])

    def within(cond, limit=2.0):
        t0 = time.monotonic()
        while not cond():
            assert time.monotonic() - t0 < limit, "not applied within 2 s"
            time.sleep(0.02)

    try:
        other.create("b")
        other.add("b", [("md5", "d" * 32, None), ("pdq", p, None)])
        within(lambda: seen({"md5": "d" * 32}) and seen({"pdq": p}))
        assert env.svc.banks.cache.exact_mirror() is not None
        other.remove("b", "md5", ["d" * 32])
        other.set_enabled("b", "pdq", [p], False)
        within(lambda: not seen({"md5": "d" * 32}) and not seen({"pdq": p}))
        assert env.svc.bank_lag() == 0 and env.svc.banks_caught_up()
    finally:
        other.close()
        store.close()
        env.svc.close()
