"""NovelAI: PNG text chunks (Software/Source/Description/Comment), WebP EXIF,
and the stealth alpha-channel copy; plus Ed25519 verification of
``signed_hash`` against NovelAI's published public key.

The signed message is the RGB pixel bytes followed by ``json.dumps`` of the
Comment object without its ``signed_hash`` key (NovelAI's ``nai_sig.py``).
A valid signature is *verified* evidence; metadata alone is *declared*.
"""

from __future__ import annotations

import base64
import json
import re

import numpy as np

from .container import TAG_IMAGE_DESCRIPTION, TAG_SOFTWARE, ContainerView
from .record import Evidence, Generation, ModelRef, ProvenanceRecord
from .util import as_int, as_str, loads, try_loads

NAME = "novelai"
# NovelAI's published Ed25519 verify key (base64), from novelai-image-metadata/nai_sig.py.
NOVELAI_PUBLIC_KEY_B64 = "Y2JcQAOhLwzwSDUJPNgL04nS0Tbqm7cSRc4xk0vRMic="


def _caption(obj) -> str | None:
    if isinstance(obj, dict):
        cap = obj.get("caption")
        if isinstance(cap, dict):
            return as_str(cap.get("base_caption"))
    return None


def generation_from_meta(meta: dict, comment: dict) -> Generation:
    gen = Generation(family=NAME, tool="NovelAI")
    prompt = as_str(comment.get("prompt")) or _caption(comment.get("v4_prompt")) or as_str(meta.get("Description"))
    neg = as_str(comment.get("uc")) or _caption(comment.get("v4_negative_prompt"))
    if prompt:
        gen.prompts.append(prompt)
    if neg:
        gen.negative_prompts.append(neg)
    source = as_str(meta.get("Source"))
    if source:
        source = source.strip()[:512]
        m = re.match(r"^(.*\S)\s{1,8}([0-9A-Fa-f]{8})$", source)
        name, h = (m.group(1), m.group(2)) if m else (source, None)
        gen.models.append(ModelRef(name=name, hash=h, kind="checkpoint"))
        gen.version = name
    seed = as_int(comment.get("seed"))
    if seed is not None:
        gen.seeds.append(seed)
    gen.sampler = as_str(comment.get("sampler"))
    gen.steps = as_int(comment.get("steps"))
    w, h = as_int(comment.get("width")), as_int(comment.get("height"))
    gen.size = (w, h) if w and h else None
    return gen


def verify_signed_hash(image, comment: dict, keys: tuple[str, ...]) -> bool | None:
    """True/False when a ``signed_hash`` could be checked, None when absent."""
    sig_b64 = comment.get("signed_hash")
    if not isinstance(sig_b64, str) or image is None:
        return None
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        sig = base64.b64decode(sig_b64, validate=False)
    except ValueError:
        return False
    unsigned = {k: v for k, v in comment.items() if k != "signed_hash"}
    arr = np.asarray(image.convert("RGBA") if image.mode not in ("RGB", "RGBA") else image)
    message = np.ascontiguousarray(arr[:, :, :3]).tobytes() + json.dumps(unsigned).encode("utf-8")
    for key_b64 in keys:
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(key_b64))
            key.verify(sig, message)
            return True
        except (InvalidSignature, ValueError):
            continue
    return False


def _comment_obj(meta: dict, depth: int) -> dict:
    c = meta.get("Comment")
    if isinstance(c, str):
        c = try_loads(c, depth)
    if isinstance(c, dict) and isinstance(c.get("Comment"), str):  # doubly wrapped
        inner = try_loads(c["Comment"], depth)
        if isinstance(inner, dict):
            c = inner
    return c if isinstance(c, dict) else {}


def _emit(view: ContainerView, rec: ProvenanceRecord, meta: dict, where: str) -> None:
    comment = _comment_obj(meta, view.options.max_json_depth)
    gen = generation_from_meta(meta, comment)
    rec.add_generation(gen, Evidence("generator_metadata", "declared", f"NovelAI metadata in {where}"))
    if "signed_hash" in comment:
        ok = verify_signed_hash(view.image, comment, view.options.novelai_public_keys)
        if ok:
            rec.add_evidence(Evidence("signature", "verified", f"NovelAI Ed25519 signed_hash valid ({where})"))
        elif ok is False:
            rec.add_evidence(
                Evidence(
                    "signature",
                    "declared",
                    f"NovelAI signed_hash present but does not verify ({where}); image altered or re-encoded",
                )
            )


def _is_novelai(meta: dict) -> bool:
    sw = str(meta.get("Software", "")) + " " + str(meta.get("Source", ""))
    return "NovelAI" in sw or ("Comment" in meta and "uc" in str(meta.get("Comment", "")) and "Stable Diffusion" in sw)


def extract_from_stealth(view: ContainerView, rec: ProvenanceRecord, text: str, where: str) -> None:
    meta = loads(text, view.options.max_json_depth)
    if not isinstance(meta, dict):
        raise ValueError(f"{where}: JSON payload is not an object")
    if "Comment" not in meta and ("uc" in meta or "prompt" in meta):
        meta = {"Comment": meta}
    _emit(view, rec, meta, where)


def extract(view: ContainerView, rec: ProvenanceRecord) -> None:
    t = view.text
    if "Comment" in t and _is_novelai(t):
        _emit(view, rec, dict(t), "PNG text chunks")
        return
    uc = view.user_comment
    software = view.exif_str(TAG_SOFTWARE) or ""
    if uc and uc.lstrip().startswith("{") and ("NovelAI" in software or '"uc"' in uc or "signed_hash" in uc):
        obj = loads(uc, view.options.max_json_depth)
        if isinstance(obj, dict):
            meta = obj if "Comment" in obj else {"Comment": obj}
            meta.setdefault("Source", software or None)
            desc = view.exif_str(TAG_IMAGE_DESCRIPTION)
            if desc:
                meta.setdefault("Description", desc)
            _emit(view, rec, meta, "EXIF UserComment")
