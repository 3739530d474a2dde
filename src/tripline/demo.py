"""`make demo`: bank some benign corpus photos, build an "uploads" folder that
mixes edited copies of them with photos that are not banked, and scan it.

Everything is benign: the "known" bank is built from ordinary photos in
../shared/corpus/photos, standing in for a real hash list.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import zipfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

EDITS = {
    "rotated90": lambda im: im.rotate(90, expand=True),
    "mirrored": ImageOps.mirror,
    "jpeg-q40": lambda im: im,
    "half-size": lambda im: im.resize((im.width // 2, im.height // 2)),
    "grayscale": lambda im: ImageOps.grayscale(im).convert("RGB"),
    "captioned": lambda im: _caption(im),
    "brighter": lambda im: im.point(lambda v: min(255, int(v * 1.15))),
    # Plain PDQ misses these three; border trimming, banked centre crops and
    # keypoints (for the off-centre crop) catch them.
    "framed": lambda im: ImageOps.expand(im, border=im.width // 8, fill="black"),
    "cropped": lambda im: ImageOps.crop(im, border=im.width // 20),
    "reframed": lambda im: im.crop((im.width // 10, 0, im.width, im.height - im.height // 12)),
    "rotated180": lambda im: im.rotate(180),
}


def _caption(im: Image.Image) -> Image.Image:
    im = im.copy()
    ImageDraw.Draw(im).text((10, 10), "reposted", fill="yellow")
    return im


def _save_jpeg(im: Image.Image, path: Path, quality: int = 90) -> None:
    im.convert("RGB").save(path, "JPEG", quality=quality)


def build_inputs(shared: Path, work: Path) -> tuple[list[Path], Path, dict]:
    photos = shared / "corpus" / "photos"
    if not photos.is_dir():
        sys.exit(f"demo: {photos} not found; pass --shared pointing at the shared data folder")
    banked = sorted((photos / "kodak24").glob("*.png"))[: len(EDITS) + 1]
    unbanked = sorted((photos / "bsds500").glob("*.jpg"))[:12]
    uploads = work / "uploads"
    shutil.rmtree(uploads, ignore_errors=True)
    uploads.mkdir(parents=True)
    expected = {"flagged": [], "clean": []}
    for (name, edit), src in zip(EDITS.items(), banked, strict=False):
        out = uploads / f"{src.stem}-{name}.jpg"
        with Image.open(src) as im:
            _save_jpeg(edit(im.convert("RGB")), out, 40 if name == "jpeg-q40" else 90)
        expected["flagged"].append(out.name)
    for src in unbanked[:10]:
        shutil.copy(src, uploads / src.name)
        expected["clean"].append(src.name)
    # A zip of uploads, as a platform export would deliver them.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(banked[-1], f"export/{banked[-1].name}")
        zf.write(unbanked[-1], f"export/{unbanked[-1].name}")
    (uploads / "export.zip").write_bytes(buf.getvalue())
    expected["flagged"].append(f"export/{banked[-1].name}")
    # Benign files written by image generators: provenance marks them synthetic.
    for src in sorted((shared / "fixtures" / "provenance" / "generators" / "AUTOMATIC1111").iterdir())[:2]:
        shutil.copy(src, uploads / f"generated-{src.name}")
    # A broken upload: one clear per-item error, the batch goes on.
    (uploads / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated upload")
    return banked, uploads, expected


def _name(key: str) -> str:
    """File name, or the member path inside an archive."""
    return key.split("!", 1)[1] if "!" in key else Path(key).name


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shared", default="../shared")
    ap.add_argument("--workdir", default="demo-out")
    args = ap.parse_args(argv)
    work = Path(args.workdir).resolve()
    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    os.environ["TRIPLINE_HOME"] = str(home)
    os.environ.pop("TRIPLINE_DB", None)

    banked, uploads, expected = build_inputs(Path(args.shared), work)
    from tripline.cli import _register, app
    from tripline.hashing import VARIANT_DESCRIPTIONS

    _register()

    def run(*cli_args: str) -> int:
        print(f"\n$ tripline {' '.join(cli_args)}", flush=True)
        # Without standalone mode the command's exit code is returned, not raised.
        rv = app(list(cli_args), standalone_mode=False)
        return rv if isinstance(rv, int) else 0

    run("bank", "create", "demo-known", "--description", "benign stand-in for a known-content list")
    run("bank", "add", "demo-known", *[arg for p in banked for arg in ("--image", str(p))])
    run("bank", "list")
    code = run("scan", str(uploads), "--out", str(work / "scan"), "--fresh")

    records = [json.loads(line) for line in (work / "scan" / "results.jsonl").read_text().splitlines()]
    flagged = {_name(r["key"]) for r in records if r.get("flagged")}
    missed = [f for f in expected["flagged"] if f not in flagged]
    false = [f for f in expected["clean"] if f in flagged]
    print(
        f"\nEdited copies of banked photos flagged: {len(expected['flagged']) - len(missed)}/{len(expected['flagged'])}"
        f"; unbanked photos flagged: {len(false)}/{len(expected['clean'])}."
    )
    for r in records:
        for m in r.get("matches") or []:
            how = m.get("explanation") or VARIANT_DESCRIPTIONS.get(m["variant"], m["variant"])
            how = "" if how == "as is" else f", matched {how}"
            print(f"  {Path(r['key']).name:40s} {m['signal_type']:6s} distance {m['distance']:3d}{how}")
    print(f"Report (blurred thumbnails only): {work / 'scan' / 'report.html'}")
    if missed or false or code != 1:
        print(f"demo: unexpected outcome (missed {missed}, false {false}, exit {code})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
