"""`tripline provenance` command."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from test_provenance_support import png, shared_path
from tripline.cli import provenance_cmd


def _app() -> typer.Typer:
    app = typer.Typer()
    provenance_cmd.register(app)

    @app.command("noop")  # a second command keeps "provenance" a sub-command
    def _noop() -> None:
        pass

    return app


def test_json_lines_and_per_file_errors(tmp_path):
    good = tmp_path / "teapot.png"
    good.write_bytes(png({"parameters": "a teapot\nSteps: 20, Sampler: Euler, Seed: 3, Size: 512x512"}))
    empty = shared_path("fixtures", "provenance", "malformed", "empty_file.png")
    missing = tmp_path / "nope.png"
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"hello, not an image")
    res = CliRunner().invoke(_app(), ["provenance", "--json", str(good), str(empty), str(missing), str(garbage)])
    assert res.exit_code == 2, res.output
    lines = [json.loads(x) for x in res.output.strip().splitlines()]
    assert [x["path"] for x in lines] == [str(good), str(empty), str(missing), str(garbage)]
    assert lines[0]["prompt"] == "a teapot" and lines[0]["synthetic"] == "declared"
    assert set(lines[0]) >= {
        "generator",
        "prompt",
        "negative_prompt",
        "models",
        "seed",
        "sampler",
        "steps",
        "size",
        "c2pa",
        "iptc_digital_source_type",
        "tc260_label",
        "watermarks",
        "evidence",
        "synthetic",
        "errors",
    }
    assert lines[1]["error"]["code"] == "empty"
    assert lines[2]["error"]["code"] == "read_error"
    assert lines[3]["error"]["code"] == "unsupported_type"


def test_exit_zero_when_all_read(tmp_path):
    f = tmp_path / "a.png"
    f.write_bytes(png({}))
    res = CliRunner().invoke(_app(), ["provenance", "--json", "--no-watermarks", str(f)])
    assert res.exit_code == 0 and json.loads(res.output)["synthetic"] == "none"


def test_rich_summary():
    f = shared_path("fixtures", "provenance", "generators", "ComfyUI", "img2img_cropped.png")
    c = shared_path("fixtures", "provenance", "c2pa", "C.jpg")
    res = CliRunner().invoke(_app(), ["provenance", str(f), str(c)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "victorian" in res.output and "ComfyUI" in res.output and "declared" in res.output
    assert "C2PA Test Signing Cert" in res.output


def test_trust_anchors_option(tmp_path):
    from test_provenance_conformance import _c2pa_test_root_pem

    c = shared_path("fixtures", "provenance", "c2pa", "C.jpg")
    pem = tmp_path / "anchors.pem"
    pem.write_text(_c2pa_test_root_pem(c.read_bytes()))
    res = CliRunner().invoke(_app(), ["provenance", "--json", "--trust-anchors", str(pem), str(c)])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["c2pa"]["validation_state"] == "trusted" and d["synthetic"] == "verified"
    bad = tmp_path / "bad.pem"
    bad.write_text("nothing here")
    res = CliRunner().invoke(_app(), ["provenance", "--trust-anchors", str(bad), str(c)])
    assert res.exit_code != 0
