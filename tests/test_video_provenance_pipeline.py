"""Video provenance (C2PA in MP4 + container tags, one record), the scan
record and its thumbnails, and the video tables of the store."""

from __future__ import annotations

import io
import json

from PIL import Image

from shared_data import shared
from tripline.store import Store
from tripline.video import (
    frame_grid,
    marked_thumbs,
    process_video_item,
    read_video_provenance,
)
from tripline.video.intake import probe
from tripline.video.provenance import tag_evidence
from video_fixtures import sample, synth_video


def test_c2pa_in_mp4_and_tags_share_one_record():
    data = shared("fixtures", "provenance", "c2pa", "video1.mp4").read_bytes()
    rec = read_video_provenance(data, probe(data))
    assert rec["c2pa"]["present"] and rec["c2pa"]["validation_state"] == "valid"
    assert rec["c2pa"]["claim_generator"].startswith("TestApp c2patool")
    assert rec["container_tags"]["video"]["encoder"] == "AVC Coding"


def test_generator_tags_are_declared_evidence():
    data = synth_video(metadata={"comment": "made with AnimateDiff v3", "title": "holiday"})
    rec = read_video_provenance(data, probe(data))
    assert rec["container_tags"]["format"]["comment"] == "made with AnimateDiff v3"
    assert rec["generator"]["family"] == "animatediff" and rec["synthetic"] == "declared"


def test_comfyui_workflow_comment_yields_prompt():
    graph = {"prompt": {"3": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse at dusk"}}}}
    gens, ev = tag_evidence({"format": {"comment": json.dumps(graph)}})
    assert gens[0].family == "comfyui" and gens[0].prompts == ["a lighthouse at dusk"]
    assert ev[0].strength == "declared"


def test_ordinary_tags_are_not_evidence():
    gens, ev = tag_evidence(
        {
            "format": {"encoder": "Lavf58.76.100", "comment": "veo la playa, wan kenobi"},
            "video": {"handler_name": "VideoHandler"},
        }
    )
    assert gens == [] and ev == []


def test_record_shape_and_safe_thumbnails():
    record, thumbs = process_video_item(sample("doorknob-hd-no-bar"))
    assert {
        "media_type",
        "width",
        "height",
        "md5",
        "sha256",
        "duration",
        "frames",
        "vpdq",
        "provenance",
        "thumbs",
    } <= set(record)
    assert record["vpdq"]["count"] == 4 and record["vpdq"]["usable"] == 2
    json.dumps(record)  # plain data only
    assert [t["t"] for t in record["thumbs"]] == [0.0, 1.0, 2.0, 3.0] and len(thumbs) == 4
    for t in thumbs:
        im = Image.open(io.BytesIO(t))
        assert im.mode == "L" and max(im.size) <= 96
    grid = Image.open(io.BytesIO(frame_grid(thumbs, marked=[1])))
    assert grid.mode == "L"
    matches = [{"segments": [{"start": 1.0, "end": 2.0}]}]
    assert marked_thumbs([t["t"] for t in record["thumbs"]], matches) == [1, 2]


def test_video_tables_exist_and_cascade(db_url):
    with Store(db_url) as store:
        store.create_bank("b")
        [(eid, _, _)] = store.add_entries("b", [("vpdq", "a" * 64, None)]).added
        store.add_video_frames("b", {eid: [("0" * 64, 90, 0.0), ("0" * 64, 90, 1.0)]})
        assert [f.duplicate for f in store.iter_video_frames("b")] == [False, True]
        store.remove_entries("b", "vpdq", ["a" * 64])
        assert store.count_video_frames("b") == 0
        assert store.get_video_settings("b") is None
        store.set_video_settings("b", 90, 10)
        assert store.get_video_settings("b") == (90.0, 10.0)


def test_mutated_videos_never_raise():
    import random

    from video_fixtures import synth_video

    data = bytearray(synth_video())
    rng = random.Random(1)
    for _ in range(12):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 40)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        record, thumbs = process_video_item(bytes(mutated))
        assert "vpdq" in record or record["error"]["code"], record
