"""Robust matching end to end: image-built banks get region hashes, uploads'
normalised variants match through them, the verifier keeps loose candidates
out, and match records say which normalisation matched."""

import numpy as np
from PIL import Image

from shared_data import encode
from test_normalise import banner, padded, picture
from tripline.banks import Banks
from tripline.hashing import hash_bytes
from tripline.index import codes_to_hex, hex_to_codes


def flip(hex64: str, n: int) -> str:
    bits = np.unpackbits(hex_to_codes([hex64])[0])
    bits[:n] ^= 1
    return codes_to_hex(np.packbits(bits)[None, :])[0]


def bank_images(banks: Banks, name: str, images: list[Image.Image]) -> list[str]:
    """What `tripline bank add --image` does with region hashes."""
    banks.create(name)
    entries, regions, hashes = [], {}, []
    for im in images:
        rec = hash_bytes(encode(im, quality=95), bank_regions=True)
        entries.append(("pdq", rec.pdq, None))
        regions[rec.pdq] = [(code, h) for code, h, _ in rec.pdq_regions]
        hashes.append(rec.pdq)
    banks.add(name, entries, regions=regions)
    return hashes


def query(im: Image.Image) -> dict:
    rec = hash_bytes(encode(im, quality=90), robust=True)
    return {
        "pdq": rec.pdq,
        "pdq_quality": rec.pdq_quality,
        "pdq_dihedral": list(rec.pdq_dihedral),
        "pdq_variants": list(rec.pdq_variants),
    }


def match(banks, items, names=("b",)):
    m = banks.matcher(list(names))
    try:
        return m.match(items)
    finally:
        m.close()


IMAGES = [picture(480, 360, s) for s in (11, 12, 13)]


def test_edited_copies_match_with_the_normalisation_named(banks):
    hashes = bank_images(banks, "b", IMAGES)
    im = IMAGES[0]
    edits = {
        "border_trim": padded(im, 60, 50, 60, 50, (0, 0, 0)),
        "banner_cover_bottom": banner(im, 0.2, "bottom"),
        "banner_cover_top": banner(im, 0.15, "top", (0, 0, 0), (255, 255, 255)),
    }
    found = match(banks, [query(e) for e in edits.values()])
    for (norm, _), hits in zip(edits.items(), found, strict=True):
        assert len(hits) == 1, (norm, hits)
        (m,) = hits
        assert m.value == hashes[0] and m.normalisation == norm and m.distance <= 24
        d = m.to_dict()
        assert d["normalisation"] == norm and d["explanation"] and "upload" in d["explanation"]


def test_centre_crop_matches_through_the_banked_crop(banks):
    bank_images(banks, "b", IMAGES)
    im = IMAGES[1]
    dx, dy = round(im.width * 0.05), round(im.height * 0.05)
    (hits,) = match(banks, [query(im.crop((dx, dy, im.width - dx, im.height - dy)))])
    assert len(hits) == 1 and hits[0].bank_hash == "centre90" and hits[0].normalisation is None
    assert "crop" in hits[0].explanation


def test_plain_match_is_unchanged_and_not_duplicated(banks):
    bank_images(banks, "b", IMAGES)
    (hits,) = match(banks, [query(IMAGES[2])])
    assert len(hits) == 1 and hits[0].normalisation is None and hits[0].bank_hash == "plain"
    assert hits[0].explanation == "as is"


def test_unrelated_pictures_do_not_match(banks):
    bank_images(banks, "b", IMAGES)
    others = [picture(480, 360, s) for s in (21, 22)]
    found = match(
        banks, [query(padded(others[0], 40, 40, 40, 40, (255, 255, 255))), query(banner(others[1], 0.2, "bottom"))]
    )
    assert found == [[], []]


def test_verifier_rejects_loose_variant_candidates(banks):
    # A normalised variant within the bank threshold (31) but beyond the
    # verifier's 24 bits is not a match; the plain hash at 28 still is.
    banks.create("b")
    base = hash_bytes(encode(IMAGES[0], quality=95)).pdq
    banks.add("b", [("pdq", base, None)])
    far = flip(base, 128)
    loose = {
        "pdq": far,
        "pdq_quality": 100,
        "pdq_dihedral": [far],
        "pdq_variants": [{"normalisation": "border_trim", "pdq": flip(base, 28), "quality": 100}],
    }
    close = {**loose, "pdq_variants": [{"normalisation": "border_trim", "pdq": flip(base, 20), "quality": 100}]}
    low_q = {**loose, "pdq_variants": [{"normalisation": "border_trim", "pdq": base, "quality": 10}]}
    plain = {"pdq": flip(base, 28), "pdq_quality": 100, "pdq_dihedral": [flip(base, 28)]}
    found = match(banks, [loose, close, low_q, plain])
    assert found[0] == [] and found[2] == []
    assert found[1][0].normalisation == "border_trim" and found[1][0].distance == 20
    assert found[3][0].normalisation is None and found[3][0].distance == 28


def test_hash_list_banks_still_match_trimmed_uploads(banks):
    # No pixels, no regions: query-side trimming alone helps.
    banks.create("b")
    banks.add("b", [("pdq", hash_bytes(encode(IMAGES[0], quality=95)).pdq, None)])
    (hits,) = match(banks, [query(padded(IMAGES[0], 50, 50, 50, 50, (255, 255, 255)))])
    assert len(hits) == 1 and hits[0].normalisation == "border_trim" and hits[0].bank_hash == "plain"


def test_removed_and_disabled_entries_lose_their_regions(banks):
    hashes = bank_images(banks, "b", IMAGES[:2])
    q = query(banner(IMAGES[0], 0.2, "bottom"))
    assert len(match(banks, [q])[0]) == 1
    banks.set_enabled("b", "pdq", [hashes[0]], False)
    assert match(banks, [q])[0] == []
    banks.set_enabled("b", "pdq", [hashes[0]], True)
    assert len(match(banks, [q])[0]) == 1
    banks.remove("b", "pdq", [hashes[0]])
    assert match(banks, [q])[0] == []
    assert len(banks.regions_index("b")) == 4  # only IMAGES[1]'s four regions are left
