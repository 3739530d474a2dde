"""Lexicons (hotline keyword-list format) and co-occurrence rules, with
neutral placeholder terms."""

from __future__ import annotations

import pytest

from tripline.text import Lexicon, LexiconError, TextRule, TextRules, parse_terms


def _rules(within=3):
    lex = {
        "a": Lexicon("a", ("alpha", "alpha one", "quebec*")),
        "b": Lexicon("b", ("bravo",)),
        "c": Lexicon("c", ("charlie",)),
    }
    return TextRules(
        lex,
        [
            TextRule("a_near_b", "near", ("a", "b"), within),
            TextRule("a_and_b", "all", ("a", "b")),
            TextRule("any_c", "any", ("c",)),
            TextRule("a_near_b_c", "near", ("a", "b", "c"), within),
        ],
    )


def _fired(text, source="prompt", **kw):
    return {h.rule: h.terms for h in _rules(**kw).scan(text, source)}


def test_keyword_list_format(tmp_path):
    path = tmp_path / "hotline.txt"
    path.write_bytes("\ufeff# keyword list v3\r\nalpha\r\n\r\n  bravo two  \r\n# comment\r\nquebec*\r\n".encode())
    lex = Lexicon.from_file(path)
    assert lex.name == "hotline"
    assert lex.terms == ("alpha", "bravo two", "quebec*")
    hits = lex.find(["x", "alpha", "y", "bravo", "two", "quebecs"])
    assert [(h.start, h.term) for h in hits] == [(1, "alpha"), (3, "bravo two"), (5, "quebec*")]


def test_keyword_list_rejects_terms_without_letters(tmp_path):
    with pytest.raises(LexiconError, match=r"list.txt:2"):
        parse_terms("alpha\n---\n", source="list.txt")
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(LexiconError, match="not UTF-8"):
        Lexicon.from_file(path)


def test_co_occurrence_within_window():
    assert "a_near_b" in _fired("alpha word word bravo")  # distance 3
    assert "a_near_b" not in _fired("alpha word word word bravo")  # distance 4
    assert "a_and_b" in _fired("alpha word word word bravo")  # anywhere in the text
    assert "a_near_b" in _fired("bravo word alpha")  # either order


def test_neither_term_alone():
    assert _fired("alpha alpha") == {}
    assert _fired("bravo") == {}


def test_three_way_co_occurrence_shares_one_anchor():
    assert "a_near_b_c" in _fired("charlie alpha bravo")
    # bravo and charlie each near *a different* alpha: not one co-occurrence
    assert "a_near_b_c" not in _fired("bravo alpha word word word word word alpha charlie", within=2)


def test_phrases_prefixes_and_reported_terms():
    fired = _fired("alpha one and bravo, quebecs")
    assert fired["a_near_b"] == ("alpha one", "bravo", "quebec*")
    assert "quebec*" in fired["a_and_b"]


def test_evasions_still_match_placeholder_terms():
    for text in (
        "4lph4 bravo",
        "a.l.p.h.a b-r-a-v-o",
        "\u0430lpha br\u0430vo",
        "(alpha:1.3) [bravo]",
        "𝐚𝐥𝐩𝐡𝐚 ＢＲＡＶＯ",
        "al\u200bpha bra\u200dvo",
        "ALPHAS bravos",
    ):
        assert "a_near_b" in _fired(text), text


def test_hits_carry_their_source_and_camel_case_hashtags():
    hits = _rules().scan("AlphaBravo", "hashtags", split_camel=True)
    assert {(h.rule, h.source) for h in hits} >= {("a_near_b", "hashtags")}
    assert _rules().scan("AlphaBravo", "hashtags") == []


def test_empty_and_unknown():
    with pytest.raises(LexiconError):
        Lexicon("empty", ())
    with pytest.raises(LexiconError, match="prefix"):
        Lexicon("p", ("two words*",))
    with pytest.raises(KeyError):
        TextRules({}, [TextRule("x", "any", ("missing",))])
    assert _rules().scan("", "prompt") == []
