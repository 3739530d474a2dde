"""Malformed input never crashes: fuzzed containers and parsers, caps."""

from __future__ import annotations

import json
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_provenance_support import PROV, exif_bytes, image, jpeg, png, uc_unicode, webp
from tripline.provenance import ProvenanceOptions, a1111, comfyui, read_provenance
from tripline.provenance.container import decode_user_comment
from tripline.provenance.util import SourceError, loads

FAST = ProvenanceOptions(watermarks=False, c2pa=False)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _ok(data: bytes, opts=FAST):
    rec = read_provenance(data, options=opts)
    json.dumps(rec.to_dict())
    return rec


def _chunk(ctype: bytes, body: bytes, length: int | None = None) -> bytes:
    n = len(body) if length is None else length
    return struct.pack(">I", n) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


PNG_SIG = b"\x89PNG\r\n\x1a\n"
IHDR = _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))


@SETTINGS
@given(st.binary(max_size=4096))
def test_random_bytes(data):
    _ok(data)


@SETTINGS
@given(
    st.sampled_from(
        [PNG_SIG, b"\xff\xd8", b"RIFF\x00\x10\x00\x00WEBP", b"II*\x00", b"GIF89a", b"\x00\x00\x00\x18ftypavif"]
    ),
    st.binary(max_size=2048),
)
def test_magic_then_garbage(prefix, rest):
    _ok(prefix + rest)


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.sampled_from([b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"caBX", b"IDAT", b"abcd"]), st.binary(max_size=300)
        ),
        max_size=8,
    )
)
def test_png_random_chunks(chunks):
    data = PNG_SIG + IHDR + b"".join(_chunk(t, b) for t, b in chunks) + _chunk(b"IEND", b"")
    _ok(data)


@SETTINGS
@given(st.text(max_size=2000))
def test_parameters_text(text):
    for data in (
        png({"parameters": text}),
        png({"prompt": text, "workflow": text}),
        png({"invokeai_metadata": text, "sd-metadata": text, "Dream": text}),
        png({"Comment": text, "Software": "NovelAI", "Description": text}),
        png({"AIGC": text, "Description": text + " Job ID: 1b2c3d4e-0000-4a5b-9c8d-7e6f5a4b3c2d"}),
    ):
        _ok(data)
    a1111.split_parameters(text)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=40,
)


@SETTINGS
@given(JSON)
def test_json_of_wrong_shape(obj):
    text = json.dumps(obj)
    _ok(png({"parameters": text, "prompt": text, "invokeai_metadata": text, "sd-metadata": text}))
    _ok(png({"parameters": json.dumps({"sui_image_params": obj, "sui_models": obj})}))
    _ok(png({"parameters": json.dumps({"base_model": obj, "full_prompt": obj, "loras": obj, "version": "Fooocus"})}))
    _ok(png({"Comment": json.dumps({"uc": obj, "signed_hash": "AAAA", "prompt": obj}), "Software": "NovelAI"}))


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(["1", "2", "3", "4"]),
        st.fixed_dictionaries(
            {
                "class_type": st.sampled_from(["KSampler", "CLIPTextEncode", "LoraLoader", "X"]),
                "inputs": st.dictionaries(
                    st.sampled_from(
                        ["seed", "positive", "negative", "model", "text", "clip", "lora_name", "ckpt_name", "value"]
                    ),
                    st.one_of(
                        st.text(max_size=10),
                        st.integers(),
                        st.tuples(st.sampled_from(["1", "2", "3", "4", "9"]), st.integers(0, 2)).map(list),
                    ),
                    max_size=6,
                ),
            }
        ),
        max_size=4,
    )
)
def test_comfy_graphs(graph):
    comfyui.generation_from_prompt_graph(graph, 1000)
    _ok(png({"prompt": json.dumps(graph)}))


@SETTINGS
@given(st.binary(max_size=600))
def test_user_comment_bytes(raw):
    decode_user_comment(raw)
    decode_user_comment(b"UNICODE\x00" + raw)
    _ok(jpeg(exif=exif_bytes(user_comment=raw)))


def test_deep_nesting_refused():
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(SourceError):
        loads(deep, 64)
    rec = _ok(png({"prompt": deep, "parameters": "{" * 50_000, "invokeai_metadata": deep}))
    assert rec.errors and rec.to_dict()["generator"] is None


def test_huge_declared_chunk_length():
    data = PNG_SIG + IHDR + _chunk(b"tEXt", b"parameters\x00x", length=0x7FFFFFFF)
    rec = _ok(data)
    assert any("truncated" in e["message"] for e in rec.errors)
    assert rec.item_error["code"] == "truncated"


def test_ztxt_bomb_capped():
    bomb = zlib.compress(b"a" * (64 * 1024 * 1024), 9)
    data = PNG_SIG + IHDR + _chunk(b"zTXt", b"parameters\x00\x00" + bomb) + _chunk(b"IEND", b"")
    rec = _ok(data, ProvenanceOptions(watermarks=False, c2pa=False, max_chunk_bytes=1024 * 1024))
    assert any("over max_chunk_bytes" in e["message"] for e in rec.errors)


def test_chunk_over_cap_skipped():
    big = "x" * 3000
    rec = _ok(
        png({"parameters": big + "\nSteps: 1, Seed: 2, Sampler: Euler"}),
        ProvenanceOptions(watermarks=False, max_chunk_bytes=1000),
    )
    assert rec.to_dict()["generator"] is None and rec.errors


def test_too_many_chunks():
    data = PNG_SIG + IHDR + _chunk(b"abcd", b"") * 100 + _chunk(b"IEND", b"")
    rec = _ok(data, ProvenanceOptions(watermarks=False, max_chunks=50))
    assert any("too many" in e["message"] for e in rec.errors)


def test_max_bytes():
    rec = read_provenance(b"\x89PNG" + b"\x00" * 2000, options=ProvenanceOptions(max_bytes=1000))
    assert rec.item_error["code"] == "too_many_bytes"


def test_long_prompt_clipped():
    text = "a quiet meadow " * 10_000 + "\nSteps: 1, Seed: 2, Sampler: Euler"
    d = _ok(png({"parameters": text}), ProvenanceOptions(watermarks=False, max_text_chars=1000)).to_dict()
    assert len(d["prompt"]) == 1000


def test_not_bytes():
    rec = read_provenance("not bytes")  # type: ignore[arg-type]
    assert rec.errors and rec.errors[0]["source"] == "input"


def test_wrong_types_in_sources():
    _ok(png({"parameters": json.dumps({"sui_image_params": [1, 2]})}))
    _ok(png({"invokeai_metadata": json.dumps({"model": [1], "loras": {"a": 1}, "seed": "x"})}))
    _ok(png({"prompt": json.dumps([1, 2, 3])}))
    _ok(webp(exif=exif_bytes(user_comment=uc_unicode("{not json"))))


@pytest.mark.parametrize("cut", [10, 50, 200, 1000])
def test_truncated_real_files(cut):
    for rel in (
        "generators/AUTOMATIC1111/automatic1111_cropped.png",
        "generators/AUTOMATIC1111/automatic1111_cropped.jpg",
        "generators/ComfyUI/night_evening_day_morning_cropped.png",
        "c2pa/C.jpg",
        "watermark/sd1_barn_sun_btulbiaoilnxcse.png",
    ):
        p = PROV / rel
        if not p.exists():
            pytest.fail(f"shared fixture missing: {p}")
        data = p.read_bytes()
        _ok(data[:cut], ProvenanceOptions())
        _ok(data[: len(data) - cut], ProvenanceOptions())


@SETTINGS
@given(st.integers(0, 10_000), st.integers(0, 255))
def test_bitflips_in_real_files(pos, val):
    for rel in (
        "generators/AUTOMATIC1111/automatic1111_stealth.png",
        "generators/NovelAI/novelai1_cropped.png",
        "generators/AUTOMATIC1111/automatic1111_cropped.jpg",
    ):
        data = bytearray((PROV / rel).read_bytes())
        data[pos % len(data)] = val
        _ok(bytes(data), ProvenanceOptions(c2pa=False))


def test_image_corrupt_pixels_contained():
    data = bytearray(png({}, img=image((300, 300))))
    idat = data.find(b"IDAT")
    data[idat + 20 : idat + 60] = b"\x00" * 40
    _ok(bytes(data), ProvenanceOptions())


@pytest.mark.parametrize(
    "payload",
    [
        "word " * 400_000,  # long line without key/values
        "a" * 2_000_000,  # one huge word
        ("x:" + "y" * 50) * 20_000,  # many colons
        '"' * 1_000_000,  # quote storm
        "<lora:" * 200_000,  # unterminated tags
        "[" * 500_000,
    ],
)
def test_pathological_text_is_fast(payload):
    import time

    # CPU time of this process, not wall time: the guard is against quadratic
    # parsing, and CI shares its two cores with other jobs.
    t = time.process_time()
    for data in (
        png({"parameters": payload, "Description": payload, "Dream": payload[:100_000]}),
        png(itxt={"XML:com.adobe.xmp": xmp_like(payload)}),
    ):
        _ok(data, ProvenanceOptions(watermarks=False))
    assert time.process_time() - t < 10


def xmp_like(payload: str) -> str:
    return (
        '<x:xmpmeta><rdf:RDF><rdf:Description a:DigitalSourceType="'
        + payload[:1000]
        + '">'
        + "<a:UserComment>" * 50_000
        + "<rdf:li>" * 50_000
        + payload
        + "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
