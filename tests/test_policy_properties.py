"""Property tests: a decision depends on what the signals are, never on the
order they arrive in, and evaluating twice gives the same answer."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_policy_helpers import PLACEHOLDER_POLICY, provenance
from tripline.policy import decide, default_policy, load_policy
from tripline.policy.explain import explain_text

_matches = st.lists(
    st.fixed_dictionaries(
        {
            "bank": st.sampled_from(["bank-a", "bank-b", "bank-z", "own"]),
            "bank_kind": st.sampled_from(["match", "allow"]),
            "signal_type": st.sampled_from(["pdq", "md5", "sha256"]),
            "entry_id": st.integers(1, 5),
            "value": st.just("ab" * 32),
            "distance": st.integers(0, 40),
            "variant": st.sampled_from(["original", "rotate90", "flipx"]),
            "suppressed": st.booleans(),
        }
    ),
    max_size=5,
)
_evidence = st.lists(
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(["generator_metadata", "c2pa", "watermark"]),
            "strength": st.sampled_from(["verified", "declared", "likely"]),
            "detail": st.sampled_from(["x", "y"]),
        }
    ),
    max_size=3,
)
_models = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["m1", "bad_lora"]),
            "hash": st.sampled_from(["0123456789abcdef", "ffff0000", None]),
            "kind": st.sampled_from(["checkpoint", "lora"]),
            "weight": st.sampled_from([None, 0.5]),
        }
    ),
    max_size=3,
)
_watermarks = st.lists(
    st.fixed_dictionaries(
        {
            "scheme": st.just("sdxl"),
            "payload": st.just("b3ec"),
            "bits_matched": st.integers(20, 48),
            "bits_total": st.just(48),
            "confidence": st.just("likely"),
        }
    ),
    max_size=2,
)
_words = st.sampled_from(["alpha", "bravo", "alpha one", "kid", "nsfw", "kite", "word", "(alpha:1.2)", "b.r.a.v.o"])
_text = st.lists(_words, max_size=8).map(", ".join)
_links = st.lists(
    st.fixed_dictionaries(
        {
            "url": st.sampled_from(["https://a.example/1", "https://b.example/2"]),
            "host": st.sampled_from(["a.example", "b.example"]),
            "category": st.sampled_from(["file_locker", "social", ""]),
            "list_matches": st.lists(
                st.fixed_dictionaries(
                    {"list": st.sampled_from(["l1", "l2"]), "kind": st.sampled_from(["block", "watch"])}
                ),
                max_size=2,
            ),
        }
    ),
    max_size=3,
)


@st.composite
def items(draw):
    evidence = draw(_evidence)
    rank = {"verified": 3, "declared": 2, "likely": 1}
    synthetic = max((e["strength"] for e in evidence), key=rank.get, default="none")
    prov = provenance(
        synthetic,
        prompt=draw(_text) or None,
        negative_prompt=draw(_text) or None,
        models=draw(_models),
        evidence=evidence,
        watermarks=draw(_watermarks),
    )
    rec = {"key": "k", "matches": draw(_matches), "provenance": prov, "media_type": "image/png"}
    ctx = {
        "caption": draw(_text),
        "hashtags": draw(st.lists(_words, max_size=4)),
        "links": draw(_links),
        "banks": {"bank-b": {"verified": draw(st.booleans())}},
    }
    return rec, ctx


def _shuffled(rec, ctx, rnd):
    rec, ctx = copy.deepcopy(rec), copy.deepcopy(ctx)
    for seq in (
        rec["matches"],
        rec["provenance"]["evidence"],
        rec["provenance"]["models"],
        rec["provenance"]["watermarks"],
        ctx["links"],
    ):
        rnd.shuffle(seq)
    for link in ctx["links"]:
        rnd.shuffle(link["list_matches"])
    return rec, ctx


@pytest.fixture(scope="module", params=["placeholder", "default"])
def policy(request):
    return load_policy(PLACEHOLDER_POLICY) if request.param == "placeholder" else default_policy()


@settings(max_examples=150, deadline=None)
@given(item=items(), rnd=st.randoms(use_true_random=False))
def test_decision_is_independent_of_signal_order(policy, item, rnd):
    rec, ctx = item
    first = decide(policy, rec, ctx)
    again = decide(policy, *_shuffled(rec, ctx, rnd))
    assert again.to_dict() == first.to_dict()
    assert explain_text(again, "k") == explain_text(first, "k")


@settings(max_examples=100, deadline=None)
@given(item=items())
def test_evaluation_is_deterministic_and_does_not_touch_its_input(policy, item):
    rec, ctx = item
    before = copy.deepcopy((rec, ctx))
    assert decide(policy, rec, ctx).to_dict() == decide(policy, rec, ctx).to_dict()
    assert (rec, ctx) == before
