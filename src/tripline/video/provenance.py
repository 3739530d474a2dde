"""Provenance of a video: C2PA (through tripline.provenance, which already
reads manifests in MP4/MOV) plus the container metadata tags that generators
and their tool chains write (encoder, comment, software, ...). Both end up
in one record: the usual provenance dict with a ``container_tags`` field."""

from __future__ import annotations

import json
import re

from tripline.provenance import ProvenanceOptions, read_provenance
from tripline.provenance.record import Evidence, Generation
from tripline.video.intake import VideoInfo

# Tags worth keeping: what made the file and what its maker said about it.
KEPT_TAGS = frozenset(
    {
        "encoder",
        "encoded_by",
        "comment",
        "description",
        "synopsis",
        "title",
        "artist",
        "author",
        "software",
        "creation_tool",
        "copyright",
        "make",
        "model",
        "creation_time",
        "handler_name",
        "vendor_id",
        "com.apple.quicktime.software",
        "com.apple.quicktime.make",
        "com.apple.quicktime.model",
        "com.apple.quicktime.description",
        "com.apple.quicktime.comment",
        "prompt",
        "workflow",
        "parameters",
    }
)
MAX_TAG_CHARS = 4096
MAX_PROMPT_CHARS = 16 * 1024

# AI video generators and pipelines by the names they leave in tags. Each
# pattern is specific enough that ordinary text ("I see" in Spanish, "wan"
# as a word) does not trigger it.
GENERATOR_PATTERNS: tuple[tuple[str, re.Pattern], ...] = tuple(
    (family, re.compile(p))
    for family, p in (
        ("sora", r"\bSora\b|\bOpenAI\b"),
        ("runway", r"\bRunway(?:ML)?\b|\bGen-[234]\b"),
        ("pika", r"\bPika(?: ?Labs|\.art| ?[12]\.\d)\b"),
        ("kling", r"\bKling(?: ?AI| ?[12]\.\d)?\b"),
        ("luma", r"\bLuma ?AI\b|\bDream Machine\b"),
        ("veo", r"\bGoogle Veo\b|\bVeo ?[23](?:\.\d)?\b"),
        ("hailuo", r"\bHailuo\b|\bMiniMax\b"),
        ("stable-video-diffusion", r"\bStable Video Diffusion\b|\bSVD-XT\b"),
        ("animatediff", r"\bAnimateDiff\b"),
        ("deforum", r"\bDeforum\b"),
        ("modelscope", r"\bModelScope\b|\bZeroscope\b"),
        ("hunyuan-video", r"\bHunyuan ?Video\b"),
        ("wan", r"\bWan ?2\.\d\b|\bWan-?Video\b|\bWanVideo\b"),
        ("cogvideo", r"\bCogVideoX?\b"),
        ("ltx-video", r"\bLTX-?Video\b"),
        ("mochi", r"\bMochi ?1\b|\bGenmo\b"),
        ("haiper", r"\bHaiper\b"),
        ("vidu", r"\bVidu\b"),
        ("synthesia", r"\bSynthesia\b"),
        ("heygen", r"\bHeyGen\b"),
        ("d-id", r"\bD-ID\b"),
        ("midjourney", r"\bMidjourney\b"),
        ("comfyui", r"\bComfyUI\b|\bVideoHelperSuite\b"),
    )
)


def container_tags(info: VideoInfo) -> dict[str, dict[str, str]]:
    """The kept tags of the container and its first video and audio streams,
    values clipped to MAX_TAG_CHARS."""
    out: dict[str, dict[str, str]] = {}
    for scope, tags in info.tags.items():
        kept = {}
        for k, v in tags.items():
            key = str(k).lower()
            if key in KEPT_TAGS or key.startswith("com.apple.quicktime."):
                kept[key] = _text(v)[:MAX_TAG_CHARS]
        if kept:
            out[scope] = kept
    return out


def _text(v) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def tag_evidence(tags: dict[str, dict[str, str]]) -> tuple[list[Generation], list[Evidence]]:
    """What the tags declare about generation."""
    gens: list[Generation] = []
    evidence: list[Evidence] = []
    seen: set[str] = set()
    for scope, kv in tags.items():
        for key, value in kv.items():
            if key in ("handler_name", "vendor_id", "creation_time"):
                continue
            workflow = _comfy_prompts(value)
            if workflow is not None and "comfyui" not in seen:
                seen.add("comfyui")
                gens.append(Generation("comfyui", tool="ComfyUI", prompts=workflow))
                evidence.append(Evidence("video_tag", "declared", f"ComfyUI workflow in the {scope} '{key}' tag"))
            for family, pattern in GENERATOR_PATTERNS:
                m = pattern.search(value)
                if m and family not in seen:
                    seen.add(family)
                    gens.append(Generation(family, tool=m.group(0)))
                    evidence.append(Evidence("video_tag", "declared", f"{scope} '{key}' tag names {m.group(0)!r}"))
    return gens, evidence


def _comfy_prompts(value: str) -> list[str] | None:
    """ComfyUI's video nodes store the prompt graph as JSON in the comment tag;
    return its text prompts, or None if the value is not such a graph."""
    if "{" not in value or ("class_type" not in value and "workflow" not in value):
        return None
    try:
        doc = json.loads(value[value.index("{") :])
    except ValueError:
        return None
    graph = doc.get("prompt", doc) if isinstance(doc, dict) else None
    if isinstance(graph, str):
        try:
            graph = json.loads(graph)
        except ValueError:
            graph = None
    if not isinstance(graph, dict):
        return [] if isinstance(doc, dict) and "workflow" in doc else None
    prompts = []
    for node in graph.values():
        if isinstance(node, dict) and "class_type" in node:
            text = (node.get("inputs") or {}).get("text")
            if isinstance(text, str) and text.strip():
                prompts.append(text[:MAX_PROMPT_CHARS])
    return prompts


def read_video_provenance(data: bytes, info: VideoInfo | None, *, c2pa: bool = True) -> dict:
    """One provenance record for a video: C2PA and container tags."""
    # Invisible image watermarks are not read from video frames.
    rec = read_provenance(data, options=ProvenanceOptions(watermarks=False, c2pa=c2pa))
    tags = container_tags(info) if info is not None else {}
    gens, evidence = tag_evidence(tags)
    for g in gens:
        rec.add_generation(g)
    for ev in evidence:
        rec.add_evidence(ev)
    out = rec.to_dict()
    out["container_tags"] = tags
    return out
