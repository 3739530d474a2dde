"""Bank semantics through the Banks API and the CLI contracts."""

import json

import numpy as np
from typer.testing import CliRunner

from shared_data import photos, shared
from tripline.cli import _register, app
from tripline.hashing import hash_bytes
from tripline.index import codes_to_hex, hex_to_codes

_register()
runner = CliRunner()
BASE = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def flip(hex64: str, n: int) -> str:
    """The hash with its first n bits flipped: distance exactly n."""
    bits = np.unpackbits(hex_to_codes([hex64])[0])
    bits[:n] ^= 1
    return codes_to_hex(np.packbits(bits)[None, :])[0]


def item(pdq, quality=100, **kw):
    return {"pdq": pdq, "pdq_quality": quality, "pdq_dihedral": [pdq], **kw}


def test_threshold_is_inclusive(banks):
    banks.create("b", pdq_threshold=31)
    banks.add("b", [("pdq", BASE, None)])
    m = banks.matcher(["b"])
    try:
        at, over = m.match([item(flip(BASE, 31)), item(flip(BASE, 32))])
    finally:
        m.close()
    assert [x.distance for x in at] == [31]
    assert over == []


def test_quality_gate_applies_to_pdq_but_not_exact_hashes(banks):
    banks.create("b", pdq_quality_min=50)
    banks.add("b", [("pdq", BASE, None), ("md5", "d35c785545392755e7e4164457657269", None)])
    m = banks.matcher(["b"])
    try:
        (low,) = m.match([item(BASE, quality=49, md5="d35c785545392755e7e4164457657269")])
    finally:
        m.close()
    assert [x.signal_type for x in low] == ["md5"]


def test_remove_disable_enable_take_effect_without_rebuild(banks):
    banks.create("b")
    banks.add("b", [("pdq", BASE, None)])

    def hits():
        m = banks.matcher(["b"])
        try:
            return len(m.match([item(BASE)])[0])
        finally:
            m.close()

    assert hits() == 1
    assert banks.set_enabled("b", "pdq", [BASE], False) == 1
    assert hits() == 0
    assert banks.set_enabled("b", "pdq", [BASE], True) == 1
    assert hits() == 1
    assert banks.remove("b", "pdq", [BASE]) == 1
    assert hits() == 0


def test_index_drift_is_repaired_from_the_database(banks, tmp_path):
    banks.create("b")
    banks.add("b", [("pdq", BASE, None)])
    banks.close()
    # Simulate a crash after the database commit but before the index write.
    banks.store.add_entries("b", [("pdq", flip(BASE, 100), None)])
    m = banks.matcher(["b"])
    try:
        assert len(m.match([item(flip(BASE, 100))])[0]) == 1
    finally:
        m.close()


def test_rotated_query_matches_through_its_dihedral_variant(banks):
    folder = shared("fixtures", "pdq", "reg-test-input", "dih")
    banks.create("b")
    banks.add("b", [("pdq", hash_bytes((folder / "bridge-1-original.jpg").read_bytes()).pdq, None)])
    rotated = hash_bytes((folder / "bridge-2-rotate-90.jpg").read_bytes())
    m = banks.matcher(["b"])
    try:
        (found,) = m.match(
            [{"pdq": rotated.pdq, "pdq_quality": rotated.pdq_quality, "pdq_dihedral": list(rotated.pdq_dihedral)}]
        )
    finally:
        m.close()
    assert len(found) == 1 and found[0].variant != "original"


def cli(tmp_path, *args):
    return runner.invoke(app, [*args, "--home", str(tmp_path / "home")])


def test_bank_cli_import_export_round_trip(tmp_path):
    src = tmp_path / "list.csv"
    src.write_text(f"signal_type,signal,note\npdq,{BASE},first\nmd5,d35c785545392755e7e4164457657269,\npdq,nothex,\n")
    assert cli(tmp_path, "bank", "create", "x").exit_code == 0
    r = cli(tmp_path, "bank", "import", "x", str(src))
    assert r.exit_code == 1 and "line 4" in r.output  # a bad line is reported, the rest imported
    out = tmp_path / "out.csv"
    assert cli(tmp_path, "bank", "export", "x", "-o", str(out)).exit_code == 0
    assert out.read_text().splitlines()[1:] == [f"pdq,{BASE},first", "md5,d35c785545392755e7e4164457657269,"]
    r = cli(tmp_path, "bank", "import", "x", str(out))
    assert r.exit_code == 0 and "2 already present" in r.output


def test_bank_cli_list_stats_and_errors(tmp_path):
    assert cli(tmp_path, "bank", "create", "x", "--threshold", "20").exit_code == 0
    assert cli(tmp_path, "bank", "create", "x").exit_code == 2  # exists
    assert cli(tmp_path, "bank", "add", "x", BASE, "--type", "pdq").exit_code == 0
    assert cli(tmp_path, "bank", "add", "x", BASE).exit_code == 2  # 64 hex digits: ambiguous
    listed = json.loads(cli(tmp_path, "bank", "list", "--json").output)
    assert listed[0]["pdq_threshold"] == 20 and listed[0]["entries"]["pdq"]["enabled"] == 1
    stats = json.loads(cli(tmp_path, "bank", "stats", "x").output)
    assert stats["index"]["size"] == 1 and stats["updated_at"]
    assert cli(tmp_path, "bank", "disable", "x").exit_code == 0
    assert json.loads(cli(tmp_path, "bank", "list", "--json").output)[0]["enabled"] is False
    r = cli(tmp_path, "bank", "stats", "nope")
    assert r.exit_code == 2 and "no bank named 'nope'" in r.output
    assert cli(tmp_path, "bank", "delete", "x").exit_code == 2  # needs --yes
    assert cli(tmp_path, "bank", "delete", "x", "--yes").exit_code == 0


def test_hash_cli_json_contract(tmp_path):
    good = photos("bsds500", 1)[0]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"")
    r = runner.invoke(app, ["hash", str(good), str(bad), "--json"])
    assert r.exit_code == 2  # one file failed
    first, second = (json.loads(line) for line in r.stdout.splitlines())
    assert set(first) == {"path", "media_type", "width", "height", "pdq", "pdq_quality", "md5", "sha256"}
    assert first["media_type"] == "image/jpeg" and len(first["pdq"]) == 64
    assert second["path"] == str(bad) and second["error"]["code"] == "empty"
