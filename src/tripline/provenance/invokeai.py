"""InvokeAI: v1 ``Dream`` command line, v2 ``sd-metadata`` JSON, v3+
``invokeai_metadata`` JSON (PNG text chunks)."""

from __future__ import annotations

import re
import shlex

from .container import ContainerView
from .record import Evidence, Generation, ModelRef, ProvenanceRecord
from .util import as_float, as_int, as_str, loads

NAME = "invokeai"
_NEG = re.compile(r"\[([^\[\]]*)\]")


def _split_neg(prompt: str) -> tuple[str, str | None]:
    negs = _NEG.findall(prompt)
    pos = _NEG.sub("", prompt).strip()
    return pos, (", ".join(n.strip() for n in negs) if negs else None)


def _model_ref(obj, kind: str, weight=None) -> ModelRef | None:
    if isinstance(obj, str):
        return ModelRef(name=obj, kind=kind, weight=weight)
    if isinstance(obj, dict):
        name = as_str(obj.get("model_name") or obj.get("name") or obj.get("key"))
        if name:
            return ModelRef(name=name, hash=as_str(obj.get("hash")), kind=kind, weight=weight)
    return None


def from_v3(obj: dict) -> Generation:
    gen = Generation(family=NAME, tool="InvokeAI", version=as_str(obj.get("app_version")))
    for key, lst in (("positive_prompt", gen.prompts), ("negative_prompt", gen.negative_prompts)):
        v = as_str(obj.get(key))
        if v:
            lst.append(v)
    m = _model_ref(obj.get("model"), "checkpoint")
    if m:
        gen.models.append(m)
    loras = obj.get("loras")
    if isinstance(loras, list):
        for item in loras[:256]:
            if isinstance(item, dict):
                ref = _model_ref(item.get("lora") or item.get("model"), "lora", as_float(item.get("weight")))
                if ref:
                    gen.models.append(ref)
    v = _model_ref(obj.get("vae"), "vae")
    if v:
        gen.models.append(v)
    _sampling(gen, obj, "scheduler")
    return gen


def _sampling(gen: Generation, src: dict, sampler_key: str) -> None:
    """Seed, sampler, steps and size: the same keys in v2's image block and
    v3's metadata, except what the sampler is called."""
    seed = as_int(src.get("seed"))
    if seed is not None:
        gen.seeds.append(seed)
    gen.sampler = as_str(src.get(sampler_key))
    gen.steps = as_int(src.get("steps"))
    w, h = as_int(src.get("width")), as_int(src.get("height"))
    gen.size = (w, h) if w and h else None


def from_v2(obj: dict) -> Generation:
    gen = Generation(family=NAME, tool="InvokeAI", version=as_str(obj.get("app_version")))
    name = as_str(obj.get("model_weights")) or as_str(obj.get("model"))
    if name:
        gen.models.append(ModelRef(name=name, hash=as_str(obj.get("model_hash")), kind="checkpoint"))
    image = obj.get("image") if isinstance(obj.get("image"), dict) else {}
    prompt = image.get("prompt")
    if isinstance(prompt, list):
        prompt = " ".join(as_str(p.get("prompt")) or "" for p in prompt if isinstance(p, dict))
    prompt = as_str(prompt)
    if prompt:
        pos, neg = _split_neg(prompt)
        if pos:
            gen.prompts.append(pos)
        if neg:
            gen.negative_prompts.append(neg)
    _sampling(gen, image, "sampler")
    return gen


def from_dream(text: str) -> Generation:
    gen = Generation(family=NAME, tool="InvokeAI", version="1")
    try:
        args = shlex.split(text)
    except ValueError:
        args = text.split()
    opts: dict[str, str] = {}
    words = []
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("-") and len(a) > 1 and not a[1:].replace(".", "").isdigit():
            if i + 1 < len(args) and not args[i + 1].startswith("-"):
                opts[a] = args[i + 1]
                i += 2
                continue
            opts[a] = ""
        else:
            words.append(a)
        i += 1
    pos, neg = _split_neg(" ".join(words))
    if pos:
        gen.prompts.append(pos)
    if neg:
        gen.negative_prompts.append(neg)
    seed = as_int(opts.get("-S"))
    if seed is not None:
        gen.seeds.append(seed)
    gen.steps = as_int(opts.get("-s"))
    gen.sampler = opts.get("-A")
    w, h = as_int(opts.get("-W")), as_int(opts.get("-H"))
    gen.size = (w, h) if w and h else None
    return gen


def extract(view: ContainerView, rec: ProvenanceRecord) -> None:
    depth = view.options.max_json_depth
    if "invokeai_metadata" in view.text:
        obj = loads(view.text["invokeai_metadata"], depth)
        if isinstance(obj, dict):
            rec.add_generation(
                from_v3(obj), Evidence("generator_metadata", "declared", "InvokeAI metadata (invokeai_metadata)")
            )
            return
    if "sd-metadata" in view.text:
        obj = loads(view.text["sd-metadata"], depth)
        if isinstance(obj, dict):
            rec.add_generation(
                from_v2(obj), Evidence("generator_metadata", "declared", "InvokeAI metadata (sd-metadata)")
            )
            return
    if "Dream" in view.text:
        rec.add_generation(
            from_dream(view.text["Dream"]), Evidence("generator_metadata", "declared", "InvokeAI metadata (Dream)")
        )
