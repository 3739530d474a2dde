"""tripline.plugins: entry-point discovery, the built-ins through the same
mechanism, broken plug-ins contained, and the worked example installed for real."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest

from tripline.plugins import GROUP, Plugin, build, registry
from tripline.plugins.manifest import ImportFormat
from tripline.signals import MD5

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "tripline-example-plugin"
CLI = "from tripline.cli import main; main()"


def test_the_built_ins_are_an_entry_point():
    names = {ep.name: ep.value for ep in entry_points(group=GROUP)}
    assert names.get("builtin") == "tripline.plugins.builtin:plugin"
    reg = registry()
    assert [x.plugin.name for x in reg.loaded][0] == "builtin"
    assert reg.loaded[0].package == "tripline"
    assert {"csv", "tx", "list"} <= set(reg.import_formats)
    assert {"ncmec", "nca"} <= set(reg.report_destinations)
    assert [s.name for s in reg.provenance_sources][:2] == ["novelai", "comfyui"]


def _ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name, value, GROUP)


def test_a_broken_plugin_is_listed_and_skipped():
    reg = build(
        [
            _ep("builtin", "tripline.plugins.builtin:plugin"),
            _ep("missing", "no_such_module_xyz:plugin"),
            _ep("wrong", "json:dumps"),
        ]
    )  # callable, but returns no Plugin
    assert [x.plugin.name for x in reg.loaded] == ["builtin"]
    errors = {f.entry_point.split(" =")[0]: f.error for f in reg.failed}
    assert errors["missing"].startswith("ModuleNotFoundError")
    assert "TypeError" in errors["wrong"]
    assert "pdq" in {t.name for t in reg.signal_types}


def test_a_clash_rejects_the_whole_plugin(monkeypatch):
    clash = Plugin("clash", signal_types=(MD5,), import_formats=(ImportFormat("csv2", lambda lines, f: iter(())),))
    monkeypatch.setitem(sys.modules, "fake_clash_plugin", type(sys)("fake_clash_plugin"))
    sys.modules["fake_clash_plugin"].plugin = clash
    reg = build([_ep("builtin", "tripline.plugins.builtin:plugin"), _ep("clash", "fake_clash_plugin:plugin")])
    assert "csv2" not in reg.import_formats  # all or nothing
    assert "md5" in reg.failed[0].error


def test_the_builtins_load_without_installed_metadata():
    reg = build([])
    assert reg.loaded[0].plugin.name == "builtin" and not reg.failed


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The example plug-in really pip-installed (into a target directory put
    on PYTHONPATH, so the shared venv and the other tests never see it)."""
    target = tmp_path_factory.mktemp("site")
    build_dir = tmp_path_factory.mktemp("build")
    # A copy: setuptools writes build/ and egg-info next to the sources.
    source = shutil.copytree(EXAMPLE, build_dir / "src", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        cwd=build_dir,
        timeout=300,
    )
    return target


def _run(target: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run(
        [sys.executable, "-c", CLI, *args], env=env, capture_output=True, text=True, input=stdin, timeout=120
    )


def test_example_plugin_is_listed(installed):
    out = _run(installed, "plugins", "--json")
    assert out.returncode == 0, out.stderr
    listing = json.loads(out.stdout)
    example = next(p for p in listing["loaded"] if p["name"] == "example")
    assert example["package"] == "tripline-example-plugin"
    assert example["provides"]["signal_types"] == ["sha1"]
    assert example["provides"]["import_formats"] == ["jsonl"]
    assert listing["failed"] == []


def test_example_plugin_imports_and_exports_a_bank(installed, tmp_path):
    home = tmp_path / "home"
    hashes = tmp_path / "h.jsonl"
    sha1 = "ab" * 20
    hashes.write_text(
        json.dumps({"signal_type": "photo_sha1", "signal": sha1.upper(), "note": "n"})
        + "\n"
        + json.dumps({"signal_type": "md5", "signal": "cd" * 16})
        + "\n"
        + "{not json\n"
    )
    assert _run(installed, "bank", "create", "b1", "--home", str(home)).returncode == 0
    out = _run(installed, "bank", "import", "b1", str(hashes), "--format", "jsonl", "--home", str(home))
    # Exit 1: the bad line is reported (as for the built-in formats), the good ones added.
    assert out.returncode == 1 and "added 2 (md5 1, sha1 1)" in out.stdout, out.stdout + out.stderr
    assert "line 3" in out.stdout + out.stderr and "not JSON" in out.stdout + out.stderr
    out = _run(installed, "bank", "export", "b1", "--format", "jsonl", "--home", str(home))
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert {(r["signal_type"], r["signal"]) for r in rows} == {("sha1", sha1), ("md5", "cd" * 16)}


def test_plugins_command_reports_a_broken_package(tmp_path):
    dist = tmp_path / "broken_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{GROUP}]\nbroken = broken_plugin_nowhere:plugin\n")
    out = _run(tmp_path, "plugins", "--json")
    assert out.returncode == 0, out.stderr
    listing = json.loads(out.stdout)
    assert [f["package"] for f in listing["failed"]] == ["broken-plugin"]
    assert "builtin" in [p["name"] for p in listing["loaded"]]
    plain = _run(tmp_path, "plugins")
    assert plain.returncode == 0 and "broken-plugin" in plain.stdout


def test_start_up_loads_no_plugin():
    """Registering every CLI command (what `tripline --help` does) must not
    build the registry: loading is deferred to the first look-up."""
    code = (
        "import tripline.cli as c, tripline.plugins.loader as r; c._register(); "
        "import tripline.policy, tripline.provenance, tripline.banks; print(r._registry is None)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "True", out.stderr
