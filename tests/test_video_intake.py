"""Video intake: magic bytes, container probing, limits and per-item errors."""

from __future__ import annotations

import pytest

from tripline.model import ErrorCode
from tripline.video import (
    VideoLimits,
    VideoOptions,
    is_animated,
    is_video,
    probe,
    process_video_item,
    sniff_video,
)
from tripline.video.hashing import hash_animation
from video_fixtures import sample, synth_gif, synth_video


@pytest.mark.parametrize(
    "fmt, media_type",
    [
        ("mp4", "video/mp4"),
        ("mov", "video/quicktime"),
        ("matroska", "video/x-matroska"),
        ("avi", "video/x-msvideo"),
    ],
)
def test_containers_are_sniffed_and_hashed(fmt, media_type):
    data = synth_video(fmt)
    assert sniff_video(data[:4096]) == media_type
    record, thumbs = process_video_item(data, VideoOptions())
    assert "error" not in record, record.get("error")
    assert record["media_type"] == media_type
    assert (record["width"], record["height"]) == (64, 48)
    assert record["vpdq"]["count"] == 2 and [f[2] for f in record["vpdq"]["frames"]] == [0.0, 1.0]
    assert len(thumbs) == len(record["thumbs"]) >= 1


def test_webm_magic_is_told_from_matroska():
    head = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm"
    assert sniff_video(head) == "video/webm"
    assert sniff_video(head.replace(b"\x84webm", b"\x88matroska")) == "video/x-matroska"


def test_images_are_not_videos():
    gif = synth_gif(1)
    assert not is_animated(gif) and not is_video(gif)
    assert sniff_video(b"\xff\xd8\xff\xe0" + b"\0" * 60) is None


def test_animated_gif_is_hashed_per_second():
    data = synth_gif(frames=12, duration_ms=250)  # 3 s
    assert is_animated(data) and is_video(data)
    record, thumbs = process_video_item(data)
    assert record["media_type"] == "image/gif" and "error" not in record
    assert [f[2] for f in record["vpdq"]["frames"]] == [0.0, 1.0, 2.0]
    every = hash_animation(data, seconds_per_hash=0)
    assert len(every) == 12 and every[1].timestamp == 0.25
    assert len(thumbs) == 3


def test_probe_reads_the_header():
    info = probe(sample("doorknob-hd-no-bar"))
    assert (info.width, info.height, info.frames, info.fps, info.duration) == (1280, 720, 120, 30.0, 4.0)
    assert info.has_audio and info.codec == "h264"


@pytest.mark.parametrize(
    "limits, code",
    [
        (VideoLimits(max_duration=1.0), ErrorCode.TOO_LONG),
        (VideoLimits(max_pixels=64 * 40), ErrorCode.TOO_MANY_PIXELS),
        (VideoLimits(max_frames=10), ErrorCode.TOO_MANY_FRAMES),
        (VideoLimits(max_bytes=100), ErrorCode.TOO_MANY_BYTES),
        (VideoLimits(min_side=50), ErrorCode.TOO_SMALL),
    ],
)
def test_limits_give_per_item_errors(limits, code):
    record, thumbs = process_video_item(synth_video(), VideoOptions(limits=limits))
    assert record["error"]["code"] == code and thumbs == []
    assert record["md5"] and record["sha256"]  # exact hashes survive every error


def test_decode_deadline_kills_the_decoder():
    opts = VideoOptions(limits=VideoLimits(max_decode_seconds=0.05), thumbnails=False, provenance=False)
    record, _ = process_video_item(sample("chair-22-sd-sepia-bar"), opts)
    assert record["error"]["code"] == ErrorCode.TIMEOUT


@pytest.mark.parametrize(
    "mangle, codes",
    [
        (lambda d: b"", {ErrorCode.EMPTY}),
        (lambda d: d[:5000], {ErrorCode.TRUNCATED}),
        (lambda d: d[: len(d) // 2], {ErrorCode.TRUNCATED}),
        (lambda d: d[:32] + bytes(len(d) - 32), {ErrorCode.TRUNCATED, ErrorCode.DECODE_ERROR}),
        (lambda d: b"RIFF\0\0\0\0AVI LIST" + bytes(200), {ErrorCode.DECODE_ERROR, ErrorCode.TRUNCATED}),
        (lambda d: b"not a video at all", {ErrorCode.UNSUPPORTED_TYPE}),
    ],
)
def test_broken_files_give_a_clear_error(mangle, codes):
    record, thumbs = process_video_item(mangle(sample("doorknob-hd-no-bar")))
    assert record["error"]["code"] in codes, record["error"]
    assert record["error"]["message"] and thumbs == []


def test_animated_webp_is_hashed_through_pillow():
    import io

    from PIL import Image

    ims = [Image.new("RGB", (64, 64), (i * 40, 100, 200 - i * 40)) for i in range(5)]
    for i, im in enumerate(ims):
        im.paste((255, 255, 255), (i * 10, 10, i * 10 + 12, 50))
    buf = io.BytesIO()
    ims[0].save(buf, "WEBP", save_all=True, append_images=ims[1:], duration=500, lossless=True)
    record, thumbs = process_video_item(buf.getvalue())
    assert record["media_type"] == "image/webp" and "error" not in record, record.get("error")
    assert [f[2] for f in record["vpdq"]["frames"]] == [0.0, 1.0, 2.0]


def test_slightly_cut_file_is_hashed_with_a_warning():
    data = sample("pattern-sd-grey-bar")
    record, _ = process_video_item(data[:-10])
    assert "error" not in record and record["vpdq"]["count"] == 7
    assert record["warnings"][0].startswith("truncated")
