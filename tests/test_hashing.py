import csv
import hashlib

import pytest

from shared_data import shared
from tripline.hashing import DIHEDRAL_VARIANTS, hamming, hash_bytes

# python-threatexchange feeds CMYK as raw CMYK and palette images as indices;
# shared/README.md documents both rows as reference bugs, not targets.
REFERENCE_BUGS = {"misc-images/modes/CMYK.jpg", "misc-images/modes/P.png"}
# EXIF orientation -> the dihedral variant of the upright hash that equals the
# stored-orientation hash the reference computes.
STORED_VARIANT = {1: "original", 3: "rotate180", 6: "rotate90", 8: "rotate270"}


def _rows():
    path = shared("fixtures", "pdq", "expected-threatexchange.csv")
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def rows():
    return _rows()


def test_exact_mode_is_bit_identical_to_python_threatexchange(rows):
    checked = 0
    for row in rows:
        if row["path"] in REFERENCE_BUGS:
            continue
        rec = hash_bytes(shared("fixtures", "pdq", row["path"]).read_bytes(), exact=True)
        assert rec.error is None, row["path"]
        assert rec.pdq == row["pdq"], row["path"]
        assert rec.pdq_quality == int(row["quality"]), row["path"]
        assert rec.md5 == row["md5"], row["path"]
        checked += 1
    assert checked == len(rows) - len(REFERENCE_BUGS)


def test_default_mode_within_10_bits_for_quality_80_and_up(rows):
    worst = 0
    for row in rows:
        if int(row["quality"]) < 80 or row["path"] in REFERENCE_BUGS:
            continue
        rec = hash_bytes(shared("fixtures", "pdq", row["path"]).read_bytes())
        # The default mode applies EXIF orientation, the reference does not:
        # compare in the reference's (stored) orientation.
        variant = STORED_VARIANT[rec.orientation]
        ours = rec.pdq_dihedral[DIHEDRAL_VARIANTS.index(variant)]
        d = hamming(ours, row["pdq"])
        assert d <= 10, (row["path"], d)
        worst = max(worst, d)
    assert worst > 0  # the fast path really is approximate; exact mode is the bit-identical one


def test_reference_bug_rows_are_converted_properly():
    rgb = hash_bytes(shared("fixtures", "pdq", "misc-images/modes/RGB.jpg").read_bytes(), exact=True).pdq
    for name in REFERENCE_BUGS:
        rec = hash_bytes(shared("fixtures", "pdq", name).read_bytes(), exact=True)
        assert hamming(rec.pdq, rgb) <= 16, name


def test_every_rotation_and_flip_matches_the_original_through_one_dihedral_variant():
    folder = shared("fixtures", "pdq", "reg-test-input", "dih")
    base = hash_bytes((folder / "bridge-1-original.jpg").read_bytes()).pdq
    for path in sorted(folder.iterdir()):
        rec = hash_bytes(path.read_bytes())
        assert len(rec.pdq_dihedral) == 8
        best = min(hamming(v, base) for v in rec.pdq_dihedral)
        assert best <= 31, path.name
        if path.name != "bridge-1-original.jpg":
            assert hamming(rec.pdq, base) > 31, path.name  # the plain hash alone would miss it


def test_digests_are_computed_even_when_decoding_fails():
    data = b"\x89PNG\r\n\x1a\nnot really"
    rec = hash_bytes(data)
    assert rec.error is not None and rec.pdq is None
    assert rec.md5 == hashlib.md5(data).hexdigest()
    assert rec.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("size", [(481, 321), (512, 512), (640, 384), (380, 321)])
def test_exact_dihedral_equals_hashing_the_turned_pixels(size):
    from PIL import Image, ImageOps

    from tripline.hashing import pdq_hash
    from tripline.hashing.pdq import symmetric_side

    im = Image.open(shared("corpus", "photos", "kodak24", "kodim05.png")).convert("L").resize(size)
    turned = {  # pdqhash's variant order, as pixel operations
        "original": im,
        "rotate90": im.transpose(Image.Transpose.ROTATE_90),
        "rotate180": im.transpose(Image.Transpose.ROTATE_180),
        "rotate270": im.transpose(Image.Transpose.ROTATE_270),
        "flip_x": ImageOps.flip(im),
        "flip_y": ImageOps.mirror(im),
        "flip_plus1": im.transpose(Image.Transpose.TRANSPOSE),
        "flip_minus1": im.transpose(Image.Transpose.TRANSVERSE),
    }
    exact = pdq_hash(im, dihedral=True, exact_dihedral=True).dihedral
    fast = pdq_hash(im, dihedral=True).dihedral
    for k, name in enumerate(DIHEDRAL_VARIANTS):
        assert exact[k] == pdq_hash(turned[name]).hash, name
    symmetric = symmetric_side(size[0]) and symmetric_side(size[1])
    assert (fast == exact) == symmetric  # the shortcut is exact exactly on symmetric sizes
