"""C2PA content credentials through c2pa-python, strictly offline.

Settings passed to every Reader (see :func:`settings_for`):
``verify.remote_manifest_fetch = false`` (a file whose manifest lives only at
a URL is reported as ``remote_manifest_not_fetched``, never fetched),
``verify.ocsp_fetch = false`` (no revocation look-ups), and trust anchors only
from the operator's PEM bundle. Without anchors a cryptographically sound
manifest is ``valid`` (signature checks out, signer unknown); only ``trusted``
(chained to a configured anchor) makes C2PA evidence *verified*. A
self-signed manifest claiming "AI-generated" on a real photo must not be able
to push that photo down the review queue.
"""

from __future__ import annotations

import io
import json
import threading

from .container import ContainerView
from .record import Evidence, ProvenanceRecord
from .util import loads
from .xmp import is_ai_source_type, source_type_name, xmp_values

NAME = "c2pa"
_MIME = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "tiff": "image/tiff",
    "gif": "image/gif",
    "avif": "image/avif",
    "heif": "image/heif",
    "bmff": "video/mp4",
}
_ctx_lock = threading.Lock()
_ctx_cache: dict[str | None, object] = {}


def settings_for(trust_anchors_pem: str | None) -> dict:
    """The c2pa-rs settings document used for every read (no network)."""
    s: dict = {
        "version": 1,
        "verify": {
            "remote_manifest_fetch": False,
            "ocsp_fetch": False,
            "verify_trust": True,
        },
    }
    if trust_anchors_pem:
        s["trust"] = {"trust_anchors": trust_anchors_pem}
    return s


def _context(trust_anchors_pem: str | None):
    import c2pa as c2pa_lib

    with _ctx_lock:
        ctx = _ctx_cache.get(trust_anchors_pem)
        if ctx is None:
            ctx = c2pa_lib.Context.from_dict(settings_for(trust_anchors_pem))
            if len(_ctx_cache) > 8:
                _ctx_cache.clear()
            _ctx_cache[trust_anchors_pem] = ctx
        return ctx


def _claim_generator(m: dict) -> str | None:
    cg = m.get("claim_generator")
    if isinstance(cg, str) and cg:
        return cg
    info = m.get("claim_generator_info")
    if isinstance(info, list):
        parts = []
        for i in info:
            if isinstance(i, dict) and i.get("name"):
                parts.append(f"{i['name']}/{i['version']}" if i.get("version") else str(i["name"]))
        return " ".join(parts) or None
    return None


def _dsts(m: dict) -> list[str]:
    out: list[str] = []
    for a in m.get("assertions") or []:
        if not isinstance(a, dict) or not str(a.get("label", "")).startswith("c2pa.actions"):
            continue
        data = a.get("data") if isinstance(a.get("data"), dict) else {}
        for act in data.get("actions") or []:
            if isinstance(act, dict) and isinstance(act.get("digitalSourceType"), str):
                if act["digitalSourceType"] not in out:
                    out.append(act["digitalSourceType"])
    return out


def summarize(store: dict, state: str | None) -> dict:
    manifests = store.get("manifests") if isinstance(store.get("manifests"), dict) else {}
    active = manifests.get(store.get("active_manifest")) or {}
    sig = active.get("signature_info") if isinstance(active.get("signature_info"), dict) else {}
    ingredients = []
    for ing in (active.get("ingredients") or [])[:64]:
        if not isinstance(ing, dict):
            continue
        child = manifests.get(ing.get("active_manifest")) or {}
        ingredients.append(
            {
                "title": ing.get("title"),
                "relationship": ing.get("relationship"),
                "claim_generator": _claim_generator(child) if child else None,
                "digital_source_types": _dsts(child) if child else [],
            }
        )
    return {
        "present": True,
        "validation_state": state.lower() if isinstance(state, str) else state,
        "claim_generator": _claim_generator(active),
        "digital_source_types": _dsts(active),
        "issuer": sig.get("issuer") or sig.get("common_name"),
        "ingredients": ingredients,
    }


def _wants_reader(view: ContainerView) -> bool:
    if view.jumbf:
        return True
    if view.xmp and "provenance" in view.xmp:
        return True
    return view.format in ("bmff", "avif", "heif", "tiff")


def extract(view: ContainerView, rec: ProvenanceRecord) -> None:
    if not view.options.c2pa or view.format not in _MIME or not _wants_reader(view):
        return
    import c2pa as c2pa_lib

    ctx = _context(view.options.trust_anchors_pem)
    try:
        reader = c2pa_lib.Reader.try_create(_MIME[view.format], io.BytesIO(view.data), None, ctx)
    except c2pa_lib.C2paError as exc:
        msg = str(exc)
        if "Remote" in type(exc).__name__ or "remote manifest" in msg.lower():
            urls = xmp_values(view.xmp, "provenance")
            rec.c2pa.update(present=True, validation_state="remote_manifest_not_fetched")
            rec.add_error(
                NAME, "manifest is remote-only; not fetched (offline)" + (f": {urls[0][:200]}" if urls else "")
            )
            return
        rec.c2pa.update(present=view.jumbf, validation_state="unreadable" if view.jumbf else None)
        raise
    if reader is None:
        return
    with reader:
        store = loads(reader.json(), 128)
        state = reader.get_validation_state()
    if not isinstance(store, dict):
        raise ValueError("manifest store JSON is not an object")
    summary = summarize(store, state)
    rec.c2pa.update(summary)
    strength = {"trusted": "verified", "valid": "declared"}.get(summary["validation_state"], "likely")
    why = {
        "verified": "trusted signer",
        "declared": "valid signature, signer not in trust anchors",
        "likely": f"manifest {summary['validation_state']}",
    }[strength]
    for dst in summary["digital_source_types"]:
        if is_ai_source_type(dst):
            rec.add_evidence(
                Evidence("c2pa", strength, f"C2PA action digitalSourceType {source_type_name(dst)} ({why})")
            )
    for ing in summary["ingredients"]:
        for dst in ing["digital_source_types"]:
            if is_ai_source_type(dst):
                rec.add_evidence(
                    Evidence(
                        "c2pa",
                        strength,
                        f"C2PA ingredient {ing['title']!r} digitalSourceType {source_type_name(dst)} ({why})",
                    )
                )


def dumps_settings(trust_anchors_pem: str | None) -> str:
    return json.dumps(settings_for(trust_anchors_pem))
