"""Property (#23): any bytes as a file, under any name, give at least one
record (exactly one unless the bytes are an archive), each serialisable as
UTF-8 JSON, and never an exception or a worker crash."""

import json
import os
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tripline.media import Limits, sniff
from tripline.scan.pipeline import ScanOptions, process_item
from tripline.scan.runner import thumb_name
from tripline.scan.walker import ARCHIVE_TYPES, name_bytes, walk

# Magic prefixes steer a share of the examples into each decoder.
MAGIC = [
    b"",
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF89a",
    b"RIFF\0\0\0\0WEBP",
    b"PK\x03\x04",
    b"\x1f\x8b\x08",
    b"\x1a\x45\xdf\xa3",
    b"\0\0\0\x18ftypmp42",
    b"II*\0",
    b"BM",
]
names = st.binary(min_size=1, max_size=120).filter(
    lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b"..")
)
contents = st.tuples(st.sampled_from(MAGIC), st.binary(max_size=3000)).map(lambda t: t[0] + t[1])
OPTIONS = ScanOptions(limits=Limits(max_seconds=5), keypoints=False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=names, data=contents)
def test_any_bytes_under_any_name_give_one_record(name, data):
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.fsencode(tmp) + b"/" + name
        with open(raw, "wb") as f:
            f.write(data)
        items = list(walk([tmp]))
        assert items, "no record at all"
        if sniff(data[:512]) not in ARCHIVE_TYPES:
            assert len(items) == 1
        for item in items:
            rec, _ = process_item(item, OPTIONS)
            line = json.dumps(rec, ensure_ascii=False).encode("utf-8")  # no lone surrogates
            assert json.loads(line)["key"] == item.key
            assert (rec.get("error") or {}).get("code") != "worker_crashed"
            thumb_name(rec["key"])
        assert name_bytes({"key": items[0].key, "key_b64": items[0].key_b64}).startswith(raw)
