"""Decisions: the rule language on a placeholder policy, and the defaults."""

from __future__ import annotations

import pytest

from test_policy_helpers import PLACEHOLDER_POLICY, match, provenance, record
from tripline.policy import (
    check_prompt,
    decide,
    decision_label,
    decision_sort_key,
    default_policy,
    load_policy,
)


@pytest.fixture(scope="module")
def pol():
    return load_policy(PLACEHOLDER_POLICY)


@pytest.fixture(scope="module")
def default():
    return default_policy()


def _fired(decision):
    return [f.rule for f in decision.fired]


# -- the contract ------------------------------------------------------------
def test_decision_dict_has_exactly_the_contract_keys(pol):
    d = decide(pol, record(matches=[match("bank-a", distance=3)])).to_dict()
    assert set(d) == {"action", "report_queue", "priority", "fired", "policy"}
    assert d["action"] == "block" and d["report_queue"] is True and d["priority"] == "P0"
    assert set(d["fired"][0]) == {"rule", "action", "priority", "reason", "because"}
    assert d["policy"]["name"] == "placeholder" and len(d["policy"]["sha256"]) == 64


def test_nothing_fired_is_allow_without_priority(pol):
    d = decide(pol, record()).to_dict()
    assert (d["action"], d["report_queue"], d["priority"], d["fired"]) == ("allow", False, None, [])


# -- the language ---------------------------------------------------------------
def test_numeric_comparisons_and_set_membership(pol):
    assert _fired(decide(pol, record(matches=[match("bank-a", distance=10)]))) == ["trusted-close"]
    assert _fired(decide(pol, record(matches=[match("bank-a", distance=11)]))) == ["any-far"]
    assert _fired(decide(pol, record(matches=[match("bank-z", distance=0)]))) == ["any-far"]


def test_not_and_suppressed(pol):
    assert _fired(decide(pol, record(matches=[match("bank-a", distance=1, suppressed=True)]))) == []
    wm = [{"scheme": "x", "payload": "y", "bits_matched": 44, "bits_total": 48, "confidence": "likely"}]
    assert _fired(decide(pol, record(prov=provenance("likely", watermarks=wm)))) == ["watermark-strong"]
    verified = provenance("verified", watermarks=wm)
    assert _fired(decide(pol, record(prov=verified))) == []
    wm[0]["bits_matched"] = 39
    assert _fired(decide(pol, record(prov=provenance("likely", watermarks=wm)))) == []


def test_text_rule_hits_only_in_the_named_source(pol):
    hit = record(prov=provenance("declared", prompt="alpha and bravo"))
    assert _fired(decide(pol, hit)) == ["prompt-pair"]
    neg = record(prov=provenance("declared", prompt="alpha", negative_prompt="bravo, alpha bravo"))
    assert _fired(decide(pol, neg)) == []
    far = record(prov=provenance("declared", prompt="alpha word word word bravo"))
    assert _fired(decide(pol, far)) == []


def test_lexicon_file_terms_and_phrases(pol):
    d = decide(pol, record(prov=provenance("declared", prompt="alpha one, bravo two")))
    assert d.fired[0].because[-1].startswith("text(rule='ab', source='prompt', terms=['alpha one', 'bravo two'])")


def test_escalate_raises_but_never_creates_a_priority(pol):
    model = {"name": "m", "hash": "0123456789ABCDEF0011", "kind": "lora", "weight": 0.7}
    base = record(matches=[match("bank-z", distance=0)], prov=provenance("declared", models=[model]))
    d = decide(pol, base)
    assert (d.action, d.priority) == ("review", "P1")  # P2 raised by one
    assert d.fired[-1].because[-1] == "priority raised by 1: P2 -> P1"
    alone = decide(pol, record(prov=provenance("declared", models=[model])))
    assert (alone.action, alone.priority) == ("allow", None)
    assert alone.fired[0].because[-1] == "no effect: no block or review rule fired"


def test_allow_rules_fire_without_changing_the_action(pol):
    d = decide(pol, record(error={"code": "decode_error", "message": "x"}))
    assert (d.action, d.priority, _fired(d)) == ("allow", None, ["quiet"])


def test_labels_and_sort_order():
    block = {"action": "block", "priority": "P0", "report_queue": True}
    review1 = {"action": "review", "priority": "P1", "report_queue": False}
    allow = {"action": "allow", "priority": None, "report_queue": False}
    assert decision_label(block) == "block P0 +report" and decision_label(allow) == "allow"
    assert sorted([allow, review1, block], key=decision_sort_key) == [block, review1, allow]


# -- the default policy -------------------------------------------------------------
def test_default_verified_bank_blocks_and_queues_p0(default):
    ctx = {"banks": {"hotline": {"verified": True}}}
    for synthetic in ("none", "declared"):
        d = decide(default, record(matches=[match("hotline", distance=5)], prov=provenance(synthetic)), ctx)
        assert (d.action, d.report_queue, d.priority) == ("block", True, "P0")
        assert _fired(d) == ["verified-bank-match"]


def test_default_unverified_match_is_high_priority_review_photographs_first(default):
    photo = decide(default, record(matches=[match("own", distance=5)], prov=provenance("none")))
    synth = decide(default, record(matches=[match("own", distance=5)], prov=provenance("declared")))
    unknown = decide(default, record(matches=[match("own", distance=5)]))  # provenance not read
    assert (photo.action, photo.priority, photo.report_queue) == ("review", "P0", False)
    assert (synth.action, synth.priority) == ("review", "P1")
    assert unknown.priority == "P0"
    assert decision_sort_key(photo.to_dict()) < decision_sort_key(synth.to_dict())


def test_default_ignores_suppressed_and_allow_bank_matches(default):
    d = decide(default, record(matches=[match("own", suppressed=True), match("memes", kind="allow")]))
    assert d.action == "allow"


def test_default_prompt_co_occurrence_on_synthetic_is_review_p1(default):
    d = decide(default, record(prov=provenance("declared", prompt="photo of a kid, nsfw")))
    assert (d.action, d.priority, _fired(d)) == ("review", "P1", ["prompt-minor-sexual"])
    neg = decide(default, record(prov=provenance("declared", prompt="portrait", negative_prompt="kid, nsfw")))
    assert neg.action == "allow"


def test_default_watchlisted_model_raises_priority(default):
    import dataclasses

    pol = dataclasses.replace(default)
    from importlib import resources

    from tripline.policy import load_policy_bytes

    text = resources.files("tripline.policy").joinpath("default_policy.toml").read_text()
    text = text.replace("watchlist_model_hashes = []", 'watchlist_model_hashes = ["ab12cd34ef' + "0" * 54 + '"]')
    pol = load_policy_bytes(text.encode())
    model = {"name": "x", "hash": "AB12CD34EF", "kind": "checkpoint", "weight": None}  # AutoV2 prefix
    alone = decide(pol, record(prov=provenance("declared", models=[model])))
    assert (alone.action, alone.priority) == ("review", "P1")  # P2 raised to P1
    both = decide(pol, record(prov=provenance("declared", prompt="kid, nsfw", models=[model])))
    assert both.priority == "P0"
    assert check_prompt("a lighthouse", policy=pol, models=[model]).verdict == "deny"


def test_default_post_text_photographs_outrank_synthetic(default):
    ctx = {"caption": "my kid", "hashtags": ["#NSFW", "#Beach"]}
    photo = decide(default, record(prov=provenance("none")), ctx)
    synth = decide(default, record(prov=provenance("declared")), ctx)
    assert (photo.priority, synth.priority) == ("P1", "P2")
    assert decide(default, record(prov=provenance("none")), {"hashtags": ["KidNsfw"]}).priority == "P1"
    assert decide(default, record(prov=provenance("none")), {"caption": "my kid at the beach"}).action == "allow"


def test_default_link_signals(default):
    ctx = {
        "links": [
            {
                "url": "https://x.example/a",
                "canonical": "https://x.example/a",
                "host": "x.example",
                "category": "file_locker",
                "list_matches": [{"list": "ops-list", "kind": "block"}],
            }
        ]
    }
    d = decide(default, record(), ctx)
    assert (d.action, d.priority, _fired(d)) == ("review", "P2", ["link-list-match"])


def test_default_pack_flags_the_co_occurrence_of_ordinary_words_not_either_alone():
    # The one check on real (ordinary) vocabulary the issue asks for.
    assert check_prompt("a kid flying a kite").verdict == "allow"
    assert check_prompt("nsfw").verdict == "allow"
    result = check_prompt("a kid, nsfw")
    assert result.verdict == "deny"
    assert [f.rule for f in result.fired] == ["gate-minor-sexual-near"]


def test_grouping_for_summaries(pol):
    from tripline.policy import decision_counts, group_by_decision

    recs = [
        record("a"),
        record("b", matches=[match("bank-a", distance=1)]),
        record("c", matches=[match("bank-z")]),
        record("d"),
    ]
    for r in recs:
        r["decision"] = decide(pol, r).to_dict()
    assert [(label, [r["key"] for r in rs]) for label, rs in group_by_decision(recs)] == [
        ("block P0 +report", ["b"]),
        ("review P2", ["c"]),
        ("allow", ["a", "d"]),
    ]
    counts = decision_counts(recs)
    assert counts["by_decision"] == {"block P0 +report": 1, "review P2": 1, "allow": 2}
    assert counts["report_queue"] == 1 and counts["by_rule"] == {"any-far": 1, "trusted-close": 1}
