import io
import os
import pickle
import socket
import tarfile
import time
import zipfile

from PIL import Image

from shared_data import encode
from tripline.model import ErrorCode
from tripline.scan.walker import ArchiveLimits, count_items, name_bytes, walk

JPEG = encode(Image.new("RGB", (32, 32), "red"), "JPEG")


def _zip(members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_folder_walk_is_sorted_and_lists_symlinks_as_skipped(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.jpg").write_bytes(JPEG)
    (tmp_path / "1.jpg").write_bytes(JPEG)
    (tmp_path / "link.jpg").symlink_to("/etc/passwd")
    items = list(walk([str(tmp_path)]))
    assert [i.key for i in items] == [
        str(tmp_path / "1.jpg"),
        str(tmp_path / "b" / "2.jpg"),
        str(tmp_path / "link.jpg"),
    ]
    assert [i.skipped and i.skipped["code"] for i in items] == [None, None, "skipped_link"]
    assert items[2].fs_path is None and items[2].data is None


def test_zip_members_are_read_in_memory_and_traversal_is_refused(tmp_path):
    archive = tmp_path / "upload.bin"  # no extension: detected by magic bytes
    archive.write_bytes(_zip({"ok/a.jpg": JPEG, "../../etc/evil.jpg": JPEG, "/abs.jpg": JPEG}))
    items = {i.key.split("!", 1)[1]: i for i in walk([str(archive)])}
    assert items["ok/a.jpg"].data == JPEG and items["ok/a.jpg"].error is None
    assert items["../../etc/evil.jpg"].error.code == ErrorCode.ARCHIVE_UNSAFE
    assert items["/abs.jpg"].error.code == ErrorCode.ARCHIVE_UNSAFE


def test_tar_links_are_not_followed(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("a.jpg")
        info.size = len(JPEG)
        tf.addfile(info, io.BytesIO(JPEG))
        link = tarfile.TarInfo("link.jpg")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/shadow"
        tf.addfile(link)
    path = tmp_path / "x.tgz"
    path.write_bytes(buf.getvalue())
    items = {i.key.rsplit("!", 1)[1]: i for i in walk([str(path)])}
    assert items["a.jpg"].data == JPEG
    assert items["link.jpg"].error.code == ErrorCode.ARCHIVE_UNSAFE


def test_nested_archives_within_the_depth_limit(tmp_path):
    inner = _zip({"deep.jpg": JPEG})
    outer = _zip({"inner.zip": inner})
    path = tmp_path / "outer.zip"
    path.write_bytes(outer)
    items = list(walk([str(path)]))
    assert [i.key for i in items] == [f"{path}!inner.zip!deep.jpg"]
    too_deep = list(walk([str(path)], ArchiveLimits(max_depth=1)))
    assert too_deep[0].error.code == ErrorCode.ARCHIVE_LIMIT


def test_zip_bomb_ratio_and_member_count(tmp_path):
    path = tmp_path / "bomb.zip"
    path.write_bytes(_zip({"zeros.jpg": b"\0" * (20 * 1024 * 1024)}, zipfile.ZIP_DEFLATED))
    (item,) = walk([str(path)])
    assert item.error.code == ErrorCode.ARCHIVE_LIMIT and "ratio" in item.error.message
    many = tmp_path / "many.zip"
    many.write_bytes(_zip({f"{n}.jpg": JPEG for n in range(5)}))
    (item,) = walk([str(many)], ArchiveLimits(max_members=4))
    assert item.error.code == ErrorCode.ARCHIVE_LIMIT


def test_corrupt_archive_is_one_error_item(tmp_path):
    path = tmp_path / "broken.zip"
    path.write_bytes(_zip({"a.jpg": JPEG})[:40])
    items = list(walk([str(path)]))
    assert len(items) == 1 and items[0].error is not None


def test_missing_path_is_an_error_item(tmp_path):
    (item,) = walk([str(tmp_path / "nope")])
    assert item.error.code == ErrorCode.READ_ERROR


def test_item_errors_survive_pickling():
    # Regression (#23.1): the walker's ItemError reached the worker as
    # "__init__() missing 1 required positional argument: 'message'".
    (item,) = walk(["/nonexistent/tripline"])
    back = pickle.loads(pickle.dumps(item))
    assert back.error.code == ErrorCode.READ_ERROR and back.error.message == item.error.message


def test_fifo_socket_and_links_are_listed_never_opened(tmp_path):
    os.mkfifo(tmp_path / "pipe.jpg")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock.png"))
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.jpg").write_bytes(JPEG)
    (tmp_path / "to_file.jpg").symlink_to(tmp_path / "real" / "a.jpg")
    (tmp_path / "to_dir").symlink_to(tmp_path / "real")
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "missing")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "outside.jpg").symlink_to("/etc/hostname")
    try:
        t0 = time.monotonic()
        assert count_items([str(tmp_path)]) == 8  # the FIFO is not opened (#23.3)
        items = {os.path.basename(i.key): i for i in walk([str(tmp_path)])}
        assert time.monotonic() - t0 < 5
        codes = {k: (i.skipped or {}).get("code") for k, i in items.items()}
        assert codes == {
            "a.jpg": None,
            "pipe.jpg": "skipped_special",
            "sock.png": "skipped_special",
            "to_file.jpg": "skipped_link",
            "to_dir": "skipped_link",
            "dangling.jpg": "skipped_link",
            "loop": "skipped_link",
            "outside.jpg": "skipped_link",
        }
        # --follow-links: followed only while the target stays inside the roots
        followed = {i.key[len(str(tmp_path)) + 1 :]: i for i in walk([str(tmp_path)], follow_links=True)}
        assert followed["to_file.jpg"].skipped is None and followed["to_file.jpg"].read() == JPEG
        assert followed["outside.jpg"].skipped["code"] == "skipped_link"
        assert "outside" in followed["outside.jpg"].skipped["message"]
        assert followed["loop"].skipped["code"] == "skipped_link"
        assert followed["dangling.jpg"].skipped["code"] == "skipped_link"
        # the real folder and the link to it are the same folder: scanned once
        assert followed["real/a.jpg"].skipped is None
        assert followed["to_dir"].skipped["code"] == "skipped_link" and "to_dir/a.jpg" not in followed
    finally:
        sock.close()


def test_a_symlink_named_on_the_command_line_is_scanned(tmp_path):
    (tmp_path / "a.jpg").write_bytes(JPEG)
    (tmp_path / "link.jpg").symlink_to(tmp_path / "a.jpg")
    (item,) = walk([str(tmp_path / "link.jpg")])
    assert item.skipped is None and item.read() == JPEG


def test_non_utf8_names_round_trip(tmp_path):
    raw = os.fsencode(str(tmp_path)) + b"/bad\xff\xfe.png"
    with open(raw, "wb") as f:
        f.write(JPEG)
    (item,) = walk([str(tmp_path)])
    item.key.encode("utf-8")  # always valid UTF-8 (#23.2)
    assert item.key.endswith("bad\\xff\\xfe.png")
    assert name_bytes({"key": item.key, "key_b64": item.key_b64}) == raw
    assert item.read() == JPEG


def test_tar_member_declaring_terabytes_is_refused_quickly(tmp_path):
    # Regression (#23.4): a 14 KB tar declaring a 3 TB member spent 223 s skipping it.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        info = tarfile.TarInfo("ok.jpg")
        info.size = len(JPEG)
        tf.addfile(info, io.BytesIO(JPEG))
    lying = tarfile.TarInfo("huge.bin")
    lying.size = 3 * 1024**4
    hdr = lying.tobuf(format=tarfile.GNU_FORMAT)
    path = tmp_path / "lie.tar"
    first = 512 + -(-len(JPEG) // 512) * 512
    path.write_bytes(buf.getvalue()[:first] + hdr + b"\0" * 12_000)
    t0 = time.monotonic()
    items = list(walk([str(path)]))
    assert time.monotonic() - t0 < 5
    by = {i.key.split("!", 1)[1]: i for i in items}
    assert by["ok.jpg"].data == JPEG
    assert by["huge.bin"].error.code == ErrorCode.ARCHIVE_LIMIT


def test_tar_gz_has_a_ratio_limit(tmp_path):
    # Regression (#23.4): a 3 MB tar.gz expanding to 3 GB had no ratio limit.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for n in range(3):
            info = tarfile.TarInfo(f"zeros{n}.bin")
            info.size = 8 * 1024**2
            tf.addfile(info, io.BytesIO(bytes(info.size)))
    path = tmp_path / "bomb.tar.gz"
    path.write_bytes(buf.getvalue())
    assert path.stat().st_size * 200 < 24 * 1024**2
    items = list(walk([str(path)]))
    assert any(
        i.error is not None and i.error.code == ErrorCode.ARCHIVE_LIMIT and "200:1" in i.error.message for i in items
    )


def test_duplicate_member_names_are_distinct_items(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.jpg", JPEG)
        zf.writestr("a.jpg", JPEG + b"x")
    (tmp_path / "dup.zip").write_bytes(buf.getvalue())
    keys = [i.key.split("!", 1)[1] for i in walk([str(tmp_path / "dup.zip")])]
    assert keys == ["a.jpg", "a.jpg#2"]


def test_zip_appended_to_a_jpeg_is_scanned(tmp_path):
    # #23.10: polyglots.
    (tmp_path / "poly.jpg").write_bytes(JPEG + _zip({"inner.jpg": JPEG}))
    items = list(walk([str(tmp_path / "poly.jpg")]))
    assert [i.key.rsplit("/", 1)[1] for i in items] == ["poly.jpg", "poly.jpg!inner.jpg"]
    assert items[0].warnings and items[0].warnings[0].startswith("carries_archive")
    assert items[1].data == JPEG


def test_sparse_file_over_the_limit_is_refused_before_reading(tmp_path):
    from tripline.model import ItemError

    path = tmp_path / "sparse.jpg"
    with open(path, "wb") as f:
        f.write(JPEG)
        f.truncate(1024**3)
    (item,) = walk([str(path)], max_bytes=1024)
    try:
        item.read(1024)
    except ItemError as exc:
        assert exc.code == ErrorCode.TOO_MANY_BYTES
    else:
        raise AssertionError("read a file over the limit")


def test_an_archive_without_files_still_gets_one_record(tmp_path):
    # Found by the property test: a gzip stream holding no tar members gave
    # zero records, so the upload vanished from the results.
    (tmp_path / "x").write_bytes(b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\x00\x00\x01\n\x00")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w"):
        pass
    (tmp_path / "empty.zip").write_bytes(buf.getvalue())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("only-a-folder")
        info.type = tarfile.DIRTYPE
        tf.addfile(info)
    (tmp_path / "dirs.tar").write_bytes(buf.getvalue())
    items = list(walk([str(tmp_path)]))
    assert sorted(os.path.basename(i.key) for i in items) == ["dirs.tar", "empty.zip", "x"]
    assert all(i.error is not None and i.error.code == ErrorCode.EMPTY for i in items)
