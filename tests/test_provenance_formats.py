"""Every supported format, from fixtures written here from the format's
definition (benign prompts only)."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from test_provenance_support import (
    dwtdct_embed,
    exif_bytes,
    image,
    jpeg,
    png,
    shared_path,
    stealth_embed,
    to_png_bytes,
    uc_ascii,
    uc_unicode,
    webp,
    xmp_packet,
)
from tripline.provenance import ProvenanceOptions, read_provenance

NOWM = ProvenanceOptions(watermarks=False)

A1111 = (
    "a watercolor landscape with mountains, <lora:watercolor_v2:0.8>\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234567890, Size: 768x512, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, VAE hash: 735e4c3a44, VAE: vae-ft-mse, "
    'Lora hashes: "watercolor_v2: 8f2a1b3c4d5e", '
    'Hashes: {"vae": "735e4c3a44", "lora:watercolor_v2": "8f2a1b3c4d5e", "model": "6ce0161689"}, '
    "Version: v1.10.1"
)


def rec(data, opts=NOWM):
    r = read_provenance(data, options=opts)
    d = r.to_dict()
    json.dumps(d)
    return r, d


def _check_a1111(d, tool="AUTOMATIC1111"):
    assert d["generator"]["tool"] == tool
    assert d["prompt"] == "a watercolor landscape with mountains, <lora:watercolor_v2:0.8>"
    assert d["negative_prompt"] == "blurry, lowres"
    assert d["seed"] == 1234567890 and d["steps"] == 28 and d["sampler"] == "DPM++ 2M Karras"
    assert d["size"] == {"width": 768, "height": 512}
    models = {m["kind"]: m for m in d["models"]}
    assert models["checkpoint"] == {
        "name": "v1-5-pruned-emaonly",
        "hash": "6ce0161689",
        "kind": "checkpoint",
        "weight": None,
    }
    assert models["lora"] == {"name": "watercolor_v2", "hash": "8f2a1b3c4d5e", "kind": "lora", "weight": 0.8}
    assert models["vae"]["hash"] == "735e4c3a44"
    assert d["synthetic"] == "declared"
    assert d["errors"] == []


def test_a1111_png():
    _, d = rec(png({"parameters": A1111}))
    _check_a1111(d)
    assert d["generator"]["version"] == "v1.10.1"


def test_a1111_png_itxt_compressed():
    _, d = rec(png(itxt={"parameters": A1111}))
    _check_a1111(d)


@pytest.mark.parametrize("uc", [uc_unicode(A1111, be=True), uc_unicode(A1111, be=False), uc_ascii(A1111)])
def test_a1111_jpeg_user_comment(uc):
    _, d = rec(jpeg(exif=exif_bytes(user_comment=uc)))
    _check_a1111(d)


def test_a1111_webp_user_comment():
    _, d = rec(webp(exif=exif_bytes(user_comment=uc_unicode(A1111))))
    _check_a1111(d)


def test_forge_and_sdnext_detected():
    _, d = rec(png({"parameters": A1111.replace("v1.10.1", "f2.0.1v1.10.1-previous-313-g8a042934")}))
    assert d["generator"]["tool"] == "Forge"
    _, d = rec(png({"parameters": A1111 + ", App: SD.Next"}))
    assert d["generator"]["tool"] == "SD.Next"


def test_a1111_prompt_only_no_negative():
    text = "a cat on a sofa\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 512x512"
    _, d = rec(png({"parameters": text}))
    assert d["prompt"] == "a cat on a sofa" and d["negative_prompt"] is None and d["models"] == []


@pytest.mark.parametrize("mode,compressed", [("alpha", False), ("alpha", True), ("rgb", False), ("rgb", True)])
def test_stealth_png(mode, compressed):
    img = stealth_embed(
        image((96, 96), "RGBA" if mode == "alpha" else "RGB"), A1111.encode(), mode=mode, compressed=compressed
    )
    _, d = rec(to_png_bytes(img))
    _check_a1111(d)
    assert "stealth" in d["evidence"][0]["detail"]


def test_stealth_lossless_webp():
    img = stealth_embed(image((96, 96), "RGBA"), A1111.encode(), mode="alpha", compressed=True)
    buf = io.BytesIO()
    img.save(buf, "WEBP", lossless=True, exact=True)
    _, d = rec(buf.getvalue())
    _check_a1111(d)


def test_stealth_length_over_cap_is_contained():
    img = stealth_embed(image((96, 96), "RGBA"), b"x" * 100, mode="alpha")
    arr = np.array(img)
    # Rewrite the 32-bit length to 2**31 bits.
    bits = np.unpackbits(np.frombuffer(b"stealth_pnginfo" + (2**31).to_bytes(4, "big"), dtype=np.uint8))
    plane = arr[:, :, 3].T.copy().reshape(-1)
    plane[: len(bits)] = (plane[: len(bits)] & 0xFE) | bits
    arr[:, :, 3] = plane.reshape(96, 96).T
    r, d = rec(to_png_bytes(Image.fromarray(arr)))
    assert d["generator"] is None
    assert any(e["source"] == "stealth" for e in d["errors"])


COMFY_PROMPT = {
    "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
    "2": {
        "class_type": "LoraLoader",
        "inputs": {
            "lora_name": "teapot_style.safetensors",
            "strength_model": 0.7,
            "strength_clip": 0.7,
            "model": ["1", 0],
            "clip": ["1", 1],
        },
    },
    "3": {"class_type": "PrimitiveNode", "inputs": {"value": "a porcelain teapot on a wooden table"}},
    "4": {"class_type": "CLIPTextEncode", "inputs": {"text": ["3", 0], "clip": ["2", 1]}},
    "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "ugly, blurry", "clip": ["2", 1]}},
    "6": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 768, "batch_size": 1}},
    "7": {
        "class_type": "KSampler",
        "inputs": {
            "seed": 42,
            "steps": 25,
            "cfg": 7.0,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1.0,
            "model": ["2", 0],
            "positive": ["4", 0],
            "negative": ["5", 0],
            "latent_image": ["6", 0],
        },
    },
    "8": {"class_type": "CLIPTextEncode", "inputs": {"text": "an unused decoy prompt", "clip": ["1", 1]}},
}


def test_comfyui_follows_links():
    _, d = rec(png({"prompt": json.dumps(COMFY_PROMPT), "workflow": "{}"}))
    assert d["generator"]["family"] == "comfyui"
    assert d["prompt"] == "a porcelain teapot on a wooden table"
    assert d["negative_prompt"] == "ugly, blurry"
    assert d["seed"] == 42 and d["steps"] == 25 and d["sampler"] == "euler"
    kinds = {(m["name"], m["kind"], m["weight"]) for m in d["models"]}
    assert ("sd_xl_base_1.0.safetensors", "checkpoint", None) in kinds
    assert ("teapot_style.safetensors", "lora", 0.7) in kinds
    assert d["size"] == {"width": 1024, "height": 768}


def test_comfyui_cycle_and_dangling_links():
    g = {
        "1": {
            "class_type": "KSampler",
            "inputs": {"seed": 1, "model": ["2", 0], "positive": ["2", 0], "negative": ["99", 0]},
        },
        "2": {"class_type": "Weird", "inputs": {"a": ["1", 0], "model": ["1", 0]}},
    }
    _, d = rec(png({"prompt": json.dumps(g)}))
    assert d["seed"] == 1 and d["errors"] == []


def test_comfyui_workflow_only():
    wf = {
        "nodes": [
            {"type": "CheckpointLoaderSimple", "widgets_values": ["dreamshaper_8.safetensors"]},
            {"type": "CLIPTextEncode", "widgets_values": ["a lighthouse at dusk"]},
            {"type": "KSampler", "widgets_values": [7, "fixed", 20, 8, "euler", "normal", 1]},
        ]
    }
    _, d = rec(png({"workflow": json.dumps(wf)}))
    assert d["prompt"] == "a lighthouse at dusk" and d["models"][0]["name"] == "dreamshaper_8.safetensors"


NAI_COMMENT = {
    "prompt": "a cat sleeping in the sun",
    "steps": 28,
    "height": 64,
    "width": 64,
    "scale": 5.0,
    "seed": 987654321,
    "sampler": "k_euler_ancestral",
    "uc": "lowres",
}


def _nai_signed(img: Image.Image, comment: dict):
    """Sign as NovelAI does (RGB bytes + json.dumps(comment)) with a throwaway key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pub = base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ).decode()
    arr = np.asarray(img)
    sig = key.sign(arr[:, :, :3].tobytes() + json.dumps(comment).encode())
    signed = dict(comment, signed_hash=base64.b64encode(sig).decode())
    return signed, pub


def _nai_texts(comment):
    return {
        "Title": "NovelAI generated image",
        "Description": comment["prompt"],
        "Software": "NovelAI",
        "Source": "NovelAI Diffusion V4.5 4BDE2A90",
        "Comment": json.dumps(comment),
    }


def test_novelai_png_chunks_and_signature():
    img = image((64, 64), "RGBA", seed=3)
    signed, pub = _nai_signed(img, NAI_COMMENT)
    data = png(_nai_texts(signed), img=img)
    opts = ProvenanceOptions(watermarks=False, novelai_public_keys=(pub,))
    _, d = rec(data, opts)
    assert d["generator"]["tool"] == "NovelAI"
    assert d["prompt"] == "a cat sleeping in the sun" and d["negative_prompt"] == "lowres"
    assert d["models"][0] == {
        "name": "NovelAI Diffusion V4.5",
        "hash": "4BDE2A90",
        "kind": "checkpoint",
        "weight": None,
    }
    assert d["seed"] == 987654321
    assert d["synthetic"] == "verified"
    # Against NovelAI's real key the throwaway signature does not verify.
    _, d2 = rec(data)
    assert d2["synthetic"] == "declared"
    assert any(e["kind"] == "signature" and "does not verify" in e["detail"] for e in d2["evidence"])


def test_novelai_signature_breaks_when_pixels_change():
    img = image((64, 64), "RGBA", seed=3)
    signed, pub = _nai_signed(img, NAI_COMMENT)
    arr = np.array(img)
    arr[0, 0, 0] ^= 1
    data = png(_nai_texts(signed), img=Image.fromarray(arr))
    _, d = rec(data, ProvenanceOptions(watermarks=False, novelai_public_keys=(pub,)))
    assert d["synthetic"] == "declared"


def test_novelai_stealth_alpha():
    img = image((128, 128), "RGBA", seed=4)
    signed, pub = _nai_signed(img, NAI_COMMENT)  # signature covers RGB only, so alpha LSBs may change
    meta = {
        "Description": NAI_COMMENT["prompt"],
        "Software": "NovelAI",
        "Source": "NovelAI Diffusion V4.5 4BDE2A90",
        "Comment": json.dumps(signed),
    }
    img2 = stealth_embed(img, json.dumps(meta).encode(), mode="alpha", compressed=True)
    _, d = rec(to_png_bytes(img2), ProvenanceOptions(watermarks=False, novelai_public_keys=(pub,)))
    assert d["generator"]["tool"] == "NovelAI" and d["prompt"] == "a cat sleeping in the sun"
    assert d["synthetic"] == "verified"


def test_novelai_webp_exif():
    img = image((64, 64), "RGBA", seed=5)
    signed, pub = _nai_signed(img, NAI_COMMENT)
    ex = exif_bytes(
        user_comment=uc_ascii(json.dumps(signed)), Software="NovelAI", ImageDescription=NAI_COMMENT["prompt"]
    )
    buf = io.BytesIO()
    img.save(buf, "WEBP", lossless=True, exact=True, exif=ex)
    _, d = rec(buf.getvalue(), ProvenanceOptions(watermarks=False, novelai_public_keys=(pub,)))
    assert d["generator"]["tool"] == "NovelAI" and d["seed"] == 987654321
    assert d["synthetic"] == "verified"


def test_invokeai_v3():
    meta = {
        "positive_prompt": "a red barn in a snowy field",
        "negative_prompt": "people",
        "width": 768,
        "height": 512,
        "seed": 77,
        "steps": 30,
        "scheduler": "dpmpp_2m",
        "app_version": "5.4.2",
        "model": {"key": "k1", "hash": "blake3:abcd", "name": "juggernautXL", "base": "sdxl", "type": "main"},
        "loras": [{"model": {"key": "k2", "name": "snowy", "hash": "blake3:ef01"}, "weight": 0.6}],
        "vae": {"name": "sdxl-vae-fp16-fix"},
    }
    _, d = rec(png({"invokeai_metadata": json.dumps(meta)}))
    assert d["generator"] == {"family": "invokeai", "tool": "InvokeAI", "version": "5.4.2"}
    assert d["prompt"] == "a red barn in a snowy field" and d["negative_prompt"] == "people"
    assert {"name": "snowy", "hash": "blake3:ef01", "kind": "lora", "weight": 0.6} in d["models"]
    assert d["models"][0]["hash"] == "blake3:abcd"


def test_invokeai_v2_sd_metadata():
    meta = {
        "model": "stable diffusion",
        "model_weights": "stable-diffusion-1.5",
        "model_hash": "cc6cb27103",
        "app_id": "invoke-ai/InvokeAI",
        "app_version": "2.3.5",
        "image": {
            "prompt": [{"prompt": "a teapot on a shelf [blurry, dark]", "weight": 1}],
            "seed": 11,
            "steps": 50,
            "sampler": "k_lms",
            "width": 512,
            "height": 512,
        },
    }
    _, d = rec(png({"sd-metadata": json.dumps(meta)}))
    assert d["prompt"] == "a teapot on a shelf" and d["negative_prompt"] == "blurry, dark"
    assert d["models"][0] == {
        "name": "stable-diffusion-1.5",
        "hash": "cc6cb27103",
        "kind": "checkpoint",
        "weight": None,
    }
    assert d["seed"] == 11


def test_invokeai_v1_dream():
    _, d = rec(png({"Dream": '"a foggy forest path [people]" -s 50 -S 3357757885 -W 512 -H 512 -C 7.5 -A k_lms'}))
    assert d["prompt"] == "a foggy forest path" and d["negative_prompt"] == "people"
    assert d["seed"] == 3357757885 and d["steps"] == 50 and d["sampler"] == "k_lms"


FOOOCUS = {
    "prompt": "a cozy cabin by a lake",
    "negative_prompt": "dark",
    "styles": "['Fooocus V2']",
    "performance": "Speed",
    "resolution": "(1152, 896)",
    "guidance_scale": 4,
    "sharpness": 2,
    "base_model": "juggernautXL_v8Rundiffusion",
    "base_model_hash": "aeb7e9e689",
    "refiner_model": "None",
    "loras": [["sd_xl_offset_example-lora_1.0.safetensors", 0.1, "4852686128"]],
    "seed": "12345",
    "sampler": "dpmpp_2m_sde_gpu",
    "steps": 30,
    "version": "Fooocus v2.5.5",
    "metadata_scheme": "fooocus",
}


def test_fooocus_png_json():
    _, d = rec(png({"parameters": json.dumps(FOOOCUS), "fooocus_scheme": "fooocus"}))
    assert d["generator"]["tool"] == "Fooocus" and d["prompt"] == "a cozy cabin by a lake"
    assert {
        "name": "sd_xl_offset_example-lora_1.0.safetensors",
        "hash": "4852686128",
        "kind": "lora",
        "weight": 0.1,
    } in d["models"]
    assert d["size"] == {"width": 1152, "height": 896} and d["seed"] == 12345


def test_fooocus_jpeg_exif_json():
    ex = exif_bytes(user_comment=uc_ascii(json.dumps(FOOOCUS)), Software="Fooocus v2.5.5", MakerNote=b"fooocus")
    _, d = rec(jpeg(exif=ex))
    assert d["generator"]["tool"] == "Fooocus" and d["models"][0]["hash"] == "aeb7e9e689"


def test_fooocus_a1111_scheme():
    text = A1111.replace("Version: v1.10.1", "Version: Fooocus v2.5.5")
    _, d = rec(png({"parameters": text, "fooocus_scheme": "a1111"}))
    assert d["generator"]["family"] == "fooocus" and d["prompt"].startswith("a watercolor landscape")


SWARM = {
    "sui_image_params": {
        "prompt": "a field of sunflowers",
        "negativeprompt": "text",
        "model": "OfficialStableDiffusion/sd_xl_base_1.0",
        "seed": 1701,
        "steps": 20,
        "cfgscale": 7,
        "width": 1024,
        "height": 1024,
        "sampler": "euler",
        "loras": ["flowers_v1"],
        "loraweights": ["0.5"],
        "swarm_version": "0.9.2.1",
    },
    "sui_models": [
        {
            "name": "OfficialStableDiffusion/sd_xl_base_1.0.safetensors",
            "param": "model",
            "hash": "0x31e35c80fc4829d14f90153f4c74cd59c90b779f6afe05a74cd6120b893f7e5b",
        }
    ],
}


def test_swarmui_png_and_exif():
    for data in (
        png({"parameters": json.dumps(SWARM)}),
        jpeg(exif=exif_bytes(user_comment=uc_unicode(json.dumps(SWARM)))),
    ):
        _, d = rec(data)
        assert d["generator"] == {"family": "swarmui", "tool": "SwarmUI", "version": "0.9.2.1"}
        assert d["prompt"] == "a field of sunflowers" and d["seed"] == 1701
        assert d["models"][0]["hash"].startswith("0x31e35c80")
        assert {"name": "flowers_v1", "hash": None, "kind": "lora", "weight": 0.5} in d["models"]


def test_drawthings_xmp():
    dt = {
        "c": "a koi pond in a japanese garden",
        "uc": "people",
        "seed": 2024,
        "steps": 20,
        "size": "512x768",
        "model": "sd_xl_base_1.0_f16.ckpt",
        "sampler": "DPM++ 2M Karras",
        "lora": [{"file": "koi_f16.ckpt", "weight": 0.6}],
    }
    body = (
        '<xmp:CreatorTool>Draw Things</xmp:CreatorTool><exif:UserComment><rdf:Alt><rdf:li xml:lang="x-default">'
        + json.dumps(dt).replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
        + "</rdf:li></rdf:Alt></exif:UserComment>"
    )
    xmp = xmp_packet(body, 'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:exif="http://ns.adobe.com/exif/1.0/"')
    for data in (png(itxt={"XML:com.adobe.xmp": xmp}), jpeg(xmp=xmp)):
        _, d = rec(data)
        assert d["generator"]["tool"] == "Draw Things"
        assert d["prompt"] == "a koi pond in a japanese garden" and d["negative_prompt"] == "people"
        assert d["size"] == {"width": 512, "height": 768}
        assert {"name": "koi_f16.ckpt", "hash": None, "kind": "lora", "weight": 0.6} in d["models"]


def test_midjourney_description():
    desc = "a snowy mountain village at night --ar 16:9 --v 6.1 Job ID: 1b2c3d4e-0000-4a5b-9c8d-7e6f5a4b3c2d"
    _, d = rec(png({"Description": desc, "Author": "someone"}))
    assert d["generator"] == {"family": "midjourney", "tool": "Midjourney", "version": "6.1"}
    assert d["prompt"] == "a snowy mountain village at night --ar 16:9 --v 6.1"


def test_flux_reference_exif():
    ex = exif_bytes(
        Software="AI generated;txt2img;flux",
        Make="Black Forest Labs",
        Model="flux-schnell",
        ImageDescription="a red fox in tall grass",
    )
    for data in (jpeg(exif=ex), png({}, exif=ex)):
        _, d = rec(data)
        assert d["generator"] == {"family": "flux", "tool": "Flux reference", "version": "txt2img"}
        assert d["prompt"] == "a red fox in tall grass" and d["models"][0]["name"] == "flux-schnell"


@pytest.mark.parametrize("form", ["attr", "elem", "resource"])
def test_iptc_digital_source_type(form):
    uri = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    ns = 'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
    if form == "attr":
        xmp = xmp_packet("", ns + f' Iptc4xmpExt:DigitalSourceType="{uri}"')
    elif form == "elem":
        xmp = xmp_packet(f"<Iptc4xmpExt:DigitalSourceType>{uri}</Iptc4xmpExt:DigitalSourceType>", ns)
    else:
        xmp = xmp_packet(f'<Iptc4xmpExt:DigitalSourceType rdf:resource="{uri}"/>', ns)
    _, d = rec(jpeg(xmp=xmp))
    assert d["iptc_digital_source_type"] == uri
    assert d["synthetic"] == "declared"


def test_iptc_digital_capture_is_not_synthetic():
    uri = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
    xmp = xmp_packet(
        "", f'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" Iptc4xmpExt:DigitalSourceType="{uri}"'
    )
    _, d = rec(webp(xmp=xmp))
    assert d["iptc_digital_source_type"] == uri and d["synthetic"] == "none"


def test_tc260_label():
    label = {
        "Label": "1",
        "ContentProducer": "001191110108MA01KP2T5U00000",
        "ProduceID": "img-0001",
        "ReservedCode1": "",
        "ContentPropagator": "",
        "PropagateID": "",
        "ReservedCode2": "",
    }
    body = f"<TC260:AIGC>{json.dumps(label).replace('&', '&amp;').replace('<', '&lt;')}</TC260:AIGC>"
    xmp = xmp_packet(body, 'xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/"')
    _, d = rec(jpeg(xmp=xmp))
    assert d["tc260_label"]["Label"] == "1" and d["tc260_label"]["ProduceID"] == "img-0001"
    assert d["synthetic"] == "declared"
    # attribute form, "possibly generated"
    label["Label"] = "2"
    attr = json.dumps(label).replace("&", "&amp;").replace('"', "&quot;")
    xmp = xmp_packet("", f'xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/" TC260:AIGC="{attr}"')
    _, d = rec(png(itxt={"XML:com.adobe.xmp": xmp}))
    assert d["tc260_label"]["Label"] == "2" and d["synthetic"] == "likely"


def test_plain_photo_has_nothing():
    _, d = rec(jpeg(), ProvenanceOptions())
    assert d["generator"] is None and d["synthetic"] == "none" and d["errors"] == [] and d["watermarks"] == []


# -- watermark schemes without a shared fixture: embed them here --------------
def _base_photo():
    return np.asarray(
        Image.open(shared_path("fixtures", "provenance", "watermark", "clean_boardwalk_sun_bskwjtamyt.png")).convert(
            "RGB"
        )
    )


@pytest.mark.parametrize(
    "scheme,order", [("sd2", "bgr"), ("flux", "bgr"), ("invokeai", "bgr"), ("sdxl", "bgr"), ("sd1", "rgb")]
)
def test_watermark_embedded_here(scheme, order):
    from tripline.provenance.watermark import SCHEMES

    s = next(x for x in SCHEMES if x.name == scheme)
    marked = dwtdct_embed(_base_photo(), s.bits, order=order)
    _, d = rec(to_png_bytes(Image.fromarray(marked)), ProvenanceOptions())
    assert [w["scheme"] for w in d["watermarks"]] == [scheme]
    w = d["watermarks"][0]
    assert w["bits_matched"] >= w["bits_total"] - 2 and w["confidence"] == "very_likely"


def test_haar_matches_pywavelets():
    import pywt

    from tripline.provenance.watermark import haar_approx

    u = np.random.default_rng(1).integers(0, 256, size=(64, 96), dtype=np.uint8)
    np.testing.assert_allclose(haar_approx(u), pywt.dwt2(u.astype(np.float64), "haar")[0], atol=1e-4)


def test_watermark_thresholds_match_stability():
    from tripline.provenance.watermark import thresholds

    assert thresholds(48) == (34, 36)


def test_small_image_no_watermark_decode():
    _, d = rec(png({}, img=image((100, 100))), ProvenanceOptions())
    assert d["watermarks"] == [] and d["errors"] == []


def test_summarize_for_reports():
    from tripline.provenance import summarize

    _, d = rec(png({"parameters": A1111}))
    assert summarize(d).startswith("declared: AUTOMATIC1111 generation parameters")
    _, d = rec(png({}))
    assert summarize(d) == "no provenance evidence"
    assert summarize(None) == ""


@pytest.mark.parametrize("fmt", ["AVIF", "TIFF"])
def test_other_containers_xmp(fmt):
    uri = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    xmp = xmp_packet(
        "", f'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" Iptc4xmpExt:DigitalSourceType="{uri}"'
    )
    buf = io.BytesIO()
    img = image((64, 64))
    if fmt == "TIFF":
        img.save(buf, "TIFF", tiffinfo={700: xmp.encode()})
    else:
        img.save(buf, fmt, xmp=xmp.encode())
    _, d = rec(buf.getvalue())
    assert d["iptc_digital_source_type"] == uri and d["synthetic"] == "declared", d["errors"]


def test_heif_exif_flux():
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    ex = exif_bytes(
        Software="AI generated;txt2img;flux",
        Make="Black Forest Labs",
        Model="flux-dev",
        ImageDescription="a lighthouse on a cliff",
    )
    buf = io.BytesIO()
    image((64, 64)).save(buf, "HEIF", exif=ex)
    _, d = rec(buf.getvalue())
    assert d["generator"]["family"] == "flux" and d["prompt"] == "a lighthouse on a cliff"


def test_a1111_quoted_hashes_json_as_webui_writes_it():
    hashes = json.dumps({"vae": "735e4c3a44", "lora:teapot": "aa11bb22cc33", "model": "6ce0161689"})
    text = (
        "a teapot <lora:teapot:0.5>\nSteps: 20, Sampler: Euler, Seed: 9, Size: 512x512, Model: sd15, "
        f"Hashes: {json.dumps(hashes)}, Version: v1.9.0"
    )
    _, d = rec(png({"parameters": text}))
    models = {m["kind"]: m for m in d["models"]}
    assert models["checkpoint"]["hash"] == "6ce0161689"
    assert models["lora"] == {"name": "teapot", "hash": "aa11bb22cc33", "kind": "lora", "weight": 0.5}
    assert models["vae"]["hash"] == "735e4c3a44"
    assert d["generator"]["version"] == "v1.9.0"


def test_comfyui_flux_style_guider_graph():
    g = {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": "flux1-dev.safetensors", "weight_dtype": "default"}},
        "2": {
            "class_type": "DualCLIPLoader",
            "inputs": {"clip_name1": "t5xxl_fp16.safetensors", "clip_name2": "clip_l.safetensors"},
        },
        "3": {"class_type": "Text Concatenate", "inputs": {"text_a": "a misty harbour at dawn", "text_b": ["9", 0]}},
        "9": {"class_type": "String Literal", "inputs": {"string": "small fishing boats"}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": ["3", 0], "clip": ["2", 0]}},
        "5": {"class_type": "BasicGuider", "inputs": {"model": ["1", 0], "conditioning": ["4", 0]}},
        "6": {"class_type": "RandomNoise", "inputs": {"noise_seed": 314159}},
        "7": {
            "class_type": "SamplerCustomAdvanced",
            "inputs": {
                "noise": ["6", 0],
                "guider": ["5", 0],
                "sampler": ["8", 0],
                "sigmas": ["8", 0],
                "latent_image": ["8", 0],
            },
        },
        "8": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
    }
    _, d = rec(png({"prompt": json.dumps(g)}))
    assert d["prompt"].split("\n") == ["a misty harbour at dawn", "small fishing boats"]
    assert d["seed"] == 314159
    assert d["models"][0] == {"name": "flux1-dev.safetensors", "hash": None, "kind": "checkpoint", "weight": None}
