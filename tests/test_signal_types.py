"""Conformance: every registered signal type, built-in or from a plug-in,
must pass these (round-trip, validation, self-match, index = brute force)."""

from __future__ import annotations

import random

import pytest

from tripline import signals
from tripline.banks.formats import ParseReport, parse, validate_signal
from tripline.signals import BruteForceIndex

TYPES = signals.all_types()


def test_the_built_in_types_are_registered():
    assert {"pdq", "md5", "sha256", "vpdq"} <= set(signals.names())
    assert signals.entry_type_names()[:3] == ("pdq", "md5", "sha256")
    assert signals.exact_type_names() == ("md5", "sha256")


@pytest.mark.parametrize("t", TYPES, ids=lambda t: t.name)
def test_round_trip(t):
    rng = random.Random(t.name)
    for _ in range(20):
        v = t.validate(t.example(rng))
        assert t.validate(v) == v
        assert t.validate(f"  {v.upper() if t.hex_digits else v}\n") == v


@pytest.mark.parametrize("t", TYPES, ids=lambda t: t.name)
def test_validation_rejects_bad_values_with_a_reason(t):
    assert t.invalid_examples, "a type must list values it rejects"
    for bad in t.invalid_examples:
        with pytest.raises(ValueError, match=t.name):
            t.validate(bad)
    with pytest.raises(ValueError):
        t.validate(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("t", TYPES, ids=lambda t: t.name)
def test_self_match(t, tmp_path):
    rng = random.Random(1)
    values = [t.validate(t.example(rng)) for _ in range(10)]
    idx = t.index_factory(tmp_path)
    idx.add(enumerate(values))
    for i, v in enumerate(values):
        assert t.distance(v, v) == 0
        assert (i, 0) in idx.query(v, 0)


@pytest.mark.parametrize("t", TYPES, ids=lambda t: t.name)
def test_index_agrees_with_brute_force(t, tmp_path):
    rng = random.Random(2)
    base = [t.validate(t.example(rng)) for _ in range(60)]
    near = t.near or (lambda v, _r, _d: v)
    # Some entries close to others, so thresholds above 0 find something.
    values = base + [t.validate(near(v, rng, t.default_threshold)) for v in base[:20]]
    idx, ref = t.index_factory(tmp_path), BruteForceIndex(t.distance)
    idx.add(enumerate(values))
    ref.add(enumerate(values))
    thresholds = sorted({0, t.default_threshold})
    for q in values[:30] + [t.validate(t.example(rng)) for _ in range(10)]:
        for th in thresholds:
            assert idx.query(q, th) == ref.query(q, th), (q, th)


@pytest.mark.parametrize("t", TYPES, ids=lambda t: t.name)
def test_names_and_parameters_are_consistent(t):
    assert signals.get(t.name) is t
    for alias in t.aliases:
        assert signals.resolve(alias.upper()) is t
    assert t.content_types
    for p in t.params:
        assert p.check(p.default) == p.default
        with pytest.raises(ValueError):
            p.check(p.high + 1)


def test_unknown_type_is_a_clear_error():
    with pytest.raises(signals.UnknownSignalType, match="supported: pdq, md5, sha256, vpdq"):
        signals.get("phash")
    with pytest.raises(ValueError, match="unknown signal type 'vpdq'"):
        validate_signal("vpdq", "[]")  # vPDQ is banked through its own tables


def test_pdq_bank_parameters_are_the_store_defaults():
    import inspect

    from tripline.store.store import Store

    sig = inspect.signature(Store.create_bank)
    for p in signals.PDQ.params:
        assert sig.parameters[p.name].default == p.default


def test_bank_import_reads_the_registry():
    r = ParseReport()
    rows = list(parse(["hash_pdq " + "A" * 64, "video_md5 " + "b" * 32, "video_vpdq []"], "tx", r))
    assert rows == [("pdq", "a" * 64, None), ("md5", "b" * 32, None)]
    assert r.unsupported == {"video_vpdq": 1}
