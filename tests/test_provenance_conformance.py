"""Conformance on the real files in ../shared/fixtures/provenance."""

from __future__ import annotations

import json

import pytest

from test_provenance_support import PROV, shared_path
from tripline.provenance import ProvenanceOptions, read_provenance

GENERATOR_FAMILY = {
    "AUTOMATIC1111": "a1111",
    "COMFYUI": "comfyui",
    "FOOOCUS": "fooocus",
    "INVOKEAI": "invokeai",
    "NOVELAI": "novelai",
}


def _expected():
    return json.loads(shared_path("fixtures", "provenance", "generators", "expected-sd-parsers.json").read_text())


def _cases():
    path = PROV / "generators" / "expected-sd-parsers.json"
    if not path.exists():
        return ["<missing shared data>"]
    return sorted(json.loads(path.read_text()))


@pytest.mark.parametrize("rel", _cases())
def test_matches_sd_parsers(rel):
    exp = _expected()[rel]
    data = shared_path("fixtures", "provenance", "generators", rel).read_bytes()
    rec = read_provenance(data, options=ProvenanceOptions(watermarks=False))
    d = rec.to_dict()
    assert d["errors"] == []
    assert d["generator"]["family"] == GENERATOR_FAMILY[exp["generator"]]
    assert sorted(rec.all_prompts()) == sorted(exp["prompts"])
    assert sorted(rec.all_negative_prompts()) == sorted(exp["negative_prompts"])
    assert sorted(str(s) for s in rec.all_seeds()) == sorted(exp["seeds"])
    got_models = sorted((m["name"], m["hash"]) for m in d["models"] if m["kind"] == "checkpoint")
    assert got_models == sorted((m["name"], m["hash"]) for m in exp["models"])
    # The flat record fields carry the same values.
    assert d["prompt"].split("\n") == rec.all_prompts() or len(exp["prompts"]) == 1
    assert d["seed"] == int(exp["seeds"][0]) or len(exp["seeds"]) > 1
    assert d["synthetic"] == "declared"
    assert {"kind": "generator_metadata", "strength": "declared"}.items() <= d["evidence"][0].items()


C2PA_STATES = {
    "C.jpg": ("valid", True),
    "CA.jpg": ("valid", False),
    "CIE-sig-CA.jpg": ("invalid", True),
    "E-sig-CA.jpg": ("invalid", False),
    "XCA.jpg": ("invalid", False),
    "cloud.jpg": ("remote_manifest_not_fetched", False),
    "video1.mp4": ("valid", False),
}


@pytest.mark.parametrize("name", sorted(C2PA_STATES))
def test_c2pa_states(name):
    state, ai = C2PA_STATES[name]
    data = shared_path("fixtures", "provenance", "c2pa", name).read_bytes()
    d = read_provenance(data, options=ProvenanceOptions(watermarks=False)).to_dict()
    assert d["c2pa"]["present"] is True
    assert d["c2pa"]["validation_state"] == state
    if state != "remote_manifest_not_fetched":
        assert d["c2pa"]["claim_generator"]
        assert d["c2pa"]["issuer"]
    has_ai = any(s.endswith("/algorithmicMedia") for s in d["c2pa"]["digital_source_types"])
    assert has_ai is ai
    if name == "C.jpg":
        assert d["c2pa"]["claim_generator"].startswith("make_test_images")
        # Valid signature but the signer is not a configured trust anchor: declared, not verified.
        assert d["synthetic"] == "declared"
    if name == "CIE-sig-CA.jpg":
        assert d["synthetic"] == "likely"  # an invalid manifest's claim is weak evidence
    if name in ("CA.jpg", "XCA.jpg"):
        assert d["c2pa"]["ingredients"] and d["c2pa"]["ingredients"][0]["title"] == "A.jpg"


def test_c2pa_absent():
    data = shared_path("fixtures", "provenance", "c2pa", "A.jpg").read_bytes()
    d = read_provenance(data, options=ProvenanceOptions(watermarks=False)).to_dict()
    assert d["c2pa"]["present"] is False and d["synthetic"] == "none"


def _c2pa_test_root_pem(data: bytes) -> str:
    """The C2PA test root CA is embedded in the manifest's certificate chain."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    i = 0
    while (i := data.find(b"\x30\x82", i)) >= 0:
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        try:
            cert = x509.load_der_x509_certificate(data[i : i + 4 + length])
        except ValueError:
            cert = None
        if cert is not None and "C2PA Test Root CA" in cert.subject.rfc4514_string():
            return cert.public_bytes(serialization.Encoding.PEM).decode()
        i += 1
    raise AssertionError("no test root in C.jpg")


def test_c2pa_trust_anchor_makes_it_verified(tmp_path):
    data = shared_path("fixtures", "provenance", "c2pa", "C.jpg").read_bytes()
    pem = _c2pa_test_root_pem(data)
    d = read_provenance(data, options=ProvenanceOptions(watermarks=False, trust_anchors_pem=pem)).to_dict()
    assert d["c2pa"]["validation_state"] == "trusted"
    assert d["synthetic"] == "verified"
    assert any(e["kind"] == "c2pa" and e["strength"] == "verified" for e in d["evidence"])


def test_watermark_fixtures():
    expected = json.loads(shared_path("fixtures", "provenance", "watermark", "expected.json").read_text())
    for name, exp in expected.items():
        data = shared_path("fixtures", "provenance", "watermark", name).read_bytes()
        d = read_provenance(data).to_dict()
        if exp["scheme"] is None:
            assert d["watermarks"] == [], name
            assert d["synthetic"] == "none", name
            continue
        assert len(d["watermarks"]) == 1, (name, d["watermarks"])
        w = d["watermarks"][0]
        assert w["scheme"] == exp["scheme"], name
        assert w["bits_matched"] == w["bits_total"], name
        assert w["confidence"] == "very_likely"
        if "payload" in exp:
            assert w["payload"] == exp["payload"]
        if exp["scheme"] == "sdxl":
            assert w["payload"] == "0xB3EC907BB19E" and w["bits_total"] == 48
        assert d["synthetic"] == "likely"


def test_watermark_fixtures_off_when_disabled():
    data = shared_path("fixtures", "provenance", "watermark", "sdxl_abbey_sun_asztnlqhlrvirn.png").read_bytes()
    assert read_provenance(data, options=ProvenanceOptions(watermarks=False)).to_dict()["watermarks"] == []


@pytest.mark.parametrize(
    "name,code",
    [
        ("empty_file.png", "empty"),
        ("empty_image.jpg", None),
        ("empty_image.png", None),
        ("text_after_idat.png", None),
    ],
)
def test_malformed(name, code):
    data = shared_path("fixtures", "provenance", "malformed", name).read_bytes()
    rec = read_provenance(data)
    assert (rec.item_error or {}).get("code") == code
    d = rec.to_dict()
    json.dumps(d)
    if name == "text_after_idat.png":
        # text chunks after IDAT are still read
        assert d["prompt"] == "photo of a duck" and d["models"][0]["hash"] == "c0d1994c73"
    elif code is None:
        assert d["synthetic"] == "none"
