"""What a worker does with one item: hash it, read its provenance, and make
the safe thumbnail a report may show. Plain data in, plain data out."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace

from tripline.classifiers.prepare import InputSpec, prepare
from tripline.hashing import hash_bytes
from tripline.media import EXTENSION_TYPES, Limits, deadline, sniff
from tripline.media.decode import looks_truncated
from tripline.media.thumbnail import safe_thumbnail
from tripline.model import ErrorCode, ItemError
from tripline.scan.walker import Item
from tripline.video import VideoOptions, is_video, process_video_item
from tripline.video.intake import ANIMATED_TYPES


@dataclass(frozen=True)
class ScanOptions:
    limits: Limits = field(default_factory=Limits)
    exact: bool = False
    exact_dihedral: bool = False
    # Normalised PDQ variants (trimmed border, removed banner; tripline.normalise),
    # matched by Matcher against the banks: ~2 ms per item.
    robust: bool = True
    # ORB keypoints for banks built from images (tripline.keypoints): ~8 ms per
    # item; run_scan turns it off when no bank holds keypoints.
    keypoints: bool = True
    provenance: bool = True
    watermarks: bool = True
    video: VideoOptions = field(default_factory=VideoOptions)
    # What the classifier stage needs kept of each image (tripline.classifiers).
    classifier_input: InputSpec | None = None
    # Data-segment cap (RLIMIT_DATA) of each scan worker, bytes; 0 = none.
    # An item that needs more fails alone with a per-item error.
    max_worker_memory: int = 3 * 1024**3
    # Archive-member bytes held in flight between the walker and the workers.
    max_inflight_bytes: int = 512 * 1024**2


def base_record(item: Item) -> dict:
    record: dict = {"key": item.key, "path": item.key, "stamp": item.stamp, "size": item.size}
    if item.key_b64:
        record["key_b64"] = item.key_b64
    return record


def process_item(item: Item, options: ScanOptions) -> tuple[dict, bytes | None]:
    """Return the item's record (without matches) and a blurred grayscale thumbnail."""
    started = time.monotonic()
    record = base_record(item)
    if item.skipped is not None:
        record["skipped"] = dict(item.skipped)
        return record, None
    if item.warnings:
        record["warnings"] = list(item.warnings)
    if item.error is not None:
        record["error"] = item.error.to_dict()
        return record, None
    try:
        data = item.read(options.limits.max_bytes)
    except ItemError as exc:
        record["error"] = exc.to_dict()
        return record, None
    record["size"] = len(data)
    if is_video(data):
        video_record, thumbs = process_video_item(data, _video_options(data, options))
        _merge(record, video_record)
        err = record.get("error")
        if err and err["code"] == ErrorCode.DECODE_ERROR and looks_truncated(data, sniff(data[:512])):
            err["code"] = str(ErrorCode.TRUNCATED)  # a cut-short animation, in the decoder's words
        # A list of frame thumbnails: the sink makes them one grid once it
        # knows which frames matched.
        return record, (thumbs or None)
    h = hash_bytes(
        data,
        options.limits,
        exact=options.exact,
        keep_image=True,
        exact_dihedral=options.exact_dihedral,
        robust=options.robust,
        keypoints=options.keypoints,
    )
    record.update(md5=h.md5, sha256=h.sha256)
    if h.error is not None:
        record["error"] = h.error.to_dict()
        # A file too small or too damaged to hash can still carry its
        # generator's prompt and model: read what is there.
        if options.provenance and h.error.code not in (
            ErrorCode.EMPTY,
            ErrorCode.UNSUPPORTED_TYPE,
            ErrorCode.TOO_MANY_BYTES,
        ):
            record["provenance"] = _provenance(data, options, started)
        return record, None
    record.update(
        media_type=h.media_type,
        width=h.width,
        height=h.height,
        pdq=h.pdq,
        pdq_quality=h.pdq_quality,
        pdq_dihedral=list(h.pdq_dihedral),
        pdq_variants=list(h.pdq_variants),
    )
    if h.keypoints is not None:
        # Consumed by the matcher and dropped by finish_records: never written.
        record["keypoints"] = h.keypoints
    claimed = EXTENSION_TYPES.get(os.path.splitext(item.key)[1].lower())
    if claimed and claimed != h.media_type:
        record.setdefault("warnings", []).append(f"extension_mismatch: named as {claimed}, content is {h.media_type}")
    if options.provenance:
        record["provenance"] = _provenance(data, options, started)
    if options.classifier_input is not None:
        record["classifier_input"] = prepare(h.image, data, options.classifier_input)
    thumb = safe_thumbnail(h.image) if h.image is not None else None
    return record, thumb


def _merge(record: dict, extra: dict) -> None:
    warnings = record.get("warnings", []) + extra.pop("warnings", [])
    record.update(extra)
    if warnings:
        record["warnings"] = warnings


def _video_options(data: bytes, options: ScanOptions) -> ScanOptions:
    """An animated GIF/WebP decodes in this process like an image, so the
    item's time limit bounds it (not the video decoder's longer limit, which
    is for FFmpeg's killable child process)."""
    vlimits = options.video.limits
    if sniff(data[:512]) not in ANIMATED_TYPES or vlimits.max_decode_seconds <= options.limits.max_seconds:
        return options
    return replace(
        options, video=replace(options.video, limits=replace(vlimits, max_decode_seconds=options.limits.max_seconds))
    )


# Provenance gets what hashing left of the item's time limit, but never less
# than this: a slow decode must not cost the item its metadata outright.
_MIN_PROVENANCE_SECONDS = 1.0


def _provenance(data: bytes, options: ScanOptions, started: float) -> dict | None:
    try:
        from tripline.provenance import ProvenanceOptions, read_provenance
    except ImportError:  # provenance package not installed in this build
        return None
    budget = max(options.limits.max_seconds - (time.monotonic() - started), _MIN_PROVENANCE_SECONDS)
    try:
        with deadline(budget, "provenance"):
            return read_provenance(data, options=ProvenanceOptions(watermarks=options.watermarks)).to_dict()
    except ItemError as exc:  # the deadline: the hashes already taken stand
        return {"errors": [{"source": "provenance", "message": exc.message}], "timed_out": True}
    except Exception as exc:  # noqa: BLE001 - provenance must never fail the item's hashes
        return {"errors": [{"source": "provenance", "message": f"{type(exc).__name__}: {exc}"}]}


def crashed_record(item: Item, message: str, code: ErrorCode = ErrorCode.WORKER_CRASHED) -> dict:
    return {**base_record(item), "error": {"code": str(code), "message": message}}
