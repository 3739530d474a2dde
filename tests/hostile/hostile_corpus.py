"""Builds the hostile-input corpus of issue #23 in a folder: truncated photos,
bombs by declared size, lying archives, malformed metadata, special files and
hostile names. Every byte is benign: ordinary photos from ../shared, flat
colours, zeros and random noise; the "attacks" are only in declared sizes,
structure and names.

``build(folder)`` returns the manifest: for every entry the scan must list,
its key (as the scan writes it) and the expected outcome (None = hashed
without error, else an error code or a skipped_* reason).
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import socket
import struct
import tarfile
import warnings
import zipfile
import zlib
from pathlib import Path

from PIL import Image

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
OK = None


def photos(n: int) -> list[Path]:
    return sorted((SHARED / "corpus" / "photos" / "bsds500").iterdir())[:n]


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def pattern(w: int = 96, h: int = 72, seed: int = 0) -> Image.Image:
    rnd = random.Random(seed)
    im = Image.new("RGB", (w, h))
    im.putdata([((x * 7 + seed) % 256, (y * 5) % 256, rnd.randrange(256)) for y in range(h) for x in range(w)])
    return im


# --- PNG building blocks --------------------------------------------------------------------------


def png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body) & 0xFFFFFFFF)


def png_with_chunks(png: bytes, *chunks: bytes) -> bytes:
    """``png`` with extra chunks inserted right after IHDR."""
    at = 8 + 12 + struct.unpack(">I", png[8:12])[0]
    return png[:at] + b"".join(chunks) + png[at:]


def ztxt(keyword: bytes, text: bytes) -> bytes:
    return png_chunk(b"zTXt", keyword + b"\0\0" + zlib.compress(text, 9))


def itxt(keyword: bytes, text: bytes, compressed: bool = False) -> bytes:
    body = zlib.compress(text, 9) if compressed else text
    return png_chunk(b"iTXt", keyword + b"\0" + (b"\1\0" if compressed else b"\0\0") + b"\0\0" + body)


def text_chunk(keyword: bytes, text: bytes) -> bytes:
    return png_chunk(b"tEXt", keyword + b"\0" + text)


def tall_png(width: int = 8, height: int = 12_500_000) -> bytes:
    """A grey strip whose IDAT is zeros: ~112 KB declaring 100 M pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    comp = zlib.compressobj(9)
    row = b"\0" * (width + 1)
    idat = b"".join(comp.compress(row * 100_000) for _ in range(height // 100_000)) + comp.flush()
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def pixel_bomb_png(side: int = 100_000) -> bytes:
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + png_chunk(b"IEND", b"")
    )


def comfy_cycle_graph(n: int) -> bytes:
    """N KSampler nodes, each one's positive/negative/model linked to the next, in a cycle."""
    graph = {}
    for i in range(n):
        nxt = str((i + 1) % n)
        graph[str(i)] = {
            "class_type": "KSampler",
            "inputs": {
                "seed": i,
                "steps": 20,
                "positive": [nxt, 0],
                "negative": [nxt, 0],
                "model": [nxt, 0],
                "text": f"a photo of a lighthouse {i % 7}",
            },
        }
    return json.dumps(graph).encode()


def lora_flood() -> bytes:
    return b"<lora:" * 33_000 + b"\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 96x72, Model: m"


# --- animations, WebM -----------------------------------------------------------------------------


def animated_gif(frames: int = 12, size: tuple[int, int] = (64, 48)) -> bytes:
    ims = [pattern(*size, seed=i).convert("P") for i in range(frames)]
    return encode(ims[0], "GIF", save_all=True, append_images=ims[1:], duration=100, loop=0)


def many_frame_gif(frames: int, screen: int) -> bytes:
    """A big logical screen and many 1-pixel frames: tiny file, slow to composite."""
    frame = (
        b"\x21\xf9\x04\x00\x01\x00\x00\x00"  # GCE: 10 ms
        b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00"  # 1x1 image at 0,0
        b"\x02\x02\x44\x01\x00"
    )  # LZW data
    head = b"GIF89a" + struct.pack("<HH", screen, screen) + b"\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff"
    return head + frame * frames + b"\x3b"


def webm_garbage() -> bytes:
    rnd = random.Random(23)
    return b"\x1a\x45\xdf\xa3" + bytes(rnd.randrange(256) for _ in range(4096))


# --- archives -------------------------------------------------------------------------------------


def zip_of(members: list[tuple[str, bytes]], compression=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", compression) as zf:
        warnings.simplefilter("ignore", UserWarning)  # duplicate names are the point
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def tar_of(members: list[tuple[str, bytes]], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.GNU_FORMAT) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def lying_tar(declared: int, pad: int = 12_000) -> bytes:
    """One GNU tar member declaring ``declared`` bytes, followed by almost nothing."""
    info = tarfile.TarInfo("huge.bin")
    info.size = declared
    return info.tobuf(format=tarfile.GNU_FORMAT) + b"\0" * pad


def tar_gz_bomb(member_bytes: int = 64 * 1024**2) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("zeros.bin")
        info.size = member_bytes
        tf.addfile(info, io.BytesIO(bytes(member_bytes)))
    return buf.getvalue()


def nested_zip(depth: int, inner: bytes) -> bytes:
    data = inner
    for level in range(depth):
        data = zip_of([(f"level{level}.zip" if level else "inner.jpg", data)])
    return data


# --- the corpus -----------------------------------------------------------------------------------


def build(folder: Path) -> dict[str, object]:
    """Write the corpus into ``folder``; return {key: expected} for every listed entry."""
    folder.mkdir(parents=True, exist_ok=True)
    expect: dict[str, object] = {}
    root = str(folder)

    def put(name: str | bytes, data: bytes, code: object = OK, member: str | None = None) -> None:
        raw = os.fsencode(root) + b"/" + (name if isinstance(name, bytes) else name.encode())
        with open(raw, "wb") as f:
            f.write(data)
        expect[_key(raw) if member is None else _key(raw) + "!" + member] = code

    src = photos(6)
    jpeg = src[0].read_bytes()
    png = encode(Image.open(src[1]).convert("RGB"), "PNG")
    webp = encode(Image.open(src[2]).convert("RGB"), "WEBP", quality=80)
    gif = animated_gif()
    for p in src:
        put(p.name, p.read_bytes())
    put("pattern.png", encode(pattern(), "PNG"))

    # truncated and damaged media
    put("cut.jpg", jpeg[: len(jpeg) // 2], "truncated")
    put("cut.png", png[: len(png) // 2], "truncated")
    put("cut.webp", webp[: len(webp) // 2], "truncated")
    put("cut.gif", gif[: len(gif) // 2], "truncated")
    put("empty.jpg", b"", "empty")
    put("noise.jpg", random.Random(1).randbytes(5000), "unsupported_type")
    put("webm-garbage.webm", webm_garbage(), "decode_error")

    # bombs by declared size
    put("tall.png", tall_png(), "too_many_pixels")
    put("pixel-bomb.png", pixel_bomb_png(), "too_many_pixels")
    with open(folder / "sparse.jpg", "wb") as f:  # 1.5 GiB declared, a few KB on disk
        f.write(jpeg)
        f.truncate(1536 * 1024**2)
    expect[str(folder / "sparse.jpg")] = "too_many_bytes"

    # metadata that must not cost the pixels (and their PDQ)
    put("ztxt-bomb.png", png_with_chunks(png, ztxt(b"Comment", b"\0" * 2 * 1024**2)))
    put(
        "xmp-itxt.png",
        png_with_chunks(png, itxt(b"XML:com.adobe.xmp", b"<x:xmpmeta>" + b" " * 3 * 1024**2, compressed=True)),
    )
    put("comfy-cycle.png", png_with_chunks(png, text_chunk(b"prompt", comfy_cycle_graph(2000))))
    put("lora-flood.png", png_with_chunks(png, text_chunk(b"parameters", lora_flood())))
    put("exif-garbage.jpg", jpeg[:2] + b"\xff\xe1\xff\xf0Exif\0\0MM\0*" + b"\xff" * (65_518 - 10) + jpeg[2:])

    # lying archives
    put("four-bytes.zip", b"PK\x03\x04", "decode_error")
    put("lying.tar", lying_tar(3 * 1024**4), "archive_limit", member="huge.bin")
    put("gnu-100g.tar", lying_tar(100 * 1024**3, pad=0), "archive_limit", member="huge.bin")
    put("bomb.tar.gz", tar_gz_bomb(), "archive_limit", member="zeros.bin")
    put(
        "bomb.zip",
        zip_of([("zeros.bin", bytes(64 * 1024**2))], zipfile.ZIP_DEFLATED),
        "archive_limit",
        member="zeros.bin",
    )
    put("traversal.zip", zip_of([("../../escape.jpg", jpeg)]), "archive_unsafe", member="../../escape.jpg")
    put("dup.zip", zip_of([("a.jpg", jpeg), ("a.jpg", jpeg)]), OK, member="a.jpg")
    expect[str(folder / "dup.zip") + "!a.jpg#2"] = OK
    put("deep.zip", nested_zip(5, jpeg), "archive_limit", member="level4.zip!level3.zip!level2.zip")
    put("poly.jpg", jpeg + zip_of([("inside.jpg", jpeg)]))
    expect[str(folder / "poly.jpg") + "!inside.jpg"] = OK

    # hostile names
    put(b"bad\xff\xfe.png", png)
    put("line\nbreak.jpg", jpeg)
    put("<img src=x onerror=alert(1)>.jpg", jpeg)
    put("-rf --no-preserve-root.jpg", jpeg)
    put("rtl\u202egnp.jpg", jpeg)
    put("bang!and#hash.jpg", jpeg)
    put("x" * 200 + ".jpg", jpeg)

    # special entries: never opened, always listed
    os.mkfifo(folder / "pipe.jpg")
    expect[str(folder / "pipe.jpg")] = "skipped_special"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "sock.png"))
    sock.close()  # the socket file stays
    expect[str(folder / "sock.png")] = "skipped_special"
    for name, target in (
        ("link-file.jpg", folder / src[0].name),
        ("link-dir", folder / "sub"),
        ("link-dangling.jpg", folder / "gone.jpg"),
        ("link-outside.jpg", Path("/etc/passwd")),
        ("link-loop", folder / "link-loop"),
    ):
        os.symlink(target, folder / name)
        expect[str(folder / name)] = "skipped_link"
    (folder / "sub").mkdir()
    shutil.copy(src[3], folder / "sub" / "inner.jpg")
    expect[str(folder / "sub" / "inner.jpg")] = OK
    return expect


def _key(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace")
