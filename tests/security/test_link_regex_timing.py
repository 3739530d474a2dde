"""15.8: link extraction is linear on adversarial text and capped in length."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tripline.links.extract import MAX_TEXT_CHARS, extract

FAMILIES = {
    "letter-spaced run with a dot": lambda n: "a " * (n // 4) + ". " + "a " * (n // 4),
    "letter-spaced run": lambda n: "a " * (n // 2),
    "dot words": lambda n: "a dot " * (n // 6),
    "dotted labels": lambda n: "a." * (n // 2),
    "spaced dots": lambda n: "a . " * (n // 4),
    "hyphens": lambda n: "a-" * (n // 2),
    "brackets": lambda n: "[ . ] " * (n // 6),
    "slashes": lambda n: ".com slash " * (n // 11),
}


def _best(text: str, runs: int = 3) -> float:
    best = 1e9
    for _ in range(runs):
        t0 = time.perf_counter()
        extract(text)
        best = min(best, time.perf_counter() - t0)
    return best


@pytest.mark.parametrize("family", FAMILIES)
def test_adversarial_text_is_linear(family):
    make = FAMILIES[family]
    small, big = _best(make(8 * 1024)), _best(make(32 * 1024))
    # Quadratic growth would be 16x for 4x the text; allow noise on a busy machine.
    assert big < 1.0, f"{family}: {big:.2f} s for 32 KB"
    assert big < 8 * small + 0.05, f"{family}: 8 KB {small:.3f} s, 32 KB {big:.3f} s"


def test_text_beyond_the_cap_is_not_scanned():
    t0 = time.perf_counter()
    links = extract("a " * MAX_TEXT_CHARS + " https://example.org/x")
    assert time.perf_counter() - t0 < 1.0
    assert links == []


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.sampled_from(["a", " ", ".", "dot", "[", "]", "-", "/", "slash", "com", ":", "h", "xx"]),
        min_size=1,
        max_size=40,
    ),
    st.integers(min_value=50, max_value=400),
)
def test_random_repetitions_stay_fast(parts, times):
    text = "".join(parts) * times
    t0 = time.perf_counter()
    extract(text[: 16 * 1024])
    assert time.perf_counter() - t0 < 1.0
