"""Draw Things: JSON in XMP ``exif:UserComment`` (``c`` = prompt, ``uc`` =
negative), with ``xmp:CreatorTool`` "Draw Things"."""

from __future__ import annotations

from .container import ContainerView
from .record import Evidence, Generation, ModelRef, ProvenanceRecord
from .util import as_float, as_int, as_str, loads, parse_size
from .xmp import xmp_values

NAME = "drawthings"


def generation_from_json(obj: dict) -> Generation:
    gen = Generation(family=NAME, tool="Draw Things")
    for key, lst in (("c", gen.prompts), ("uc", gen.negative_prompts)):
        v = as_str(obj.get(key))
        if v:
            lst.append(v)
    model = as_str(obj.get("model"))
    if model:
        gen.models.append(ModelRef(name=model, kind="checkpoint"))
    loras = obj.get("lora")
    if isinstance(loras, list):
        for item in loras[:256]:
            if isinstance(item, dict) and as_str(item.get("file")):
                gen.models.append(
                    ModelRef(name=as_str(item.get("file")), kind="lora", weight=as_float(item.get("weight")))
                )
    seed = as_int(obj.get("seed"))
    if seed is not None:
        gen.seeds.append(seed)
    gen.sampler = as_str(obj.get("sampler"))
    gen.steps = as_int(obj.get("steps"))
    gen.size = parse_size(obj.get("size"))
    return gen


def extract(view: ContainerView, rec: ProvenanceRecord) -> None:
    xmp = view.xmp
    if not xmp or "UserComment" not in xmp:
        return
    tools = xmp_values(xmp, "CreatorTool")
    for text in xmp_values(xmp, "UserComment"):
        if not text.lstrip().startswith("{"):
            continue
        obj = loads(text, view.options.max_json_depth)
        if isinstance(obj, dict) and ("c" in obj or "Draw Things" in " ".join(tools)):
            gen = generation_from_json(obj)
            rec.add_generation(
                gen, Evidence("generator_metadata", "declared", "Draw Things parameters in XMP UserComment")
            )
            return
