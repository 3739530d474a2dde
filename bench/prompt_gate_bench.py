"""Prompt-gate latency: median and p99 per prompt for `check_prompt`.

Runs a few thousand benign generated prompts (tags, weights, LoRA tags,
emoji, long and short) plus a share that hits the rules: the default pack
(ordinary words only) and a placeholder policy ("alpha" near "bravo").
Target from the policy issue: median <= 1 ms per prompt. Prints PASS/FAIL.

    .venv/bin/python bench/prompt_gate_bench.py [--n 5000] [--seed 1]
"""

from __future__ import annotations

import argparse
import importlib
import random
import statistics
import sys
import time

from tripline.policy import check_prompt, default_policy, load_policy_bytes

# The package re-exports the function under the module's name, so reach the
# module itself for its caches.
normalise_mod = importlib.import_module("tripline.text.normalise")

SUBJECTS = [
    "a lighthouse",
    "an old farmer",
    "a red fox",
    "mountain lake",
    "a city street at night",
    "a cat",
    "a bowl of fruit",
    "a spaceship",
    "a medieval castle",
    "a woman reading",
    "a robot",
    "an owl",
]
STYLES = [
    "oil painting",
    "watercolor",
    "photorealistic",
    "35mm film",
    "studio lighting",
    "cinematic",
    "highly detailed",
    "concept art",
    "octane render",
    "soft focus",
    "golden hour",
    "bokeh",
    "8k",
    "masterpiece",
    "best quality",
    "trending on artstation",
    "volumetric fog",
    "sharp focus",
]
DECOR = [
    "(masterpiece:1.2)",
    "[blurry]",
    "((detailed))",
    "<lora:add_detail:0.6>",
    "{{sunset}}",
    "🌅",
    "✨",
    "ultra-detailed",
    "h1gh qu4lity",
    "s.h.a.r.p",
]
NEGATIVE = "lowres, bad anatomy, bad hands, text, error, missing fingers, cropped, worst quality, jpeg artifacts"

PLACEHOLDER = b"""
[policy]
name = "placeholder"
version = "1"
[lexicons.a]
terms = ["alpha", "alpha one"]
[lexicons.b]
terms = ["bravo", "brav*"]
[text_rules.ab]
near = ["a", "b"]
within = 5
[[gate]]
name = "ab"
when = 'text(source == "prompt" and rule == "ab")'
verdict = "deny"
reason = "placeholder pair"
"""


def make_prompts(n: int, rng: random.Random) -> list[str]:
    prompts = []
    for i in range(n):
        parts = [rng.choice(SUBJECTS)] + rng.sample(STYLES, rng.randint(3, 14)) + rng.sample(DECOR, rng.randint(0, 4))
        if i % 20 == 0:
            parts.insert(rng.randint(0, len(parts)), "kid")  # minor word alone: allowed
        if i % 25 == 0:
            parts.insert(rng.randint(0, len(parts)), "nsfw")  # sexual word alone: allowed
        if i % 50 == 0:  # co-occurrence: the default pack flags it
            parts[rng.randint(0, len(parts) - 1)] += ", kid, nsfw"
        if i % 33 == 0:
            parts.insert(0, "alpha near bravo")
        rng.shuffle(parts)
        prompts.append(", ".join(parts))
    return prompts


def _clear_token_caches() -> None:
    normalise_mod._canonical_cached.cache_clear()
    normalise_mod._forms_cached.cache_clear()


def measure(prompts: list[str], policy, cold: bool = False) -> tuple[list[float], list[float], dict]:
    """Wall and CPU milliseconds per prompt. On a busy machine the wall p99
    shows the scheduler; the CPU time shows the gate's own cost. ``cold``
    empties the per-token caches before every prompt (no vocabulary reuse)."""
    wall, cpu, verdicts = [], [], {}
    for p in prompts[:200]:  # warm-up
        check_prompt(p, NEGATIVE, policy=policy)
    for p in prompts:
        if cold:
            _clear_token_caches()
        c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
        r = check_prompt(p, NEGATIVE, policy=policy)
        wall.append((time.perf_counter_ns() - t0) / 1e6)
        cpu.append((time.thread_time_ns() - c0) / 1e6)
        verdicts[r.verdict] = verdicts.get(r.verdict, 0) + 1
    return wall, cpu, verdicts


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    prompts = make_prompts(args.n, random.Random(args.seed))
    chars = statistics.mean(len(p) for p in prompts)
    print(f"{len(prompts)} prompts, mean {chars:.0f} chars, with a {len(NEGATIVE)}-char negative prompt")
    # Long prompts (several joined, ~750 chars) show how latency scales.
    long_prompts = [", ".join(prompts[i : i + 5]) for i in range(0, len(prompts), 5)]
    print(f"long set: {len(long_prompts)} prompts, mean {statistics.mean(len(p) for p in long_prompts):.0f} chars")
    ok = True
    runs = (
        ("default", default_policy(), prompts, False),
        ("placeholder", load_policy_bytes(PLACEHOLDER), prompts, False),
        ("default/long", default_policy(), long_prompts, False),
        ("default/cold", default_policy(), prompts, True),
    )
    for label, policy, batch, cold in runs:
        wall, cpu, verdicts = measure(batch, policy, cold)
        wall.sort()
        cpu.sort()
        med, p99 = statistics.median(wall), wall[int(0.99 * (len(wall) - 1))]
        cmed, cp99 = statistics.median(cpu), cpu[int(0.99 * (len(cpu) - 1))]
        passed = med <= 1.0
        ok &= passed
        print(
            f"{label:12s} wall median {med * 1000:6.1f} us  p99 {p99 * 1000:7.1f} us | "
            f"cpu median {cmed * 1000:6.1f} us  p99 {cp99 * 1000:6.1f} us | "
            f"verdicts {dict(sorted(verdicts.items()))}  {'PASS' if passed else 'FAIL'} (median <= 1 ms)"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
