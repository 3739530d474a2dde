"""`tripline video ...` end to end on a temporary state folder."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from shared_data import shared
from tripline.video import cli as video_cli

CLIPS = shared("fixtures", "vpdq", "videos")


def app() -> typer.Typer:
    a = typer.Typer()
    a.command("noop")(lambda: None)  # a group needs a sibling to keep its name
    video_cli.register(a)
    return a


def test_bank_add_match_export(tmp_path):
    run = CliRunner().invoke
    home = ["--home", str(tmp_path)]
    from tripline.banks import Banks
    from tripline.store import Store

    with Store(f"sqlite:///{tmp_path / 'tripline.db'}") as store:
        Banks(store, tmp_path / "index").create("known")
    r = run(
        app(),
        [
            "video",
            "bank-add",
            "known",
            str(CLIPS / "doorknob-hd-no-bar.mp4"),
            *home,
            "--db",
            f"sqlite:///{tmp_path / 'tripline.db'}",
        ],
    )
    assert r.exit_code == 0, r.output
    db = ["--db", f"sqlite:///{tmp_path / 'tripline.db'}"]
    r = run(
        app(),
        ["video", "match", str(CLIPS / "doorknob-hd-no-bar.mp4"), str(CLIPS / "pattern-sd-grey-bar.mp4"), *home, *db],
    )
    assert r.exit_code == 1, r.output
    lines = [json.loads(x) for x in r.output.splitlines()]
    assert lines[0]["matches"][0]["query_match_pct"] == 100 and lines[1]["matches"] == []
    r = run(app(), ["video", "bank-export", "known", *home, *db])
    assert r.output.startswith("vpdq [")
    r = run(app(), ["video", "bank-set", "known", "--bank-pct", "50", *home, *db])
    assert json.loads(r.output)["bank_match_pct"] == 50
    stats = json.loads(run(app(), ["video", "bank-stats", "known", *home, *db]).output)
    assert stats["videos"]["enabled"] == 1 and stats["frames"] == 4
    value = lines[0]["matches"][0]["value"]
    r = run(app(), ["video", "bank-remove", "known", value, *home, *db])
    assert r.output.strip() == "removed 1"
    r = run(app(), ["video", "hash", str(CLIPS / "doorknob-hd-no-bar.mp4")])
    assert r.exit_code == 0 and r.output.startswith("vpdq [")
