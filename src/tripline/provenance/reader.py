"""``read_provenance``: parse the container once, run every source parser on
the shared view, contain each parser's failure into ``record.errors``."""

from __future__ import annotations

from collections.abc import Callable

from tripline.media.limits import deadline
from tripline.model import ItemError

from . import (
    a1111,
    c2pa,
    comfyui,
    drawthings,
    flux,
    fooocus,
    invokeai,
    midjourney,
    novelai,
    stealth,
    swarmui,
    watermark,
    xmp,
)
from .container import ContainerView
from .options import ProvenanceOptions
from .record import ProvenanceRecord

Extractor = Callable[[ContainerView, ProvenanceRecord], None]

# Order matters only for which generator becomes the record's primary one.
# Formats that share the PNG "parameters" chunk each check their own shape.
SOURCES: tuple[tuple[str, Extractor], ...] = (
    ("novelai", novelai.extract),
    ("comfyui", comfyui.extract),
    ("invokeai", invokeai.extract),
    ("swarmui", swarmui.extract),
    ("fooocus", fooocus.extract),
    ("a1111", a1111.extract),
    ("drawthings", drawthings.extract),
    ("midjourney", midjourney.extract),
    ("flux", flux.extract),
    ("stealth", stealth.extract),
    ("c2pa", c2pa.extract),
    ("xmp", xmp.extract),
    ("watermark", watermark.extract),
)


def _sources() -> list[tuple[str, Extractor]]:
    # The built-in SOURCES plus any a plug-in adds (tripline.plugins).
    from tripline.plugins import registry

    return [(s.name, s.extract) for s in registry().provenance_sources]


def read_provenance(data: bytes, *, options: ProvenanceOptions | None = None) -> ProvenanceRecord:
    """Everything the file says about how it was made. Pure: no I/O beyond
    ``data`` (no file access, no network). Never raises for bad input."""
    opts = options or ProvenanceOptions()
    rec = ProvenanceRecord(max_text_chars=opts.max_text_chars)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        rec.add_error("input", f"expected bytes, got {type(data).__name__}")
        return rec
    data = bytes(data)
    if not data:
        rec.add_error("input", "empty input")
        rec.item_error = {"code": "empty", "message": "zero-byte input"}
        return rec
    if len(data) > opts.max_bytes:
        rec.add_error("input", f"input of {len(data)} bytes over max_bytes={opts.max_bytes}")
        rec.item_error = {"code": "too_many_bytes", "message": f"over max_bytes={opts.max_bytes}"}
        return rec
    view = ContainerView(data, opts)
    rec.format = view.format
    try:
        with deadline(opts.max_seconds, "reading provenance"):
            for name, fn in _sources():
                try:
                    fn(view, rec)
                except RecursionError:
                    rec.add_error(name, "input nested too deeply")
                except MemoryError:
                    rec.add_error(name, "out of memory while parsing")
                except Exception as exc:  # noqa: BLE001 - contained by design: one source never breaks the others
                    rec.add_error(name, f"{type(exc).__name__}: {exc}")
    except ItemError as exc:  # the deadline: what was read so far stands
        rec.add_error("provenance", f"{exc.message}; the remaining sources were not read")
    for source, message in view.errors:
        rec.add_error(source, message)
    rec.item_error = _item_error(view, rec)
    return rec


def _item_error(view: ContainerView, rec: ProvenanceRecord) -> dict | None:
    if view.format == "unknown":
        if rec.c2pa.get("present"):
            return None
        return {"code": "unsupported_type", "message": "not a recognised image or media container"}
    if view.format == "bmff":
        return None
    truncated = [m for _, m in view.errors if "truncated" in m]
    if truncated:
        return {"code": "truncated", "message": truncated[0]}
    if view.size is None:
        return {"code": "decode_error", "message": "the image header could not be decoded"}
    return None
