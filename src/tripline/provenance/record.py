"""The normalized provenance record that every source parser feeds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STRENGTHS = ("verified", "declared", "likely")
_RANK = {"verified": 3, "declared": 2, "likely": 1, "none": 0}


@dataclass
class ModelRef:
    name: str | None
    hash: str | None = None
    kind: str = "checkpoint"  # checkpoint | lora | vae
    weight: float | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "hash": self.hash, "kind": self.kind, "weight": self.weight}


@dataclass
class Generation:
    """What one source parser found about how the image was generated.

    ``prompts``/``negative_prompts``/``seeds`` are lists because one file can
    hold several (a ComfyUI graph with regional prompts and two samplers);
    the record joins them.
    """

    family: str
    tool: str | None = None
    version: str | None = None
    prompts: list[str] = field(default_factory=list)
    negative_prompts: list[str] = field(default_factory=list)
    models: list[ModelRef] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    sampler: str | None = None
    steps: int | None = None
    size: tuple[int, int] | None = None


@dataclass
class Evidence:
    kind: str
    strength: str  # verified | declared | likely
    detail: str

    def to_dict(self) -> dict:
        return {"kind": self.kind, "strength": self.strength, "detail": self.detail}


@dataclass
class Watermark:
    scheme: str
    payload: str
    bits_matched: int
    bits_total: int
    confidence: str  # very_likely | likely

    def to_dict(self) -> dict:
        return {
            "scheme": self.scheme,
            "payload": self.payload,
            "bits_matched": self.bits_matched,
            "bits_total": self.bits_total,
            "confidence": self.confidence,
        }


def empty_c2pa() -> dict:
    return {
        "present": False,
        "validation_state": None,
        "claim_generator": None,
        "digital_source_types": [],
        "issuer": None,
        "ingredients": [],
    }


@dataclass
class ProvenanceRecord:
    generations: list[Generation] = field(default_factory=list)
    c2pa: dict = field(default_factory=empty_c2pa)
    iptc_digital_source_type: str | None = None
    tc260_label: dict | None = None
    watermarks: list[Watermark] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    max_text_chars: int = 256 * 1024
    # Container format as sniffed ("png", "jpeg", ...). Not part of to_dict().
    format: str | None = None
    # Set when the input itself is unusable (empty, not a supported file,
    # truncated, undecodable): {"code", "message"} with tripline.model codes.
    # Not part of to_dict(); the CLI and the scan report it per item.
    item_error: dict | None = None

    # -- building ---------------------------------------------------------
    def add_generation(self, gen: Generation, evidence: Evidence | None = None) -> None:
        self.generations.append(gen)
        if evidence is not None:
            self.add_evidence(evidence)

    def add_evidence(self, ev: Evidence) -> None:
        if ev.strength not in STRENGTHS:
            raise ValueError(f"bad strength {ev.strength!r}")
        if ev not in self.evidence:
            self.evidence.append(ev)

    def add_error(self, source: str, message: str) -> None:
        self.errors.append({"source": source, "message": str(message)[:500]})

    # -- derived fields ---------------------------------------------------
    @property
    def primary(self) -> Generation | None:
        return self.generations[0] if self.generations else None

    @property
    def synthetic(self) -> str:
        best = "none"
        for ev in self.evidence:
            if _RANK[ev.strength] > _RANK[best]:
                best = ev.strength
        return best

    def _clip(self, text: str | None) -> str | None:
        if text is None:
            return None
        if len(text) > self.max_text_chars:
            return text[: self.max_text_chars]
        return text

    @staticmethod
    def _unique(items):
        seen, out = set(), []
        for it in items:
            if it not in seen:
                seen.add(it)
                out.append(it)
        return out

    def all_prompts(self) -> list[str]:
        return self._unique(p for g in self.generations for p in g.prompts if p)

    def all_negative_prompts(self) -> list[str]:
        return self._unique(p for g in self.generations for p in g.negative_prompts if p)

    def all_seeds(self) -> list[int]:
        return self._unique(s for g in self.generations for s in g.seeds)

    def all_models(self) -> list[ModelRef]:
        out: list[ModelRef] = []
        seen = set()
        for g in self.generations:
            for m in g.models:
                key = (m.name, m.hash, m.kind)
                if key not in seen:
                    seen.add(key)
                    out.append(m)
        return out

    def to_dict(self) -> dict[str, Any]:
        p = self.primary
        prompts = self.all_prompts()
        negs = self.all_negative_prompts()
        seeds = self.all_seeds()
        first = lambda attr: next((getattr(g, attr) for g in self.generations if getattr(g, attr) is not None), None)  # noqa: E731
        size = first("size")
        return {
            "generator": ({"family": p.family, "tool": p.tool, "version": p.version} if p is not None else None),
            "prompt": self._clip("\n".join(prompts)) if prompts else None,
            "negative_prompt": self._clip("\n".join(negs)) if negs else None,
            "models": [m.to_dict() for m in self.all_models()],
            "seed": seeds[0] if seeds else None,
            "sampler": first("sampler"),
            "steps": first("steps"),
            "size": {"width": size[0], "height": size[1]} if size else None,
            "c2pa": dict(self.c2pa),
            "iptc_digital_source_type": self.iptc_digital_source_type,
            "tc260_label": self.tc260_label,
            "watermarks": [w.to_dict() for w in self.watermarks],
            "evidence": [e.to_dict() for e in self.evidence],
            "synthetic": self.synthetic,
            "errors": list(self.errors),
        }


def summarize(record: dict) -> str:
    """One line for a report, from a ``to_dict()`` record (as stored by scan):
    ``"declared: AUTOMATIC1111 parameters in ...; likely: invisible watermark ..."``."""
    if not isinstance(record, dict):
        return ""
    ev = record.get("evidence") or []
    if not ev:
        return "no provenance evidence"
    order = {"verified": 0, "declared": 1, "likely": 2}
    parts = [
        f"{e.get('strength')}: {e.get('detail')}" for e in sorted(ev, key=lambda e: order.get(e.get("strength"), 9))
    ]
    return "; ".join(parts)
