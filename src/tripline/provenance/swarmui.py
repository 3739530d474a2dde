"""SwarmUI: JSON with ``sui_image_params`` in PNG ``parameters`` or EXIF UserComment."""

from __future__ import annotations

from .container import ContainerView
from .record import Evidence, Generation, ModelRef, ProvenanceRecord
from .util import as_float, as_int, as_str, loads

NAME = "swarmui"


def generation_from_json(obj: dict) -> Generation:
    p = obj.get("sui_image_params")
    p = p if isinstance(p, dict) else {}
    gen = Generation(family=NAME, tool="SwarmUI", version=as_str(p.get("swarm_version")))
    for key, lst in (("prompt", gen.prompts), ("negativeprompt", gen.negative_prompts)):
        v = as_str(p.get(key))
        if v:
            lst.append(v)
    hashes: dict[str, str] = {}
    models = obj.get("sui_models")
    if isinstance(models, list):
        for m in models[:256]:
            if isinstance(m, dict) and as_str(m.get("name")):
                hashes[as_str(m.get("name"))] = as_str(m.get("hash"))
    name = as_str(p.get("model"))
    if name:
        h = hashes.get(name) or next((v for k, v in hashes.items() if k.startswith(name)), None)
        gen.models.append(ModelRef(name=name, hash=h, kind="checkpoint"))
    loras, weights = p.get("loras"), p.get("loraweights")
    if isinstance(loras, list):
        for i, lname in enumerate(loras[:256]):
            lname = as_str(lname)
            if not lname:
                continue
            w = as_float(weights[i]) if isinstance(weights, list) and i < len(weights) else None
            h = hashes.get(lname) or next((v for k, v in hashes.items() if k.startswith(lname)), None)
            gen.models.append(ModelRef(name=lname, hash=h, kind="lora", weight=w))
    vae = as_str(p.get("vae"))
    if vae:
        gen.models.append(ModelRef(name=vae, kind="vae"))
    seed = as_int(p.get("seed"))
    if seed is not None:
        gen.seeds.append(seed)
    gen.sampler = as_str(p.get("sampler"))
    gen.steps = as_int(p.get("steps"))
    w, h = as_int(p.get("width")), as_int(p.get("height"))
    gen.size = (w, h) if w and h else None
    return gen


def extract(view: ContainerView, rec: ProvenanceRecord) -> None:
    for where, text in (
        ("PNG text 'parameters'", view.text.get("parameters")),
        ("EXIF UserComment", view.user_comment),
    ):
        if text and "sui_image_params" in text and text.lstrip().startswith("{"):
            obj = loads(text, view.options.max_json_depth)
            if isinstance(obj, dict) and "sui_image_params" in obj:
                rec.add_generation(
                    generation_from_json(obj),
                    Evidence("generator_metadata", "declared", f"SwarmUI parameters in {where}"),
                )
                return
