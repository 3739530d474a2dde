"""Policy files are validated at load time, with errors that say where."""

from __future__ import annotations

import pytest

from test_policy_helpers import PLACEHOLDER_POLICY
from tripline.policy import PolicyError, default_policy, load_policy, load_policy_bytes

HEAD = (
    '[policy]\nname = "t"\nversion = "1"\n[sets]\nbanks = ["a"]\n[lexicons.a]\nterms = ["alpha"]\n'
    '[lexicons.b]\nterms = ["bravo"]\n[text_rules.ab]\nnear = ["a", "b"]\nwithin = 2\n'
)


def _rule(when="match(distance <= 3)", **extra):
    body = {"name": '"r"', "when": f"'{when}'", "action": '"review"', "priority": '"P1"', "reason": '"why"'}
    body.update({k: v for k, v in extra.items()})
    lines = [f"{k} = {v}" for k, v in body.items() if v is not None]
    return HEAD + "[[rule]]\n" + "\n".join(lines) + "\n"


def _error(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        load_policy_bytes(text.encode(), source="p.toml")
    return info.value


def test_default_and_placeholder_policies_load():
    d = default_policy()
    assert d.name == "tripline-default" and len(d.sha256) == 64
    assert [r.name for r in d.rules][:3] == ["verified-bank-match", "bank-match-photographic", "bank-match-synthetic"]
    assert load_policy(PLACEHOLDER_POLICY).rules


@pytest.mark.parametrize(
    "when, message",
    [
        ("matchx(distance <= 3)", "unknown signal 'matchx'"),
        ("match(distanc <= 3)", "unknown field 'distanc' for signal match"),
        ("match(bank <= 3)", "<= needs a number field; match.bank is str"),
        ('match(distance == "3")', "match.distance is int; '3' is not a number"),
        ("match(distance <= 1.5)", "is not an integer"),
        ('provenance(synthetic == "maybe")', "provenance.synthetic is never 'maybe'"),
        ('text(rule == "nope")', "text.rule is never 'nope'; known values: ab"),
        ("match(bank in nowhere)", "unknown set 'nowhere'"),
        ("match(bank)", "match.bank is str, not bool"),
        ("match(suppressed", "expected ')'"),
        ("match and", "expected a signal name"),
        ('match(bank = "a")', "unexpected character '='"),
    ],
)
def test_bad_conditions_fail_at_load_with_location(when, message):
    err = _error(_rule(when))
    assert message in str(err)
    assert (err.file, err.rule, err.field) == ("p.toml", "r", "when")
    assert str(err).startswith("p.toml: rule 'r': when: ")


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"action": '"delete"'}, "unknown action 'delete'"),
        ({"priority": None}, "review needs priority"),
        ({"priority": '"P7"'}, "review needs priority = one of P0, P1, P2, P3, got 'P7'"),
        ({"action": '"allow"'}, "allow rules take no priority"),
        ({"action": '"escalate"', "priority": None, "by": "9"}, "by must be between 1 and 3"),
        ({"action": '"allow"', "priority": None, "report": "true"}, "only block and review rules can queue a report"),
        ({"reason": None}, "reason is required"),
        ({"colour": '"red"'}, "unknown key(s) 'colour'"),
        ({"report": '"yes"'}, "must be bool"),
    ],
)
def test_bad_rule_fields(extra, message):
    assert message in str(_error(_rule(**extra)))


def test_structural_errors():
    assert "not valid TOML" in str(_error("[policy\n"))
    assert "unknown key(s) 'rules'" in str(_error(HEAD + "[[rules]]\nname='x'\n"))
    assert "[policy] section is required" in str(_error("[sets]\n"))
    dup = _rule() + '[[rule]]\nname = "r"\nwhen = "match"\naction = "allow"\nreason = "x"\n'
    assert "duplicate rule name" in str(_error(dup))
    assert "unknown lexicon(s) 'c'" in str(_error(HEAD + '[text_rules.x]\nnear = ["a", "c"]\nwithin = 1\n'))
    assert "near needs within" in str(_error(HEAD + '[text_rules.x]\nnear = ["a", "b"]\n'))
    assert "give exactly one of terms" in str(_error(HEAD + "[lexicons.c]\n"))
    gate = HEAD + '[[gate]]\nname = "g"\nwhen = "match"\nverdict = "deny"\nreason = "x"\n'
    assert "not available to prompt-gate rules" in str(_error(gate))
    bad_verdict = HEAD + '[[gate]]\nname = "g"\nwhen = "text"\nverdict = "block"\nreason = "x"\n'
    assert "unknown verdict 'block'" in str(_error(bad_verdict))


def test_lexicon_files_are_relative_to_the_policy_and_hashed(tmp_path):
    policy = tmp_path / "p.toml"
    policy.write_text(HEAD.replace('[lexicons.b]\nterms = ["bravo"]', '[lexicons.b]\nfile = "b.txt"'))
    (tmp_path / "b.txt").write_text("bravo\n")
    first = load_policy(policy).sha256
    (tmp_path / "b.txt").write_text("bravo\ncharlie\n")
    assert load_policy(policy).sha256 != first
    (tmp_path / "b.txt").unlink()
    err = pytest.raises(PolicyError, load_policy, policy).value
    assert "cannot read lexicon file" in str(err) and err.field == "lexicons.b"
    assert "cannot read" in str(pytest.raises(PolicyError, load_policy, tmp_path / "missing.toml").value)
