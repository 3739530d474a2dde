import io
import tarfile
import zipfile

from PIL import Image

from tripline.model import ErrorCode
from tripline.scan.walker import ArchiveLimits, walk
from shared_data import encode

JPEG = encode(Image.new("RGB", (32, 32), "red"), "JPEG")


def _zip(members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_folder_walk_is_sorted_and_skips_symlinks(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.jpg").write_bytes(JPEG)
    (tmp_path / "1.jpg").write_bytes(JPEG)
    (tmp_path / "link.jpg").symlink_to("/etc/passwd")
    keys = [i.key for i in walk([str(tmp_path)])]
    assert keys == [str(tmp_path / "1.jpg"), str(tmp_path / "b" / "2.jpg")]


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
