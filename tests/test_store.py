"""Behaviour of tripline.store.Store on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC

import pytest

from tripline.store import AddResult, BankNotFound, BankRow, EntryRow, RunNotFound, Store


@pytest.fixture
def store(db_url):
    s = Store(db_url)
    yield s
    s.close()


def h(i: int, width: int = 64) -> str:
    return f"{i:0{width}x}"


# ---------------------------------------------------------------- banks


def test_create_get_list_bank(store):
    b = store.create_bank("ncmec.2024", description="d", source="s", pdq_threshold=20)
    assert isinstance(b, BankRow)
    assert (b.name, b.kind, b.enabled, b.pdq_threshold, b.pdq_quality_min) == (
        "ncmec.2024",
        "match",
        True,
        20,
        50,
    )
    assert (b.description, b.source) == ("d", "s")
    assert b.created_at.tzinfo is not None and b.created_at.utcoffset().total_seconds() == 0
    assert store.get_bank("ncmec.2024") == b
    assert store.get_bank("nope") is None
    store.create_bank("allow-list_1", kind="allow")
    assert [x.name for x in store.list_banks()] == ["allow-list_1", "ncmec.2024"]


def test_create_bank_duplicate_name(store):
    store.create_bank("a")
    with pytest.raises(ValueError, match="already exists"):
        store.create_bank("a")


@pytest.mark.parametrize("name", ["", "x" * 65, "has space", "slash/no", "ünïcode", "semi;colon", None, 5])
def test_create_bank_rejects_bad_names(store, name):
    with pytest.raises(ValueError, match="invalid bank name"):
        store.create_bank(name)
    assert store.list_banks() == []


def test_bank_name_limits(store):
    assert store.create_bank("x" * 64).name == "x" * 64
    assert store.create_bank("A-z_0.9").name == "A-z_0.9"


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        ({"kind": "deny"}, "kind"),
        ({"pdq_threshold": -1}, "pdq_threshold"),
        ({"pdq_threshold": 257}, "pdq_threshold"),
        ({"pdq_threshold": True}, "pdq_threshold"),
        ({"pdq_threshold": "31"}, "pdq_threshold"),
        ({"pdq_quality_min": 101}, "pdq_quality_min"),
        ({"description": None}, "description"),
    ],
)
def test_create_bank_validates_fields(store, kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        store.create_bank("b", **kwargs)
    assert store.get_bank("b") is None


def test_update_bank(store):
    before = store.create_bank("b")
    after = store.update_bank("b", enabled=False, pdq_threshold=10, pdq_quality_min=70, description="x", kind="allow")
    assert (after.enabled, after.pdq_threshold, after.pdq_quality_min, after.description, after.kind) == (
        False,
        10,
        70,
        "x",
        "allow",
    )
    assert after.updated_at > before.updated_at
    assert after.created_at == before.created_at
    assert store.get_bank("b") == after


def test_update_bank_errors(store):
    store.create_bank("b")
    with pytest.raises(BankNotFound):
        store.update_bank("missing", enabled=False)
    with pytest.raises(ValueError, match="kind"):
        store.update_bank("b", kind="nope")
    with pytest.raises(ValueError, match="enabled"):
        store.update_bank("b", enabled=1)
    with pytest.raises(TypeError, match="unknown bank field"):
        store.update_bank("b", name="renamed")
    assert store.get_bank("b").kind == "match"


def test_bank_not_found_is_lookup_and_value_error(store):
    for call in (
        lambda: store.delete_bank("x"),
        lambda: store.add_entries("x", []),
        lambda: store.count_entries("x"),
        lambda: store.iter_entries("x"),
        lambda: store.bank_touched("x"),
        lambda: store.set_entries_enabled("x", "md5", [], True),
        lambda: store.remove_entries("x", "md5", []),
    ):
        with pytest.raises(BankNotFound, match="no bank named 'x'"):
            call()
    assert issubclass(BankNotFound, LookupError) and issubclass(BankNotFound, ValueError)


def test_delete_bank_cascades_entries(store):
    store.create_bank("a")
    store.create_bank("b")
    store.add_entries("a", [("md5", h(1, 32), None), ("pdq", h(2), None)])
    store.add_entries("b", [("md5", h(1, 32), None)])
    store.delete_bank("a")
    assert store.get_bank("a") is None
    assert store.exact_lookup("md5", [h(1, 32)], ["a", "b"]) == [
        ("b", store.exact_lookup("md5", [h(1, 32)], ["b"])[0][1], h(1, 32))
    ]
    with store.engine.connect() as conn:
        from sqlalchemy import text

        assert conn.execute(text("SELECT count(*) FROM bank_entries")).scalar() == 1
    # The name is free again, and the new bank starts empty.
    store.create_bank("a")
    assert store.count_entries("a") == {}


def test_bank_touched_bumps_updated_at(store):
    b0 = store.create_bank("b")
    time.sleep(0.002)
    store.bank_touched("b")
    b1 = store.get_bank("b")
    assert b1.updated_at > b0.updated_at
    store.add_entries("b", [("md5", h(1, 32), None)])
    b2 = store.get_bank("b")
    assert b2.updated_at > b1.updated_at
    store.set_entries_enabled("b", "md5", [h(1, 32)], False)
    b3 = store.get_bank("b")
    assert b3.updated_at > b2.updated_at
    store.remove_entries("b", "md5", [h(1, 32)])
    assert store.get_bank("b").updated_at > b3.updated_at


# ---------------------------------------------------------------- entries


def test_add_entries_counts_duplicates(store):
    store.create_bank("b")
    first = store.add_entries(
        "b",
        [
            ("md5", h(1, 32), "first"),
            ("md5", h(2, 32), None),
            ("md5", h(1, 32), "repeated within the call"),
            ("sha256", h(1, 32), None),  # same value, other type: not a duplicate
        ],
    )
    assert isinstance(first, AddResult)
    assert first.duplicates == 1
    assert [(t, v) for _, t, v in first.added] == [
        ("md5", h(1, 32)),
        ("md5", h(2, 32)),
        ("sha256", h(1, 32)),
    ]
    assert len({i for i, _, _ in first.added}) == 3

    second = store.add_entries("b", iter([("md5", h(2, 32), None), ("md5", h(3, 32), None)]))
    assert second.duplicates == 1
    assert [(t, v) for _, t, v in second.added] == [("md5", h(3, 32))]

    assert store.count_entries("b") == {
        "md5": {"enabled": 3, "disabled": 0},
        "sha256": {"enabled": 1, "disabled": 0},
    }
    notes = {e.value: e.note for e in store.iter_entries("b", "md5")}
    assert notes[h(1, 32)] == "first"


def test_add_entries_duplicates_across_chunks(store, monkeypatch):
    import tripline.store.store as store_module

    monkeypatch.setattr(store_module, "ENTRY_CHUNK", 3)
    store.create_bank("b")
    values = [1, 2, 3, 1, 4, 4, 5, 2, 6, 6, 6]  # repeats within and across chunks of 3
    result = store.add_entries("b", (("md5", h(v, 32), None) for v in values))
    assert result.duplicates == 5
    assert [v for _, _, v in result.added] == [h(v, 32) for v in (1, 2, 3, 4, 5, 6)]
    assert store.count_entries("b") == {"md5": {"enabled": 6, "disabled": 0}}


def test_same_value_in_two_banks(store):
    store.create_bank("a")
    store.create_bank("b")
    ra = store.add_entries("a", [("pdq", h(7), None)])
    rb = store.add_entries("b", [("pdq", h(7), None)])
    assert (ra.duplicates, rb.duplicates) == (0, 0)
    hits = store.exact_lookup("pdq", [h(7)], ["a", "b"])
    assert sorted(b for b, _, _ in hits) == ["a", "b"]


@pytest.mark.parametrize(
    "entry", [("", "aa", None), ("md5", "", None), ("md5", None, None), ("md5", "aa", 3), ("x" * 33, "aa", None)]
)
def test_add_entries_validates_shape(store, entry):
    store.create_bank("b")
    with pytest.raises(ValueError):
        store.add_entries("b", [entry])
    assert store.count_entries("b") == {}


def test_iter_entries_streams_in_id_order(store):
    store.create_bank("a")
    store.create_bank("other")
    store.add_entries("a", [("pdq", h(i), None) for i in range(25)])
    store.add_entries("other", [("pdq", h(i), None) for i in range(5)])
    store.add_entries("a", [("md5", h(i, 32), f"n{i}") for i in range(5)])
    store.set_entries_enabled("a", "pdq", [h(3), h(4)], False)

    everything = list(store.iter_entries("a", enabled_only=False, batch=7))
    assert len(everything) == 30
    assert [e.id for e in everything] == sorted(e.id for e in everything)
    assert all(isinstance(e, EntryRow) and e.bank_id == everything[0].bank_id for e in everything)
    assert all(e.added_at.tzinfo is not None for e in everything)

    pdq = list(store.iter_entries("a", "pdq", batch=4))
    assert [e.value for e in pdq] == [h(i) for i in range(25) if i not in (3, 4)]
    assert all(e.enabled for e in pdq)
    md5 = list(store.iter_entries("a", "md5"))
    assert [e.note for e in md5] == [f"n{i}" for i in range(5)]
    assert list(store.iter_entries("a", "vpdq")) == []
    # batch exactly dividing the row count must still terminate cleanly
    assert len(list(store.iter_entries("a", "md5", batch=5))) == 5
    with pytest.raises(ValueError):
        store.iter_entries("a", batch=0)


def test_enable_disable_changes_exact_lookup(store):
    store.create_bank("b")
    added = store.add_entries("b", [("md5", h(i, 32), None) for i in range(4)]).added
    ids = {v: i for i, _, v in added}
    values = [h(i, 32) for i in range(4)]
    assert len(store.exact_lookup("md5", values, ["b"])) == 4

    changed = store.set_entries_enabled("b", "md5", [h(1, 32), h(2, 32), h(99, 32)], False)
    assert changed == [(ids[h(1, 32)], h(1, 32)), (ids[h(2, 32)], h(2, 32))]
    assert store.exact_lookup("md5", values, ["b"]) == [
        ("b", ids[h(0, 32)], h(0, 32)),
        ("b", ids[h(3, 32)], h(3, 32)),
    ]
    # Only rows whose state actually changes are reported.
    assert store.set_entries_enabled("b", "md5", [h(1, 32)], False) == []
    assert store.set_entries_enabled("b", "sha256", [h(2, 32)], True) == []
    assert store.set_entries_enabled("b", "md5", [h(2, 32), h(3, 32)], True) == [(ids[h(2, 32)], h(2, 32))]
    assert {v for _, _, v in store.exact_lookup("md5", values, ["b"])} == {h(0, 32), h(2, 32), h(3, 32)}
    assert store.count_entries("b") == {"md5": {"enabled": 3, "disabled": 1}}
    with pytest.raises(ValueError):
        store.set_entries_enabled("b", "md5", [h(1, 32)], "yes")


def test_remove_entries(store):
    store.create_bank("b")
    added = store.add_entries("b", [("md5", h(i, 32), None) for i in range(3)]).added
    removed = store.remove_entries("b", "md5", iter([h(0, 32), h(2, 32), h(5, 32)]))
    assert removed == [(added[0][0], h(0, 32)), (added[2][0], h(2, 32))]
    assert [e.value for e in store.iter_entries("b")] == [h(1, 32)]
    assert store.remove_entries("b", "md5", [h(0, 32)]) == []


def test_exact_lookup_filters_type_bank_and_enabled(store):
    store.create_bank("a")
    store.create_bank("b")
    store.create_bank("c")
    store.add_entries("a", [("md5", h(1, 32), None), ("sha256", h(2), None)])
    store.add_entries("b", [("md5", h(1, 32), None), ("md5", h(3, 32), None)])
    store.add_entries("c", [("md5", h(1, 32), None)])
    got = store.exact_lookup("md5", [h(1, 32), h(3, 32), h(1, 32)], ["a", "b", "ghost"])
    assert sorted((b, v) for b, _, v in got) == [
        ("a", h(1, 32)),
        ("b", h(1, 32)),
        ("b", h(3, 32)),
    ]
    assert store.exact_lookup("sha256", [h(1, 32)], ["a"]) == []
    assert store.exact_lookup("md5", [], ["a"]) == []
    assert store.exact_lookup("md5", [h(1, 32)], []) == []


def test_exact_lookup_many_values(store):
    """More values than fit in one IN list (SQLite's parameter limit)."""
    store.create_bank("b")
    store.add_entries("b", [("md5", h(i, 32), None) for i in range(0, 24_000, 2)])
    got = store.exact_lookup("md5", [h(i, 32) for i in range(24_000)], ["b"])
    assert len(got) == 12_000


def test_bulk_add_200k(store):
    store.create_bank("big")
    n = 200_000
    start = time.perf_counter()
    result = store.add_entries("big", (("pdq", h(i), None) for i in range(n)))
    elapsed = time.perf_counter() - start
    assert len(result.added) == n and result.duplicates == 0
    assert elapsed < 20, f"200k entries took {elapsed:.1f}s"
    assert store.count_entries("big") == {"pdq": {"enabled": n, "disabled": 0}}
    # A second overlapping load spans chunk boundaries and only adds the new tail.
    again = store.add_entries("big", (("pdq", h(i), None) for i in range(n - 10, n + 10)))
    assert again.duplicates == 10 and len(again.added) == 10
    assert store.exact_lookup("pdq", [h(0), h(n - 1), h(n + 9)], ["big"])[-1][2] == h(n + 9)


# ---------------------------------------------------------------- runs


def _record(key, **extra):
    rec = {
        "key": key,
        "path": f"/data/{key}",
        "size": 10,
        "media_type": "image/jpeg",
        "width": 4,
        "height": 3,
        "md5": h(1, 32),
        "sha256": h(2),
        "pdq": h(3),
        "pdq_quality": 90,
        "error": None,
        "matches": [],
        "provenance": None,
    }
    rec.update(extra)
    return rec


def _match(bank="b", **extra):
    m = {
        "bank": bank,
        "bank_kind": "match",
        "signal_type": "pdq",
        "entry_id": 1,
        "value": h(3),
        "distance": 4,
        "variant": "rot90",
        "suppressed": False,
    }
    m.update(extra)
    return m


def test_run_lifecycle(store):
    assert store.get_run("r") is None
    store.start_run("r", args={"paths": ["/data"], "jobs": 4}, out_dir="/out")
    run = store.get_run("r")
    assert run["status"] == "running" and run["finished_at"] is None
    assert run["args"] == {"paths": ["/data"], "jobs": 4} and run["out_dir"] == "/out"
    assert run["started_at"].tzinfo is not None

    store.finish_run("r", status="interrupted", counts={"scanned": 3})
    run = store.get_run("r")
    assert run["status"] == "interrupted" and run["counts"] == {"scanned": 3}
    assert run["finished_at"] >= run["started_at"]

    store.start_run("r", args={"paths": ["/data"], "jobs": 8}, out_dir=None)  # resume
    resumed = store.get_run("r")
    assert resumed["status"] == "running" and resumed["finished_at"] is None
    assert resumed["started_at"] == run["started_at"]
    assert resumed["args"]["jobs"] == 8

    store.finish_run("r", status="finished", counts={"scanned": 5})
    assert store.get_run("r")["status"] == "finished"


def test_run_errors(store):
    with pytest.raises(ValueError, match="status"):
        store.finish_run("r", status="done", counts={})
    with pytest.raises(RunNotFound):
        store.finish_run("r", status="finished", counts={})
    with pytest.raises(RunNotFound):
        store.record_items("r", [_record("a")])
    with pytest.raises(ValueError):
        store.start_run("", args={}, out_dir=None)
    store.start_run("r", args={}, out_dir=None)
    for bad in (
        {"path": "/x"},
        {"key": "k"},
        _record("k", size="big"),
        _record("k", width=1.5),
        _record("k", error="oops"),
        _record("k", matches=[{"bank": "b"}]),
    ):
        with pytest.raises(ValueError):
            store.record_items("r", [_record("ok"), bad])
    # Validation happens before anything is written.
    assert store.finished_keys("r") == set()


def test_record_items_round_trip(store):
    store.start_run("r", args={}, out_dir=None)
    recs = [
        _record(
            "a",
            matches=[_match(), _match(bank="allow1", bank_kind="allow", suppressed=True)],
            extra={"nested": [1, 2, {"x": None}]},
            frames=3,
        ),
        _record(
            "b",
            error={"code": "decode_error", "message": "bad data"},
            md5=None,
            sha256=None,
            pdq=None,
            pdq_quality=None,
            provenance={"c2pa": {"generator": "x"}},
        ),
        {"key": "c", "path": "/data/c"},  # everything optional but key and path
    ]
    store.record_items("r", recs)
    assert store.finished_keys("r") == {"a", "b", "c"}
    assert list(store.run_items("r")) == recs
    assert store.finished_keys("other") == set()
    assert list(store.run_items("other")) == []

    from sqlalchemy import text

    with store.engine.connect() as conn:
        row = conn.execute(
            text("SELECT error_code, error_message, md5, pdq_quality FROM scan_items WHERE key = 'b'")
        ).one()
        assert tuple(row) == ("decode_error", "bad data", None, None)
        got = conn.execute(
            text(
                "SELECT m.bank, m.bank_kind, m.suppressed, m.distance, m.variant FROM item_matches m "
                "JOIN scan_items i ON i.id = m.item_id WHERE i.key = 'a' ORDER BY m.bank"
            )
        ).all()
        assert [tuple(r) for r in got] == [
            ("allow1", "allow", True, 4, "rot90"),
            ("b", "match", False, 4, "rot90"),
        ]


def test_record_items_is_idempotent_and_replaces_matches(store):
    store.start_run("r", args={}, out_dir=None)
    store.record_items("r", [_record("a", matches=[_match(), _match(entry_id=2)]), _record("b")])
    store.record_items("r", [_record("a", matches=[_match(entry_id=9)], size=99)])
    store.record_items("r", [_record("b")])  # identical re-record

    items = {r["key"]: r for r in store.run_items("r")}
    assert set(items) == {"a", "b"}
    assert items["a"]["size"] == 99 and [m["entry_id"] for m in items["a"]["matches"]] == [9]

    from sqlalchemy import text

    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM scan_items")).scalar() == 2
        assert conn.execute(text("SELECT entry_id FROM item_matches")).scalars().all() == [9]

    # A key repeated within one call: the last one wins.
    store.record_items("r", [_record("c", size=1), _record("c", size=2)])
    assert [r["size"] for r in store.run_items("r") if r["key"] == "c"] == [2]


def test_record_items_same_key_in_two_runs(store):
    store.start_run("r1", args={}, out_dir=None)
    store.start_run("r2", args={}, out_dir=None)
    store.record_items("r1", [_record("a", size=1)])
    store.record_items("r2", [_record("a", size=2)])
    assert [r["size"] for r in store.run_items("r1")] == [1]
    assert [r["size"] for r in store.run_items("r2")] == [2]


def test_record_items_hostile_strings(store):
    """Undecodable file names, NUL in archive member names, very long keys."""
    from tripline.store import clean_text

    store.start_run("r", args={}, out_dir=None)
    bad = "dir/caf\udce9\x00.jpg"
    long_key = "archive.zip!" + "/deep" * 2000
    store.record_items(
        "r",
        [
            _record(
                bad,
                path=bad,
                error={"code": "read_error", "message": "nul \x00 here"},
                provenance={"n\udcff": float("nan")},
            ),
            _record(long_key),
        ],
    )
    assert store.finished_keys("r") == {clean_text(bad), long_key}
    recs = {r["key"]: r for r in store.run_items("r")}
    rec = recs["dir/caf\\xe9\\x00.jpg"]
    assert rec["path"] == "dir/caf\\xe9\\x00.jpg"
    assert rec["provenance"] == {"n\\xff": None}
    assert rec["error"]["message"] == "nul \\x00 here"
    # Re-recording the same raw key still replaces rather than duplicates.
    store.record_items("r", [_record(bad, path=bad)])
    assert len(list(store.run_items("r"))) == 2


def test_record_items_many(store):
    store.start_run("r", args={}, out_dir=None)
    recs = [_record(f"k{i}", matches=[_match()] if i % 3 == 0 else []) for i in range(6_000)]
    store.record_items("r", recs)
    store.record_items("r", recs[:5_500])  # more than one IN chunk of re-recorded keys
    assert len(store.finished_keys("r")) == 6_000
    assert sum(1 for _ in store.run_items("r")) == 6_000


def test_timestamps_are_utc(store):
    b = store.create_bank("b")
    store.start_run("r", args={}, out_dir=None)
    for ts in (b.created_at, b.updated_at, store.get_run("r")["started_at"]):
        assert ts.tzinfo is UTC


def test_concurrent_writers(db_url):
    """Several writers at once (threads here, processes in production): no
    'database is locked' on SQLite, no lost rows on either backend."""
    import threading

    with Store(db_url) as setup:
        setup.create_bank("b")
        setup.start_run("r", args={}, out_dir=None)
    stores = [Store(db_url) for _ in range(2)]
    errors = []

    def work(n):
        s = stores[n % 2]
        try:
            for i in range(10):
                s.add_entries("b", [("md5", h(n * 1000 + i * 10 + j, 32), None) for j in range(10)])
                s.record_items("r", [_record(f"{n}-{i}", matches=[_match()])])
                s.exact_lookup("md5", [h(n * 1000, 32)], ["b"])
        except Exception as exc:  # noqa: BLE001 - collected for the assert
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert stores[0].count_entries("b") == {"md5": {"enabled": 600, "disabled": 0}}
        assert len(stores[1].finished_keys("r")) == 60
    finally:
        for s in stores:
            s.close()
