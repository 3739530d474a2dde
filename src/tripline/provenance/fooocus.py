"""Fooocus: JSON ``parameters`` (``fooocus_scheme: fooocus``) in PNG text or
JPEG/WebP EXIF UserComment. Its a1111-scheme output is handled by
:mod:`.a1111` (``Version: Fooocus ...``)."""

from __future__ import annotations

from .container import TAG_MAKER_NOTE, TAG_SOFTWARE, ContainerView
from .record import Evidence, Generation, ModelRef, ProvenanceRecord
from .util import as_float, as_int, as_str, loads, parse_size

NAME = "fooocus"


def _loras(value) -> list[ModelRef]:
    out = []
    if not isinstance(value, list):
        return out
    for item in value[:256]:
        if isinstance(item, (list, tuple)) and item:
            name = as_str(item[0])
            weight = as_float(item[1]) if len(item) > 1 else None
            h = as_str(item[2]) if len(item) > 2 else None
            if name and " : " in name and weight is None:  # "file : 0.5"
                name, _, w = name.rpartition(" : ")
                weight = as_float(w)
            if name and name != "None":
                out.append(ModelRef(name=name, hash=h, kind="lora", weight=weight))
    return out


def generation_from_json(obj: dict) -> Generation:
    gen = Generation(family=NAME, tool="Fooocus", version=as_str(obj.get("version")))
    p = as_str(obj.get("prompt"))
    n = as_str(obj.get("negative_prompt"))
    if p:
        gen.prompts.append(p)
    if n:
        gen.negative_prompts.append(n)
    base = as_str(obj.get("base_model"))
    if base:
        gen.models.append(ModelRef(name=base, hash=as_str(obj.get("base_model_hash")), kind="checkpoint"))
    refiner = as_str(obj.get("refiner_model"))
    if refiner and refiner != "None":
        gen.models.append(ModelRef(name=refiner, hash=as_str(obj.get("refiner_model_hash")), kind="checkpoint"))
    gen.models.extend(_loras(obj.get("loras")))
    vae = as_str(obj.get("vae"))
    if vae and vae.lower() not in ("default (model)", "none"):
        gen.models.append(ModelRef(name=vae, kind="vae"))
    seed = as_int(obj.get("seed"))
    if seed is not None:
        gen.seeds.append(seed)
    gen.sampler = as_str(obj.get("sampler"))
    gen.steps = as_int(obj.get("steps"))
    gen.size = parse_size(obj.get("resolution"))
    return gen


def _is_fooocus(obj) -> bool:
    return isinstance(obj, dict) and (
        "fooocus" in str(obj.get("version", "")).lower()
        or ("base_model" in obj and "full_prompt" in obj)
        or obj.get("metadata_scheme") == "fooocus"
    )


def extract(view: ContainerView, rec: ProvenanceRecord) -> None:
    candidates = []
    if view.text.get("fooocus_scheme", "fooocus") == "fooocus":
        candidates.append(("PNG text 'parameters'", view.text.get("parameters")))
    scheme = view.exif_str(TAG_MAKER_NOTE)
    software = view.exif_str(TAG_SOFTWARE) or ""
    if scheme in (None, "fooocus") or "fooocus" in software.lower():
        candidates.append(("EXIF UserComment", view.user_comment))
    for where, text in candidates:
        if not text or not text.lstrip().startswith("{"):
            continue
        obj = loads(text, view.options.max_json_depth)
        if _is_fooocus(obj):
            rec.add_generation(
                generation_from_json(obj), Evidence("generator_metadata", "declared", f"Fooocus parameters in {where}")
            )
            return
