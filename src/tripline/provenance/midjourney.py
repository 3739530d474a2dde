"""Midjourney: ``Description`` (PNG text, EXIF ImageDescription or XMP
dc:description) holding the prompt, its ``--`` parameters and ``Job ID: <uuid>``."""

from __future__ import annotations

import re

from .container import TAG_IMAGE_DESCRIPTION, ContainerView
from .record import Evidence, Generation, ProvenanceRecord
from .util import as_int
from .xmp import xmp_values

NAME = "midjourney"
_JOB = re.compile(r"\bJob ID:\s*([0-9a-fA-F-]{36})")
_VERSION = re.compile(r"--(v|version|niji)\s+([\d.]+)")
_SEED = re.compile(r"--seed\s+(\d+)")
_AR = re.compile(r"--(?:ar|aspect)\s+\S+")


def generation_from_description(text: str) -> Generation | None:
    m = _JOB.search(text)
    if not m:
        return None
    gen = Generation(family=NAME, tool="Midjourney")
    prompt = text[: m.start()].strip()
    v = _VERSION.search(prompt)
    if v:
        gen.version = ("niji " if v.group(1) == "niji" else "") + v.group(2)
    s = _SEED.search(prompt)
    if s:
        seed = as_int(s.group(1))
        if seed is not None:
            gen.seeds.append(seed)
    if prompt:
        gen.prompts.append(prompt)
    return gen


def extract(view: ContainerView, rec: ProvenanceRecord) -> None:
    candidates = [
        ("PNG text 'Description'", view.text.get("Description")),
        ("EXIF ImageDescription", view.exif_str(TAG_IMAGE_DESCRIPTION)),
    ]
    candidates += [("XMP dc:description", v) for v in xmp_values(view.xmp, "description")[:4]]
    for where, text in candidates:
        if text and "Job ID" in text:
            gen = generation_from_description(text)
            if gen is not None:
                rec.add_generation(
                    gen, Evidence("generator_metadata", "declared", f"Midjourney job description in {where}")
                )
                return
