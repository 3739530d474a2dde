"""Black Forest Labs' Flux reference code: EXIF Make "Black Forest Labs",
Software "AI generated;txt2img;flux", Model = model name, ImageDescription = prompt."""

from __future__ import annotations

from .container import TAG_IMAGE_DESCRIPTION, TAG_MAKE, TAG_MODEL, TAG_SOFTWARE, ContainerView
from .record import Evidence, Generation, ModelRef, ProvenanceRecord

NAME = "flux"


def extract(view: ContainerView, rec: ProvenanceRecord) -> None:
    make = view.exif_str(TAG_MAKE) or ""
    software = view.exif_str(TAG_SOFTWARE) or ""
    if "Black Forest Labs" not in make and not (software.startswith("AI generated;") and "flux" in software.lower()):
        return
    gen = Generation(family=NAME, tool="Flux reference")
    parts = [p.strip() for p in software.split(";")]
    if len(parts) >= 2 and parts[0] == "AI generated":
        gen.version = parts[1]  # txt2img / img2img / ...
    model = view.exif_str(TAG_MODEL)
    if model:
        gen.models.append(ModelRef(name=model, kind="checkpoint"))
    prompt = view.exif_str(TAG_IMAGE_DESCRIPTION)
    if prompt:
        gen.prompts.append(prompt)
    rec.add_generation(
        gen, Evidence("generator_metadata", "declared", f"Flux reference EXIF (Make {make!r}, Software {software!r})")
    )
