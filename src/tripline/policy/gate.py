"""The prompt gate: should an image-generation service run this prompt?

``check_prompt`` evaluates the policy's ``[[gate]]`` rules over the text
rule hits in the prompt (and negative prompt) and the LoRA / embedding tags
it names. Everything is compiled when the policy loads, so the per-prompt
path is: normalise, look tokens up, evaluate closures (well under 1 ms; see
bench/prompt_gate_bench.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from tripline.policy.evaluate import Fired
from tripline.policy.loader import Policy, default_policy
from tripline.policy.signals import Signals, canonical

_TAG = re.compile(
    r"<\s*(lora|lyco|lycoris|hypernet|hypernetwork|embedding|ti)\s*:\s*([^:>]+)(?::\s*([-+]?\d*\.?\d+))?[^>]*>",
    re.IGNORECASE,
)
_RANK = {"allow": 0, "review": 1, "deny": 2}


@dataclass(frozen=True)
class PromptCheck:
    verdict: str  # allow | review | deny
    fired: tuple[Fired, ...]
    policy: dict

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "fired": [f.to_dict() for f in self.fired], "policy": dict(self.policy)}


def prompt_models(prompt: str) -> list[dict]:
    """Model facts for the LoRA / embedding tags written in a prompt."""
    if "<" not in prompt:
        return []
    out = []
    for kind, name, weight in _TAG.findall(prompt):
        kind = kind.lower()
        kind = (
            "lora"
            if kind in ("lora", "lyco", "lycoris")
            else ("embedding" if kind in ("embedding", "ti") else "hypernetwork")
        )
        out.append(
            {"name": name.strip().lower(), "hash": None, "kind": kind, "weight": float(weight) if weight else None}
        )
    return out


def prompt_signals(
    policy: Policy, prompt: str, negative_prompt: str | None = None, models: Iterable[dict] | None = None
) -> Signals:
    rules = policy.text_rules
    texts = [h for h in rules.scan(prompt, "prompt")]
    if negative_prompt:
        texts.extend(rules.scan(negative_prompt, "negative_prompt"))
    model_facts = prompt_models(prompt or "")
    for m in models or ():
        model_facts.append(
            {
                "name": str(m.get("name") or "").lower(),
                "hash": (str(m.get("hash") or "").lower() or None),
                "kind": str(m.get("kind") or "checkpoint"),
                "weight": m.get("weight"),
            }
        )
    return {
        "text": canonical({"rule": h.rule, "source": h.source, "terms": list(h.terms)} for h in texts),
        "model": canonical(model_facts),
    }


def check_prompt(
    prompt: str,
    negative_prompt: str | None = None,
    *,
    policy: Policy | None = None,
    models: Iterable[dict] | None = None,
) -> PromptCheck:
    """allow, review or deny for one generation request, with the gate rules that fired.

    ``models``: the checkpoint/LoRA the service will use, as
    ``{"name", "hash", "kind"}``, so model watchlists apply too.
    """
    policy = policy or default_policy()
    signals = prompt_signals(policy, prompt or "", negative_prompt, models)
    verdict, fired = "allow", []
    for rule in policy.gate:
        ok, because = rule.node.evaluate(signals)
        if ok:
            fired.append(Fired(rule.name, rule.verdict, None, rule.reason, tuple(because)))
            if _RANK[rule.verdict] > _RANK[verdict]:
                verdict = rule.verdict
    return PromptCheck(verdict, tuple(fired), policy.meta)
