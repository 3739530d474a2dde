"""Provenance parsing is linear and inside the item's time limit (#23 item 5)."""

import time

import hostile_corpus as hc
import pytest

from tripline.provenance import ProvenanceOptions, read_provenance
from tripline.scan.pipeline import ScanOptions, process_item
from tripline.scan.walker import Item


@pytest.fixture(scope="module")
def png():
    return hc.encode(hc.pattern(), "PNG")


def test_comfyui_sampler_cycle_is_linear(png):
    # Regression: N KSamplers linked in a cycle were quadratic (N=1000: 8 s, N=2000: 193 s).
    data = hc.png_with_chunks(png, hc.text_chunk(b"prompt", hc.comfy_cycle_graph(9999)))
    t0 = time.monotonic()
    rec = read_provenance(data).to_dict()
    assert time.monotonic() - t0 < 3
    assert rec["synthetic"] == "declared" and rec["generator"]["tool"] == "ComfyUI"
    assert rec["prompt"].startswith("a photo of a lighthouse")


def test_a1111_lora_flood_is_linear(png):
    # Regression: "<lora:" x 33,000 plus a settings line took 80 s.
    data = hc.png_with_chunks(png, hc.text_chunk(b"parameters", hc.lora_flood()))
    t0 = time.monotonic()
    rec = read_provenance(data).to_dict()
    assert time.monotonic() - t0 < 2
    assert rec["synthetic"] == "declared" and rec.get("seed") == 1


def test_lora_tags_still_parse():
    from tripline.provenance.a1111 import generation_from_text

    gen = generation_from_text("a cat <lora:ink:0.6> <lyco:soft> <hypernet:x:1>\nSteps: 20, Sampler: Euler, Seed: 5")
    assert {(m.name, m.weight) for m in gen.models if m.kind == "lora"} == {("ink", 0.6), ("soft", 1.0)}


def test_provenance_time_limit_keeps_the_hashes(png, monkeypatch):
    # A parser that never ends costs the item its provenance, never its PDQ.
    from tripline.provenance import reader

    def forever(view, rec):
        while True:
            pass

    monkeypatch.setattr(reader, "_sources", lambda: [("stuck", forever), *reader.SOURCES])
    t0 = time.monotonic()
    rec, _ = process_item(
        Item("p.png", "s", 0, data=png), ScanOptions(limits=ScanOptions().limits.__class__(max_seconds=1.0))
    )
    assert time.monotonic() - t0 < 4
    assert rec.get("error") is None and rec["pdq"]
    assert any("provenance" in e["message"] for e in rec["provenance"]["errors"])


def test_read_provenance_has_its_own_time_limit(png, monkeypatch):
    from tripline.provenance import reader

    monkeypatch.setattr(reader, "_sources", lambda: [("stuck", lambda v, r: time.sleep(30))])
    t0 = time.monotonic()
    rec = read_provenance(png, options=ProvenanceOptions(max_seconds=0.5)).to_dict()
    assert time.monotonic() - t0 < 3
    assert any("remaining sources were not read" in e["message"] for e in rec["errors"])


def test_cli_shows_hostile_names_and_prompts_as_text(tmp_path, png):
    # Rich markup in a file name or a prompt ("[/]") must neither crash the table nor style it.
    import subprocess
    import sys

    data = hc.png_with_chunks(
        png, hc.text_chunk(b"parameters", b"[/] [bold]loud[/bold]\nSteps: 20, Sampler: Euler, Seed: 3")
    )
    path = tmp_path / "[link=javascript:alert(1)]x[red].png"
    path.write_bytes(data)
    shown = {}
    for cmd in ("provenance", "hash"):
        proc = subprocess.run(
            [sys.executable, "-m", "tripline.cli", cmd, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            env={"COLUMNS": "300", "PATH": "/usr/bin:/bin"},
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        shown[cmd] = proc.stdout.replace("\n", "")
        assert "[link=javascript:alert(1)]x[red].png" in shown[cmd]
    assert "[/] [bold]loud[/bold]" in shown["provenance"]


def test_policy_on_a_lora_flood_prompt_is_linear():
    # The policy's text normalisation runs in the scan's parent process on every
    # prompt: its LoRA-tag pattern was quadratic too (13 s for this prompt, stalling the scan).
    from tripline.policy import decide, default_policy

    record = {
        "key": "x.png",
        "provenance": read_provenance(
            hc.png_with_chunks(hc.encode(hc.pattern(), "PNG"), hc.text_chunk(b"parameters", hc.lora_flood()))
        ).to_dict(),
    }
    assert len(record["provenance"]["prompt"]) > 100_000
    t0 = time.monotonic()
    decide(default_policy(), record)
    assert time.monotonic() - t0 < 2
