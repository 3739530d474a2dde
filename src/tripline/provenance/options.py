"""Options and hard caps for :func:`tripline.provenance.read_provenance`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProvenanceOptions:
    """What to read and how much of it.

    Every cap exists so that a hostile file cannot make the reader use
    unbounded memory or time; a value over a cap is skipped and noted in
    ``record.errors`` rather than raised.
    """

    watermarks: bool = True
    c2pa: bool = True
    # PEM bundle (the text, not a path) of extra C2PA trust anchors. Only a
    # manifest chained to one of these is "Trusted", which is what makes C2PA
    # evidence count as *verified*.
    trust_anchors_pem: str | None = None
    max_bytes: int = 256 * 1024 * 1024  # whole input
    max_chunk_bytes: int = 4 * 1024 * 1024  # one metadata chunk / segment (after decompression)
    max_chunks: int = 4096  # container chunks / segments walked
    max_text_chars: int = 256 * 1024  # one prompt / text field kept in the record
    max_json_depth: int = 64  # nesting allowed in embedded JSON
    max_graph_nodes: int = 10_000  # ComfyUI graph size
    max_pixels: int = 64_000_000  # image decode (stealth / watermark / NovelAI signature)
    max_stealth_bytes: int = 1024 * 1024  # stealth pnginfo payload
    max_models: int = 256  # models / LoRAs kept in the record
    # Wall clock for all parsers together (main thread only: SIGALRM); what
    # ran out of time is noted in ``record.errors``, the rest of the record stands.
    max_seconds: float = 30.0
    # Ed25519 keys (base64) whose NovelAI ``signed_hash`` counts as verified.
    novelai_public_keys: tuple[str, ...] = ("Y2JcQAOhLwzwSDUJPNgL04nS0Tbqm7cSRc4xk0vRMic=",)
