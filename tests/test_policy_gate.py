"""The prompt gate and the helper that banks a generator's own outputs."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from test_policy_helpers import PLACEHOLDER_POLICY
from tripline.policy import check_prompt, load_policy
from tripline.policy.gate import prompt_models
from tripline.policy.generated import bank_outputs, output_entries


@pytest.fixture(scope="module")
def pol():
    return load_policy(PLACEHOLDER_POLICY)


def test_verdicts_and_fired_rules(pol):
    assert check_prompt("a lighthouse at dusk", policy=pol).verdict == "allow"
    single = check_prompt("alpha at dusk", policy=pol)
    assert (single.verdict, [f.rule for f in single.fired]) == ("review", ["single"])
    pair = check_prompt("(4lph4:1.3), [b.r.a.v.o]", policy=pol)
    assert (pair.verdict, [f.rule for f in pair.fired]) == ("deny", ["pair"])
    assert pair.to_dict()["fired"][0]["because"] == [
        "text(rule='ab', source='prompt', terms=['alpha', 'bravo']) satisfies source == \"prompt\" and rule == \"ab\""
    ]


def test_negative_prompt_never_pairs_with_the_prompt(pol):
    assert check_prompt("alpha", "bravo", policy=pol).verdict == "review"
    assert check_prompt("a lighthouse", "alpha bravo", policy=pol).verdict == "allow"


def test_lora_tags_and_supplied_models_feed_the_watchlist(pol):
    assert prompt_models("x <lora:Bad_LoRA:0.7> <lyco:other> <embedding:neg>") == [
        {"name": "bad_lora", "hash": None, "kind": "lora", "weight": 0.7},
        {"name": "other", "hash": None, "kind": "lora", "weight": None},
        {"name": "neg", "hash": None, "kind": "embedding", "weight": None},
    ]
    assert check_prompt("a lighthouse <lora:bad_lora:0.7>", policy=pol).verdict == "deny"
    models = [{"name": "base", "hash": "0123456789ABCDEF" + "0" * 48, "kind": "checkpoint"}]
    assert check_prompt("a lighthouse", policy=pol, models=models).verdict == "deny"


def _png(colour) -> bytes:
    buf = io.BytesIO()
    im = Image.new("RGB", (128, 128), colour)
    for x in range(0, 128, 16):
        im.paste((x * 2, 255 - x, x), (x, 0, x + 8, 128))
    im.save(buf, "PNG")
    return buf.getvalue()


def test_output_entries_and_bank_outputs():
    entries = output_entries(_png((10, 20, 30)), note="gen-1")
    assert [t for t, _, _ in entries] == ["md5", "sha256", "pdq"]
    assert all(note == "gen-1" for _, _, note in entries)

    class FakeBanks:
        def add(self, name, entries):
            self.got = (name, list(entries))
            return len(self.got[1])

    banks = FakeBanks()
    assert bank_outputs(banks, "our-outputs", [_png((1, 2, 3)), _png((200, 100, 50))]) == 6
    assert banks.got[0] == "our-outputs"
