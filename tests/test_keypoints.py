"""The keypoint stage (tripline.keypoints, tripline.banks.keypoints): ORB
keypoints survive off-centre crops and blurred frames that defeat every PDQ
variant, the inverted file proposes the right banked image, RANSAC confirms
it and rejects unrelated photos, and scan results say how the copy lies on
the banked image."""

import io
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFilter
from typer.testing import CliRunner

from shared_data import encode, photos, shared
from tripline.banks import Banks
from tripline.banks import keypoints as bank_keypoints
from tripline.banks.keypoints import RECORD, KeypointIndex
from tripline.cli import _register, app
from tripline.hashing import hamming, hash_bytes
from tripline.keypoints import BANK_FEATURES, MIN_INLIERS, Keypoints, extract, verify, words
from tripline.keypoints.features import WORD_BITS, WORD_TABLES

_register()
KODAK = [Image.open(p).convert("RGB") for p in photos("kodak24", 8)]


def crop(im: Image.Image, left: float, top: float, right: float, bottom: float) -> Image.Image:
    w, h = im.size
    return im.crop((round(left * w), round(top * h), w - round(right * w), h - round(bottom * h)))


def jpeg(im: Image.Image, quality: int = 60) -> Image.Image:
    return Image.open(io.BytesIO(encode(im, quality=quality))).convert("RGB")


def blur_frame(im: Image.Image, frac: float) -> Image.Image:
    w, h = round(im.width * (1 + frac)), round(im.height * (1 + frac))
    canvas = im.resize((w, h)).filter(ImageFilter.GaussianBlur(max(w, h) / 25))
    canvas.paste(im, ((w - im.width) // 2, (h - im.height) // 2))
    return canvas


def test_extract_orders_by_strength_and_finds_nothing_on_flat_images():
    kp = extract(KODAK[0])
    assert 100 < len(kp) <= 500 and kp.descriptors.shape == (len(kp), 32) and kp.descriptors.dtype == np.uint8
    assert max(kp.size) == 512 and kp.points[:, 0].max() < kp.size[0] and kp.points[:, 1].max() < kp.size[1]
    assert len(kp.top(BANK_FEATURES)) == BANK_FEATURES
    assert len(extract(Image.new("RGB", (640, 480), (90, 120, 150)))) == 0


def test_banked_keypoints_are_spread_over_the_image():
    # kodim03's strongest points crowd its left side: cut 8% from the left, the
    # strongest 128 keep 11-13 points, below the 15 needed; the spread 128 keep
    # dozens.
    im = KODAK[2]
    kp = extract(im)
    top, kept = kp.top(BANK_FEATURES), kp.spread(BANK_FEATURES)
    assert len(kept) == BANK_FEATURES and len(kp.spread(10_000)) == len(kp)
    cells = lambda k: set(map(tuple, (k.points * 4 // np.array(k.size)).astype(int).tolist()))  # noqa: E731
    assert len(cells(kept)) > len(cells(top))
    # Round-robin: the first points come one from each occupied cell.
    n = len(cells(kp))
    assert len(cells(Keypoints(kept.points[:n], kept.descriptors[:n], kept.size))) == n
    cut = extract(jpeg(crop(im, 0.08, 0.0625, 0.0, 0.0), 90))
    assert not verify(cut, top).confirmed and verify(cut, kept).inliers >= 2 * MIN_INLIERS


def test_off_centre_crop_is_confirmed_with_its_geometry():
    # 10% of each dimension removed, 7:3 between the sides, then JPEG q60:
    # PDQ is ~100 bits away, the keypoints still agree on one placement.
    for im in KODAK[:4]:
        edited = jpeg(crop(im, 0.07, 0.03, 0.03, 0.07))
        assert hamming(hash_bytes(encode(im)).pdq, hash_bytes(encode(edited)).pdq) > 31
        v = verify(extract(edited), extract(im).spread(BANK_FEATURES))
        assert v.confirmed
        assert v.coverage == pytest.approx(0.81, abs=0.03)
        # Both sides are scaled to 512 px, so the crop shows the picture 1/0.9 larger.
        assert v.scale == pytest.approx(1 / 0.9, rel=0.03) and abs(v.rotation) < 1


def test_blurred_frame_is_confirmed():
    for im in KODAK[:3]:
        v = verify(extract(jpeg(blur_frame(im, 0.10), 90)), extract(im).spread(BANK_FEATURES))
        assert v.confirmed and v.coverage > 0.97


def test_unrelated_photos_are_not_confirmed():
    banked = [extract(im).spread(BANK_FEATURES) for im in KODAK]
    for i, im in enumerate(KODAK):
        query = extract(jpeg(crop(im, 0.05, 0.05, 0.0, 0.0)))
        for j, other in enumerate(banked):
            v = verify(query, other)
            assert v.confirmed == (i == j), (i, j, v)
            if i != j:
                assert v.inliers < MIN_INLIERS // 2  # a wide margin, not a near miss


def test_two_photos_of_one_subject_are_not_a_copy():
    # The same tiger photographed twice: its face agrees on ~20 points, but
    # tilted by ~9 degrees, which no crop, frame or resize does.
    a, b = (
        Image.open(p).convert("RGB")
        for p in (
            shared("corpus", "photos", "bsds500", "108041.jpg"),
            shared("corpus", "photos", "bsds500", "108082.jpg"),
        )
    )
    # The strongest points, not the spread ones a bank keeps: the face then
    # supplies enough inliers that only the tilt rule can reject the pair.
    v = verify(extract(jpeg(a, 75)), extract(b).top(BANK_FEATURES))
    assert v.inliers >= MIN_INLIERS and not v.aligned and not v.confirmed


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.tuples(*[st.floats(0, 0.08) for _ in range(4)]), st.integers(0, 3))
def test_any_crop_up_to_8_percent_a_side_is_confirmed(fractions, which):
    left, top, right, bottom = fractions
    im = KODAK[which]
    v = verify(extract(jpeg(crop(im, left, top, right, bottom), 75)), extract(im).spread(BANK_FEATURES))
    assert v.confirmed
    assert v.coverage == pytest.approx((1 - left - right) * (1 - top - bottom), abs=0.03)


def test_words_are_the_first_descriptor_bits_one_table_each():
    d = np.random.default_rng(3).integers(0, 256, size=(50, 32), dtype=np.uint8)
    w = words(d)
    assert w.shape == (50, WORD_TABLES) and w.dtype == np.int64
    assert ((w >> WORD_BITS) == np.arange(WORD_TABLES)).all()  # tables never collide
    changed = d.copy()
    changed[:, 20:] ^= 0xFF  # bits no word reads
    assert np.array_equal(words(changed), w)
    changed = d.copy()
    changed[:, 5] ^= 0x01  # a bit of table 1's word
    diff = words(changed) != w
    assert diff[:, 1].all() and not diff[:, [0, 2, 3]].any()


def test_words_shared_by_many_banked_images_are_dropped():
    rng = np.random.default_rng(4)
    common = rng.integers(0, 256, size=(1, 32), dtype=np.uint8)
    banked = []
    for i in range(40):
        desc = rng.integers(0, 256, size=(64, 32), dtype=np.uint8)
        desc[0] = common[0]
        banked.append((i, Keypoints(rng.random((64, 2), dtype=np.float32) * 300, desc, (320, 240))))
    index = KeypointIndex.of(banked)
    query = Keypoints(np.zeros((2, 2), np.float32), np.concatenate([common, banked[7][1].descriptors[5:6]]), (320, 240))
    assert index.touched(query) == WORD_TABLES  # only the rare descriptor's postings are read
    assert index.postings() == 40 * 63 * WORD_TABLES


def test_records_round_trip_and_a_torn_tail_is_cut(tmp_path):
    folder = tmp_path / "b.keypoints"
    kps = [extract(im) for im in KODAK[:3]]
    bank_keypoints.append(folder, [(10, kps[0]), (11, kps[1])])
    with open(folder / "records.bin", "ab") as fh:  # a crash in the middle of an append
        fh.write(b"\x01" * (RECORD.itemsize // 2))
    bank_keypoints.append(folder, [(12, kps[2])])
    assert bank_keypoints.count(folder) == 3
    index = KeypointIndex.open(folder)
    assert [index.entry_id(r) for r in range(3)] == [10, 11, 12]
    back = index.keypoints(1)
    assert back.size == kps[1].size and len(back) == BANK_FEATURES
    kept = kps[1].spread(BANK_FEATURES)
    assert np.array_equal(back.descriptors, kept.descriptors)
    assert np.abs(back.points - kept.points).max() <= 1 / 64
    index.close()
    assert KeypointIndex.open(tmp_path / "missing") is None


def test_inverted_file_is_kept_beside_the_records_and_rebuilt_when_they_grow(tmp_path):
    folder = tmp_path / "b.keypoints"
    bank_keypoints.append(folder, [(i, extract(im)) for i, im in enumerate(KODAK[:3])])
    query = extract(jpeg(crop(KODAK[1], 0.06, 0.0, 0.0, 0.06)))
    first = KeypointIndex.open(folder)
    [cache] = folder.glob("inverted-3-*.npy")
    reopened = KeypointIndex.open(folder)
    assert isinstance(reopened._postings, np.memmap)  # reused, not rebuilt
    assert reopened.candidates(query) == first.candidates(query) and reopened.candidates(query)[0][0] == 1

    bank_keypoints.append(folder, [(3, extract(KODAK[3]))])
    grown = KeypointIndex.open(folder)
    assert not cache.exists() and len(list(folder.glob("inverted-4-*.npy"))) == 1
    assert grown.postings() > first.postings()

    [cache] = folder.glob("inverted-4-*.npy")
    cache.write_bytes(b"not an array")  # torn or foreign: rebuilt
    again = KeypointIndex.open(folder)
    assert not isinstance(again._postings, np.memmap) and again.postings() == grown.postings()
    for index in (first, reopened, grown, again):
        index.close()


def test_inverted_file_proposes_the_banked_original_first():
    index = KeypointIndex.of([(100 + i, extract(im)) for i, im in enumerate(KODAK)])
    for i, im in enumerate(KODAK):
        found = index.candidates(extract(jpeg(crop(im, 0.0, 0.08, 0.06, 0.0))))
        assert found and index.entry_id(found[0][0]) == 100 + i
        assert index.touched(extract(im)) >= found[0][1]
    assert index.candidates(extract(Image.new("RGB", (300, 200), (10, 10, 10)))) == []


def _bank(banks: Banks, images: list[Image.Image]) -> list[int]:
    banks.create("b")
    entries, keypoints = [], {}
    for im in images:
        rec = hash_bytes(encode(im, quality=95), keypoints=True)
        entries.append(("pdq", rec.pdq, None))
        keypoints[rec.pdq] = rec.keypoints
    banks.add("b", entries, keypoints=keypoints)
    return [e.id for e in banks.store.iter_entries("b", signal_type="pdq")]


def _item(im: Image.Image) -> dict:
    rec = hash_bytes(encode(im, quality=85), robust=True, keypoints=True)
    return {
        "pdq": rec.pdq,
        "pdq_quality": rec.pdq_quality,
        "pdq_dihedral": list(rec.pdq_dihedral),
        "pdq_variants": list(rec.pdq_variants),
        "keypoints": rec.keypoints,
    }


def _match(banks, items):
    m = banks.matcher(["b"])
    try:
        assert m.uses_keypoints
        return m.match(items)
    finally:
        m.close()


def test_matcher_finds_cropped_copies_and_explains_them(banks):
    ids = _bank(banks, KODAK[:4])
    items = [_item(crop(KODAK[0], 0.07, 0.03, 0.03, 0.07)), _item(KODAK[5]), _item(KODAK[1])]
    cropped, unrelated, plain = _match(banks, items)
    assert [m.entry_id for m in cropped] == [ids[0]]
    m = cropped[0]
    assert m.normalisation == "keypoints" and m.bank_hash == "keypoints" and m.distance > 31
    assert m.geometry["inliers"] >= MIN_INLIERS and m.geometry["coverage"] == pytest.approx(0.81, abs=0.03)
    assert "local keypoints" in m.explanation and "81%" in m.explanation and "cropped" in m.explanation
    assert json.dumps(m.to_dict())  # records stay plain JSON
    assert unrelated == []
    # A plain PDQ match is not tried again by the keypoint stage.
    assert [(x.entry_id, x.normalisation) for x in plain] == [(ids[1], None)]


def test_removed_and_disabled_entries_stop_matching(banks):
    _bank(banks, KODAK[:2])
    pdq = hash_bytes(encode(KODAK[0], quality=95)).pdq
    item = _item(crop(KODAK[0], 0.08, 0.0, 0.0, 0.06))
    assert _match(banks, [item])[0]
    banks.set_enabled("b", "pdq", [pdq], False)
    assert _match(banks, [item]) == [[]]
    banks.set_enabled("b", "pdq", [pdq], True)
    assert _match(banks, [item])[0]
    banks.remove("b", "pdq", [pdq])
    assert _match(banks, [item]) == [[]]


def test_scan_flags_an_off_centre_crop_and_writes_no_keypoints(tmp_path, sqlite_url):
    runner = CliRunner()
    common = ["--home", str(tmp_path / "home"), "--db", sqlite_url]
    banked, up = tmp_path / "banked", tmp_path / "up"
    banked.mkdir()
    up.mkdir()
    for i, im in enumerate(KODAK[:3]):
        im.save(banked / f"b{i}.png")
    jpeg(crop(KODAK[2], 0.02, 0.09, 0.06, 0.01)).save(up / "reframed.jpg")
    KODAK[6].save(up / "other.png")
    assert runner.invoke(app, ["bank", "create", "known", *common]).exit_code == 0
    add = runner.invoke(app, ["bank", "add", "known", "--image", str(banked), *common])
    assert add.exit_code == 0, add.output
    res = runner.invoke(
        app, ["scan", str(up), "--out", str(tmp_path / "out"), "--workers", "0", "--no-provenance", *common]
    )
    assert res.exit_code == 1, res.output
    lines = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    recs = {r["key"].rsplit("/", 1)[-1]: r for r in map(json.loads, lines)}
    assert recs["reframed.jpg"]["flagged"] and not recs["other.png"]["flagged"]
    assert recs["reframed.jpg"]["matches"][0]["normalisation"] == "keypoints"
    assert not any("keypoints" in r for r in recs.values())
    stats = runner.invoke(app, ["bank", "stats", "known", *common])
    assert '"keypoint_records": 3' in stats.output
