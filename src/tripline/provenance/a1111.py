"""AUTOMATIC1111 / Forge / SD.Next "parameters" text.

Layout (as written by ``modules/generation_parameters_copypaste``):
prompt lines, optionally ``Negative prompt: ...`` lines, then one line of
``Key: value`` pairs (values with commas are double-quoted). Stored in the PNG
text chunk ``parameters`` or in JPEG/WebP EXIF UserComment.
"""

from __future__ import annotations

import json
import re

from .container import ContainerView
from .record import Evidence, Generation, ModelRef, ProvenanceRecord
from .util import as_float, as_int, json_depth_ok, parse_size

NAME = "a1111"
_KEY = re.compile(r"^\w[\w \-/.]{0,63}$")
# <lora:name[:weight[:...]]>. The body is bounded and cannot contain "<", so
# each "<" costs at most 512 steps: an unbounded body made "<lora:" x 33,000
# quadratic (80 s for one chunk).
_LORA_TAG = re.compile(r"<(lora|lyco|hypernet):([^<>]{1,512})>", re.I)


def _segments(line: str):
    """Split on commas outside double quotes and braces (linear time)."""
    start, in_q, esc, depth = 0, False, False, 0
    for i, ch in enumerate(line):
        if in_q:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_q = False
        elif ch == '"':
            in_q = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            yield line[start:i]
            start = i + 1
    yield line[start:]


def parse_kv_line(line: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for seg in _segments(line):
        key, sep, val = seg.partition(":")
        key, val = key.strip(), val.strip()
        if not sep or not _KEY.match(key):
            continue
        if len(val) >= 2 and val[0] == '"' and val[-1] == '"':
            try:
                val = json.loads(val)
            except ValueError:
                val = val[1:-1]
            if not isinstance(val, str):
                val = str(val)
        out.setdefault(key, val)
        if len(out) > 512:
            break
    return out


def _is_kv_line(line: str) -> bool:
    return len(parse_kv_line(line)) >= 3 and ("Steps:" in line or "Seed:" in line or "Sampler:" in line)


def split_parameters(text: str) -> tuple[str, str | None, dict[str, str]]:
    """-> (prompt, negative prompt or None, key/values)."""
    lines = text.strip().split("\n")
    kv: dict[str, str] = {}
    if lines and _is_kv_line(lines[-1]):
        kv = parse_kv_line(lines.pop())
    prompt_lines: list[str] = []
    neg_lines: list[str] | None = None
    for line in lines:
        if line.startswith("Negative prompt:"):
            neg_lines = [line[len("Negative prompt:") :].strip()]
        elif neg_lines is not None:
            neg_lines.append(line)
        else:
            prompt_lines.append(line)
    prompt = "\n".join(prompt_lines).strip()
    neg = "\n".join(neg_lines).strip() if neg_lines is not None else None
    return prompt, neg, kv


def looks_like_parameters(text: str | None) -> bool:
    if not text or text.lstrip().startswith("{"):
        return False
    last = text.strip().rsplit("\n", 1)[-1]
    return _is_kv_line(last)


def _tool(kv: dict[str, str]) -> tuple[str, str | None]:
    version = kv.get("Version")
    app = kv.get("App", "")
    if "sd.next" in app.lower() or "sdnext" in app.lower():
        return "SD.Next", version
    if version:
        if version.startswith("f") and re.match(r"f\d", version):
            return "Forge", version
        if version.lower().startswith("fooocus"):
            return "Fooocus", version
        if version.lower().startswith("comfyui"):
            return "ComfyUI", version
    return "AUTOMATIC1111", version


def models_from(prompt: str, neg: str | None, kv: dict[str, str], max_depth: int) -> list[ModelRef]:
    models: list[ModelRef] = []
    name = kv.get("Model")
    mhash = kv.get("Model hash")
    if name or mhash:
        models.append(ModelRef(name=name, hash=mhash, kind="checkpoint"))
    if kv.get("VAE") or kv.get("VAE hash"):
        models.append(ModelRef(name=kv.get("VAE"), hash=kv.get("VAE hash"), kind="vae"))
    weights: dict[str, float | None] = {}
    for text in (prompt, neg or ""):
        for m in _LORA_TAG.finditer(text):
            if m.group(1).lower() == "hypernet":
                continue
            name, _, rest = m.group(2).partition(":")
            weight = rest.partition(":")[0]
            if name.strip():
                weights.setdefault(name.strip(), as_float(weight) if weight else 1.0)
    lora_hashes: dict[str, str] = {}
    if kv.get("Lora hashes"):
        for part in kv["Lora hashes"].split(","):
            n, _, h = part.rpartition(":")
            if n.strip():
                lora_hashes[n.strip()] = h.strip()
    hashes_json = kv.get("Hashes")
    if hashes_json and json_depth_ok(hashes_json, max_depth):
        try:
            obj = json.loads(hashes_json)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            for k, v in obj.items():
                if not isinstance(v, str):
                    continue
                if k.startswith(("lora:", "lyco:")):
                    lora_hashes.setdefault(k.split(":", 1)[1], v)
                elif k == "model" and models and models[0].kind == "checkpoint" and not models[0].hash:
                    models[0].hash = v
                elif k == "vae" and not any(m.kind == "vae" for m in models):
                    models.append(ModelRef(name=kv.get("VAE"), hash=v, kind="vae"))
    names = list(dict.fromkeys(list(weights) + list(lora_hashes)))
    for n in names:
        models.append(ModelRef(name=n, hash=lora_hashes.get(n), kind="lora", weight=weights.get(n)))
    return models


def generation_from_text(text: str, max_depth: int = 64, family: str = NAME) -> Generation:
    prompt, neg, kv = split_parameters(text)
    tool, version = _tool(kv)
    seed = as_int(kv.get("Seed"))
    return Generation(
        family=family,
        tool=tool,
        version=version,
        prompts=[prompt] if prompt else [],
        negative_prompts=[neg] if neg else [],
        models=models_from(prompt, neg, kv, max_depth),
        seeds=[seed] if seed is not None else [],
        sampler=kv.get("Sampler"),
        steps=as_int(kv.get("Steps")),
        size=parse_size(kv.get("Size")),
    )


def extract(view: ContainerView, rec: ProvenanceRecord) -> None:
    for where, text in (
        ("PNG text 'parameters'", view.text.get("parameters")),
        ("EXIF UserComment", view.user_comment),
    ):
        if looks_like_parameters(text):
            gen = generation_from_text(text, view.options.max_json_depth)
            if gen.tool == "Fooocus":
                gen.family = "fooocus"
            rec.add_generation(
                gen, Evidence("generator_metadata", "declared", f"{gen.tool} generation parameters in {where}")
            )
            return
