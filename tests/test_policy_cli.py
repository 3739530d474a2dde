"""`tripline policy check|explain` and `tripline check-prompt`, with golden
files pinning the explain output. Regenerate the golden files after an
intended change with TRIPLINE_UPDATE_GOLDEN=1."""

from __future__ import annotations

import json
import os

import pytest
import typer
from typer.testing import CliRunner

from test_policy_helpers import GOLDEN, PLACEHOLDER_POLICY
from tripline.cli import policy_cmd

UPDATE = os.environ.get("TRIPLINE_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def run():
    app = typer.Typer()
    policy_cmd.register(app)
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(app, [str(a) for a in args], input=input)

    return invoke


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; run with TRIPLINE_UPDATE_GOLDEN=1"
    assert text == path.read_text()


GOLDEN_CASES = [
    ("item_trusted_match", PLACEHOLDER_POLICY),
    ("item_prompt_pair", PLACEHOLDER_POLICY),
    ("item_nothing", PLACEHOLDER_POLICY),
    ("item_default_photo", None),
]


@pytest.mark.parametrize("item, policy", GOLDEN_CASES)
def test_explain_matches_golden(run, item, policy):
    args = ["policy", "explain", GOLDEN / f"{item}.json"] + (["--policy", policy] if policy else [])
    text = run(*args)
    assert text.exit_code == 0, text.output
    _golden(f"{item}.explain.txt", text.output)
    as_json = run(*args, "--json")
    assert as_json.exit_code == 0, as_json.output
    # Golden JSON without the policy path-independent hash churn: the hash is pinned too.
    _golden(f"{item}.explain.json", as_json.output)
    parsed = json.loads(as_json.output)
    assert parsed["decision"]["action"] in ("block", "review", "allow")


def test_explain_picks_a_key_from_results_jsonl(run):
    out = run("policy", "explain", GOLDEN / "results.jsonl", "--key", "gen/b.png", "--policy", PLACEHOLDER_POLICY)
    assert out.exit_code == 0
    assert out.output == (GOLDEN / "item_prompt_pair.explain.txt").read_text()
    missing = run("policy", "explain", GOLDEN / "results.jsonl", "--key", "nope")
    assert missing.exit_code == 2 and "no record with key 'nope'" in missing.output


def test_explain_reads_a_context_file(run, tmp_path):
    ctx = tmp_path / "ctx.json"
    ctx.write_text(json.dumps({"banks": {"own-bank": {"verified": True}}}))
    out = run("policy", "explain", GOLDEN / "item_default_photo.json", "--context", ctx, "--json")
    assert json.loads(out.output)["decision"]["action"] == "block"


def test_policy_check(run, tmp_path):
    ok = run("policy", "check", PLACEHOLDER_POLICY)
    assert ok.exit_code == 0 and ok.output.startswith("ok: placeholder 1 (sha256 ")
    summary = json.loads(run("policy", "check", PLACEHOLDER_POLICY, "--json").output)
    assert summary["lexicons"] == {"a": 2, "b": 2} and "trusted-close" in summary["rules"]
    bad = tmp_path / "bad.toml"
    bad.write_text(
        PLACEHOLDER_POLICY.read_text()
        .replace("distance <= 10", "distanse <= 10")
        .replace('file = "placeholder_b.txt"', 'terms = ["bravo"]')
    )
    out = run("policy", "check", bad)
    assert out.exit_code == 2
    assert "rule 'trusted-close': when: unknown field 'distanse' for signal match" in out.output


def test_check_prompt_exit_codes(run, tmp_path):
    pol = ["--policy", PLACEHOLDER_POLICY]
    assert run("check-prompt", "a lighthouse", *pol).exit_code == 0
    deny = run("check-prompt", "alpha bravo", *pol, "--json")
    assert deny.exit_code == 1
    assert json.loads(deny.output)["verdict"] == "deny"
    review = run("check-prompt", "alpha", *pol)
    assert review.exit_code == 3 and review.output.startswith("review  (single)")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a lighthouse\nalpha\n\n")
    many = run("check-prompt", "--file", prompts, *pol, "--json")
    assert many.exit_code == 3 and [json.loads(x)["verdict"] for x in many.output.splitlines()] == ["allow", "review"]
    assert run("check-prompt").exit_code == 2


def test_explain_checks_a_stored_decision_reproduces(run, tmp_path):
    from tripline.policy import decide, load_policy

    rec = json.loads((GOLDEN / "item_trusted_match.json").read_text())
    rec["decision"] = decide(load_policy(PLACEHOLDER_POLICY), rec).to_dict()
    item = tmp_path / "item.json"
    item.write_text(json.dumps(rec))
    same = run("policy", "explain", item, "--policy", PLACEHOLDER_POLICY)
    assert same.output.endswith("note: the stored decision is reproduced exactly\n")
    other = run("policy", "explain", item)  # the default policy decides differently
    assert "note: the stored decision differs: block P0 +report by policy placeholder 1" in other.output
    assert json.loads(run("policy", "explain", item, "--json").output)["stored_decision_reproduced"] is False
