"""C2PA reading is offline: cloud.jpg (remote-only manifest) never touches the network."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys

import pytest

from test_provenance_support import REPO, shared_path
from tripline.provenance import ProvenanceOptions, read_provenance
from tripline.provenance import c2pa as c2pa_source


def test_settings_disable_every_fetch():
    s = c2pa_source.settings_for(None)
    assert s["verify"]["remote_manifest_fetch"] is False
    assert s["verify"]["ocsp_fetch"] is False
    assert "trust" not in s
    pem = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"
    s2 = c2pa_source.settings_for(pem)
    assert s2["trust"]["trust_anchors"] == pem
    assert s2["verify"]["remote_manifest_fetch"] is False


def test_cloud_jpg_python_sockets_blocked(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", boom)
    monkeypatch.setattr(socket.socket, "connect_ex", boom)
    monkeypatch.setattr(socket, "create_connection", boom)
    monkeypatch.setattr(socket, "getaddrinfo", boom)
    data = shared_path("fixtures", "provenance", "c2pa", "cloud.jpg").read_bytes()
    rec = read_provenance(data)
    d = rec.to_dict()
    assert d["c2pa"]["present"] is True
    assert d["c2pa"]["validation_state"] == "remote_manifest_not_fetched"
    assert any("not fetched" in e["message"] for e in d["errors"])
    assert d["synthetic"] == "none"


_CHILD = """
import sys, json
from tripline.provenance import read_provenance
d = read_provenance(open(sys.argv[1], 'rb').read()).to_dict()
print(json.dumps(d["c2pa"]))
"""


def test_cloud_jpg_no_connect_syscall(tmp_path):
    """The C2PA reader is native code, so patching Python's socket module
    proves little on its own: trace the process's system calls instead."""
    if shutil.which("strace") is None:
        pytest.skip("strace not installed")
    path = shared_path("fixtures", "provenance", "c2pa", "cloud.jpg")
    log = tmp_path / "trace.txt"
    proc = subprocess.run(
        [
            "strace",
            "-f",
            "-qq",
            "-e",
            "trace=connect,sendto,sendmsg",
            "-o",
            str(log),
            sys.executable,
            "-c",
            _CHILD,
            str(path),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    if proc.returncode != 0 and "ptrace" in proc.stderr.lower():
        pytest.skip(f"ptrace not permitted here: {proc.stderr.strip()[:200]}")
    assert proc.returncode == 0, proc.stderr
    c2pa = json.loads(proc.stdout.strip().splitlines()[-1])
    assert c2pa["validation_state"] == "remote_manifest_not_fetched"
    calls = [ln for ln in log.read_text().splitlines() if "AF_INET" in ln or "AF_INET6" in ln]
    assert calls == [], calls


def test_c2pa_can_be_switched_off():
    data = shared_path("fixtures", "provenance", "c2pa", "C.jpg").read_bytes()
    d = read_provenance(data, options=ProvenanceOptions(c2pa=False, watermarks=False)).to_dict()
    assert d["c2pa"]["present"] is False and d["synthetic"] == "none"


def test_read_provenance_opens_no_files(monkeypatch):
    """The core is pure: bytes in, record out (Python-level file access blocked)."""
    import builtins
    import io as _io

    datas = [
        shared_path("fixtures", "provenance", *p).read_bytes()
        for p in (
            ("generators", "AUTOMATIC1111", "automatic1111_stealth.png"),
            ("c2pa", "C.jpg"),
            ("c2pa", "cloud.jpg"),
            ("watermark", "sdxl_abbey_sun_asztnlqhlrvirn.png"),
            ("generators", "ComfyUI", "img2img_cropped.png"),
        )
    ]
    read_provenance(datas[0])  # warm lazy imports

    def no_open(*a, **k):
        raise AssertionError(f"file access attempted: {a[:1]}")

    monkeypatch.setattr(builtins, "open", no_open)
    monkeypatch.setattr(_io, "open", no_open)
    for data in datas:
        assert read_provenance(data).to_dict()["errors"] is not None
