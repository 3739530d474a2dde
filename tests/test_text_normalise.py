"""Normalisation: each evasion a keyword filter meets, and idempotence."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tripline.text import normalise, token_forms, tokens


def test_unicode_styles_fold_to_plain_letters():
    assert normalise("𝐀𝐥𝐩𝐡𝐚 ＢＲＡＶＯ ⓒⓗⓐⓡⓛⓘⓔ") == "alpha bravo charlie"


def test_accents_and_stacked_marks_are_stripped_from_latin_letters():
    assert normalise("álphá b\u0336r\u0337a\u0338v\u0301o") == "alpha bravo"


def test_confusables_in_mixed_script_tokens():
    # Cyrillic а and о inside Latin words
    assert normalise("\u0430lpha br\u0430v\u043e") == "alpha bravo"
    # Whole-token look-alikes ("сосо" written in Cyrillic) become Latin.
    assert normalise("\u0441\u043e\u0441\u043e") == "coco"


def test_ordinary_non_latin_text_is_left_alone():
    assert normalise("привет мир") == "привет мир"
    assert normalise("नमस्ते दुनिया") == "नमस्ते दुनिया"


def test_leetspeak_between_letters():
    assert normalise("4lph4 br4v0 ch@rl!e") == "4lph4 brav0 charlie"
    assert "alpha" in token_forms("4lph4") and "bravo" in token_forms("br4v0")
    assert normalise("t3st") == "test"


def test_counts_and_sizes_keep_their_digits():
    assert normalise("1girl, 512x512, v2") == "1girl 512x512 v2"


def test_token_forms_cover_edge_digits_and_plurals():
    assert "alpha" in token_forms("4lpha")  # leading leet
    assert "girl" in token_forms("1girl")  # count prefix
    assert "bravo" in token_forms("bravos")


def test_separators_between_letters():
    for spelled in ("a.l.p.h.a", "a-l-p-h-a", "a l p h a", "a_l_p_h_a", "a*l*p*h*a", "a · l · p · h · a"):
        assert normalise(spelled) == "alpha", spelled
    assert normalise("a\u200bl\u200dp\u00adh\u2060a") == "alpha"  # invisible characters
    assert normalise("4 l p h 4") == "4lph4"


def test_emoji():
    assert normalise("alpha ✨🌅 bravo") == "alpha bravo"
    assert normalise("🇦🇱🇵🇭🇦") == "alpha"  # regional-indicator letters
    assert normalise("🅰🅻🅿🅷🅰") == "alpha"
    assert normalise("👧 🔞") == "girl nsfw"  # emoji that carry a word
    assert normalise("alpha👍🏽bravo") == "alpha bravo"  # skin-tone modifier


def test_prompt_weight_syntax():
    assert normalise("(alpha:1.2), [bravo], ((charlie)), {{delta}}, (echo:0.8)") == "alpha bravo charlie delta echo"
    assert normalise("alpha <lora:bravo_v2:0.8> <lyco:charlie:1>") == "alpha bravo v2 charlie"
    assert normalise("[alpha:bravo:0.5]") == "alpha bravo"
    assert normalise(r"\(alpha\)") == "alpha"


def test_camel_case_hashtags():
    assert normalise("AlphaBravo", split_camel=True) == "alpha bravo"
    assert normalise("AlphaBravo") == "alphabravo"


def test_tokens_is_normalise_split():
    text = "Alpha, (bravo:1.1) a.b.c"
    assert tokens(text) == normalise(text).split(" ")


_FRAGMENTS = st.sampled_from(
    [
        "alpha",
        "BRAVO",
        "4lph4",
        "a.l.p.h.a",
        "\u0430lpha",
        "𝐛𝐫𝐚𝐯𝐨",
        "(word:1.2)",
        "[w]",
        "<lora:x_y:0.5>",
        "👧",
        "🔞",
        "🇦🇧",
        "\u200b",
        "\u0301",
        "1girl",
        "512x512",
        "@",
        "$",
        "!",
        "k!d",
        "é",
        "ß",
        "ﬁ",
        " ",
        ",",
        ".",
        "-",
        "_",
        ":",
        "0",
        "1",
        "3",
        "x",
        "y",
        "z",
        "AlphaBravo",
        "ǅ",
        "ᾈ",
        "İ",
        "ﬀ",
        "\u0345",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=25).map("".join))
def test_normalise_is_idempotent_on_evasion_fragments(text):
    once = normalise(text)
    assert normalise(once) == once


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_normalise_is_idempotent_on_any_text(text):
    once = normalise(text)
    assert normalise(once) == once
    assert normalise(text, split_camel=True) == normalise(normalise(text, split_camel=True))
