"""The classifier seam, the local ONNX slot and the classifier policy signal.

Every model here is built by the test (mean brightness); no classifier of
any real content is involved."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from fake_classifiers import brightness_model, gray  # noqa: E402
from tripline.classifiers import ClassifierConfigError, ClassifierInput, Scores  # noqa: E402
from tripline.classifiers.registry import BUILTIN_CLASSIFIER_TYPES, classifier_factory, open_classifier  # noqa: E402
from tripline.classifiers.runtime import open_stage  # noqa: E402
from tripline.policy import PolicyError, decide, default_policy, load_policy  # noqa: E402

ONNX_POLICY = """
[policy]
name = "t"
version = "1"

[classifiers.bright]
type = "onnx"
model = "models/bright.onnx"
size = 16
labels = ["brightness"]
{extra}

[[rule]]
name = "bright-image"
when = 'classifier(name == "bright" and label == "brightness" and score >= 0.7)'
action = "review"
priority = "P1"
reason = "test rule on a test-built brightness score"
"""


def write_policy(tmp_path: Path, extra: str = "", labels: int = 1, **kw) -> Path:
    (tmp_path / "models").mkdir(exist_ok=True)
    brightness_model(tmp_path / "models" / "bright.onnx", labels=labels, **kw)
    p = tmp_path / "policy.toml"
    p.write_text(ONNX_POLICY.format(extra=extra))
    return p


def test_builtin_types_and_the_one_lookup():
    assert set(BUILTIN_CLASSIFIER_TYPES) == {"onnx", "google-content-safety", "safer", "hive", "http"}
    assert classifier_factory("onnx") is BUILTIN_CLASSIFIER_TYPES["onnx"]
    with pytest.raises(LookupError, match="unknown classifier type 'nope'"):
        classifier_factory("nope")


def test_default_policy_configures_no_classifier():
    assert default_policy().classifiers == {}
    assert open_stage(default_policy()) is None


def test_onnx_scores_are_right_and_batched(tmp_path):
    policy = load_policy(write_policy(tmp_path))
    clf = open_classifier(policy.classifiers["bright"], None)
    values = [0, 51, 128, 255]
    out = clf.classify([ClassifierInput(key=str(v), image=gray(v)) for v in values])
    assert all(isinstance(o, Scores) for o in out)
    for v, o in zip(values, out, strict=True):
        assert o.labels["brightness"] == pytest.approx(v / 255, abs=1e-5)
        assert o.model == "onnx:sha256:" + policy.classifiers["bright"].model_sha256
    # One bad item (no image) is an error for that item only.
    mixed = clf.classify([ClassifierInput(key="a", image=None), ClassifierInput(key="b", image=gray(255))])
    assert mixed[0].code == "no_image" and mixed[1].labels["brightness"] == pytest.approx(1.0)


def test_two_label_model(tmp_path):
    policy_path = write_policy(tmp_path, labels=2)
    policy_path.write_text(
        policy_path.read_text().replace('labels = ["brightness"]', 'labels = ["brightness", "dark"]')
    )
    clf = open_classifier(load_policy(policy_path).classifiers["bright"], None)
    (o,) = clf.classify([ClassifierInput(key="x", image=gray(204))])
    assert o.labels == pytest.approx({"brightness": 0.8, "dark": 0.2}, abs=1e-5)


def test_model_hash_is_part_of_the_policy_hash(tmp_path):
    p = write_policy(tmp_path)
    before = load_policy(p).sha256
    brightness_model(tmp_path / "models" / "bright.onnx", labels=2)  # same name, other weights
    assert load_policy(p).sha256 != before


def test_missing_model_is_a_load_error_naming_the_classifier(tmp_path):
    p = write_policy(tmp_path)
    (tmp_path / "models" / "bright.onnx").unlink()
    with pytest.raises(PolicyError, match=r"classifier 'bright': cannot read model file"):
        load_policy(p)


def test_corrupt_model_is_a_configuration_error(tmp_path):
    p = write_policy(tmp_path)
    (tmp_path / "models" / "bright.onnx").write_bytes(b"\x08\x01garbage, not a protobuf model")
    spec = load_policy(p).classifiers["bright"]
    with pytest.raises(ClassifierConfigError, match=r"classifier 'bright': .*not a loadable ONNX model"):
        open_classifier(spec, None)


def test_wrong_input_shape_is_a_configuration_error(tmp_path):
    p = write_policy(tmp_path, input_shape=["N", 3, 32, 32])
    with pytest.raises(ClassifierConfigError, match=r"classifier 'bright': .*input shape .*size = 16"):
        open_classifier(load_policy(p).classifiers["bright"], None)


def test_label_count_mismatch_is_a_configuration_error(tmp_path):
    p = write_policy(tmp_path, labels=2)
    with pytest.raises(ClassifierConfigError, match="2 scores, the policy names 1 labels"):
        open_classifier(load_policy(p).classifiers["bright"], None)


def test_model_changed_after_load_is_refused(tmp_path):
    p = write_policy(tmp_path)
    spec = load_policy(p).classifiers["bright"]
    brightness_model(tmp_path / "models" / "bright.onnx", labels=2)
    with pytest.raises(ClassifierConfigError, match="changed since the policy was loaded"):
        open_classifier(spec, None)


@pytest.mark.parametrize(
    "table, message",
    [
        ('[classifiers.x]\ntype = "magic"', "type must be one of"),
        ('[classifiers.x]\ntype = "onnx"\nmodel = "m.onnx"\nlabels = ["a"]', "needs size"),
        ('[classifiers.x]\ntype = "onnx"\nmodel = "m.onnx"\nsize = 16', "needs labels"),
        ('[classifiers.x]\ntype = "hive"', "names a stored credential"),
        ('[classifiers.x]\ntype = "hive"\ncredential = "c"\napi_key = "s3cret"', "unknown key(s) 'api_key'"),
        ('[classifiers.x]\ntype = "safer"\ncredential = "c"', "needs url"),
        ('[classifiers.x]\ntype = "http"\nurl = "ftp://x"', "url must be http"),
        ('[classifiers.x]\ntype = "http"\nurl = "https://x"\neligible = ["sometimes"]', "unknown eligibility"),
        ('[classifiers.x]\ntype = "http"\nurl = "https://x"\nsample = 0', "sample"),
        ('[classifiers.x]\ntype = "http"\nurl = "https://x"\ntimeout = "5"', "must be int or float"),
    ],
)
def test_bad_classifier_tables_fail_at_load(tmp_path, table, message):
    p = tmp_path / "p.toml"
    p.write_text(f'[policy]\nname = "t"\nversion = "1"\n\n{table}\n')
    with pytest.raises(PolicyError, match=re.escape(message)) as err:
        load_policy(p)
    assert "s3cret" not in str(err.value)  # a secret pasted into a policy is never echoed


def test_classifier_signal_is_validated_at_load(tmp_path):
    p = tmp_path / "p.toml"
    p.write_text(
        '[policy]\nname = "t"\nversion = "1"\n[[rule]]\nname = "r"\nwhen = \'classifier(scor >= 0.9)\'\n'
        'action = "review"\npriority = "P1"\nreason = "x"\n'
    )
    with pytest.raises(PolicyError, match="scor"):
        load_policy(p)
    p.write_text(p.read_text().replace("scor >= 0.9", 'score >= "high"'))
    with pytest.raises(PolicyError):
        load_policy(p)


def test_a_rule_on_the_score_fires(tmp_path):
    policy = load_policy(write_policy(tmp_path))
    stage = open_stage(policy)
    records = []
    for v in (40, 230):
        buf = io.BytesIO()
        gray(v).save(buf, "PNG")
        records.append(
            {
                "key": f"g{v}",
                "sha256": f"{v:064x}",
                "media_type": "image/png",
                "matches": [],
                "classifier_input": {"image": gray(v)},
            }
        )
    stage.run(records)
    dark, bright = records
    assert "classifier_input" not in dark
    assert dark["classifiers"]["bright"]["labels"]["brightness"] == pytest.approx(40 / 255, abs=1e-4)
    assert bright["classifiers"]["bright"]["model"].startswith("onnx:sha256:")
    assert bright["classifiers"]["bright"]["ms"] >= 0
    assert decide(policy, dark).action == "allow"
    d = decide(policy, bright)
    assert d.action == "review" and [f.rule for f in d.fired] == ["bright-image"]


def test_eligibility_unmatched_and_sampling(tmp_path):
    policy = load_policy(write_policy(tmp_path, extra='eligible = ["unmatched"]'))
    stage = open_stage(policy)
    matched = {
        "key": "m",
        "sha256": "a" * 64,
        "media_type": "image/png",
        "matches": [{"bank": "b"}],
        "classifier_input": {"image": gray(9)},
    }
    fresh = {
        "key": "f",
        "sha256": "b" * 64,
        "media_type": "image/png",
        "matches": [],
        "classifier_input": {"image": gray(9)},
    }
    stage.run([matched, fresh])
    assert "classifiers" not in matched and "classifier_input" not in matched
    assert "bright" in fresh["classifiers"]

    sampled = open_stage(load_policy(write_policy(tmp_path, extra="sample = 0.25")))
    recs = [
        {
            "key": str(i),
            "sha256": f"{i:064x}",
            "media_type": "image/png",
            "matches": [],
            "classifier_input": {"image": gray(9)},
        }
        for i in range(400)
    ]
    sampled.run(recs)
    chosen = sum(1 for r in recs if "classifiers" in r)
    assert 60 < chosen < 140  # ~100 of 400, and the same ones every run
    again = [
        {
            "key": str(i),
            "sha256": f"{i:064x}",
            "media_type": "image/png",
            "matches": [],
            "classifier_input": {"image": gray(9)},
        }
        for i in range(400)
    ]
    sampled.run(again)
    assert [("classifiers" in r) for r in recs] == [("classifiers" in r) for r in again]


def test_text_flagged_eligibility(tmp_path):
    p = write_policy(tmp_path, extra='eligible = ["text_flagged"]')
    p.write_text(p.read_text() + '\n[lexicons.w]\nterms = ["zebra"]\n[text_rules.zeb]\nany = ["w"]\n')
    stage = open_stage(load_policy(p))
    a = {
        "key": "a",
        "sha256": "a" * 64,
        "media_type": "image/png",
        "matches": [],
        "classifier_input": {"image": gray(1)},
    }
    b = dict(a, key="b", classifier_input={"image": gray(1)})
    stage.run([a], {"caption": "a zebra crossing"})
    stage.run([b], {"caption": "a horse"})
    assert "bright" in a["classifiers"] and "classifiers" not in b


def test_a_failing_classifier_never_fails_the_item(tmp_path):
    policy = load_policy(write_policy(tmp_path))
    stage = open_stage(policy)

    def boom(batch):
        raise RuntimeError("plug-in bug")

    stage.classifiers["bright"].classify = boom
    rec = {
        "key": "a",
        "sha256": "a" * 64,
        "media_type": "image/png",
        "matches": [],
        "classifier_input": {"image": gray(1)},
    }
    stage.run([rec])
    assert rec["classifiers"]["bright"]["error"]["code"] == "classifier_failed"
    assert "error" not in rec
    assert decide(policy, rec).action == "allow"


def test_scan_writes_classifier_results_and_decides_on_them(tmp_path, sqlite_url):
    from tripline.banks import Banks
    from tripline.scan import ScanOptions, run_scan
    from tripline.store import Store

    policy = load_policy(write_policy(tmp_path))
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(1)
    for name, base in (("dark.png", 30), ("bright.png", 220)):
        px = np.clip(base + rng.integers(-20, 20, (64, 64, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(px, "RGB").save(src / name)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    store = Store(sqlite_url)
    try:
        banks = Banks(store, tmp_path / "index")
        result = run_scan(
            [str(src)],
            out_dir=tmp_path / "out",
            store=store,
            banks=banks,
            policy=policy,
            options=ScanOptions(keypoints=False),
            workers=1,
        )
        banks.close()
    finally:
        store.close()
    rows = {
        Path(r["key"]).name: r for r in map(json.loads, (tmp_path / "out" / "results.jsonl").read_text().splitlines())
    }
    assert rows["bright.png"]["classifiers"]["bright"]["labels"]["brightness"] > 0.7
    assert rows["bright.png"]["decision"]["action"] == "review"
    assert rows["dark.png"]["decision"]["action"] == "allow"
    assert "classifiers" not in rows["broken.png"] and rows["broken.png"]["error"]
    assert all("classifier_input" not in r for r in rows.values())
    assert result.summary


def test_recommended_rules_in_the_docs_load_and_behave(tmp_path):
    doc = (Path(__file__).parents[1] / "docs" / "classifiers.md").read_text()
    block = next(b for b in doc.split("```toml")[1:] if "[[rule]]" in b).split("```")[0]
    head = (
        '[policy]\nname = "doc"\nversion = "1"\n'
        '[classifiers.safer]\ntype = "safer"\ncredential = "s"\nurl = "https://safer.invalid/v1"\n'
        '[classifiers.cs]\ntype = "google-content-safety"\ncredential = "g"\n'
        '[classifiers.hive-aigen]\ntype = "hive"\ncredential = "h"\n'
    )
    p = tmp_path / "doc.toml"
    p.write_text(head + block)
    policy = load_policy(p)

    def rec(synthetic="none", matched=False, **scores):
        r = {
            "matches": [{"bank": "b", "bank_kind": "match", "suppressed": False}] if matched else [],
            "provenance": {"synthetic": synthetic},
            "classifiers": {},
        }
        for key, score in scores.items():
            name, label = key.split("__")
            r["classifiers"].setdefault(name.replace("_", "-"), {"labels": {}})["labels"][label] = score
        return r

    d = decide(policy, rec(safer__csam=0.95))
    assert (d.action, d.priority) == ("review", "P0")
    assert decide(policy, rec(safer__csam=0.95, matched=True)).action == "allow"
    assert decide(policy, rec(safer__csam=0.95, synthetic="declared")).action == "allow"
    # An AI-generated score alone does nothing; with provenance it is P2,
    # and it cannot lower an item another rule put at P0.
    assert decide(policy, rec(hive_aigen__ai_generated=0.99)).action == "allow"
    assert decide(policy, rec(hive_aigen__ai_generated=0.99, synthetic="declared")).priority == "P2"
    both = decide(policy, rec(hive_aigen__ai_generated=0.99, synthetic="likely", cs__review_priority=1.0))
    assert both.priority == "P0"


def test_backfill_runs_the_classifier_stage(tmp_path, sqlite_url):
    from tripline.banks import Banks
    from tripline.batch import read_records, run_backfill
    from tripline.scan import ScanOptions
    from tripline.store import Store

    policy = load_policy(write_policy(tmp_path))
    src = tmp_path / "in"
    src.mkdir()
    for name, v in (("dark.png", 20), ("bright.png", 240)):
        gray(v, (64, 48)).save(src / name)
    store = Store(sqlite_url)
    banks = Banks(store, tmp_path / "index")
    try:
        run_backfill(
            [str(src)],
            str(tmp_path / "sink"),
            banks=banks,
            policy=policy,
            options=ScanOptions(provenance=False),
            workers=0,
        )
    finally:
        banks.close()
        store.close()
    rows = {Path(r["key"]).name: r for r in read_records(str(tmp_path / "sink"))}
    assert rows["bright.png"]["classifiers"]["bright"]["labels"]["brightness"] == pytest.approx(240 / 255, abs=1e-3)
    assert rows["bright.png"]["decision"]["action"] == "review"
    assert rows["dark.png"]["decision"]["action"] == "allow"
    assert all("classifier_input" not in r for r in rows.values())


def test_a_non_finite_score_is_an_error_not_a_record_that_cannot_be_stored(tmp_path):
    stage = open_stage(load_policy(write_policy(tmp_path)))
    stage.classifiers["bright"].classify = lambda batch: [Scores({"brightness": float("nan")}, "m", 1.0)] * len(batch)
    rec = {
        "key": "a",
        "sha256": "a" * 64,
        "media_type": "image/png",
        "matches": [],
        "classifier_input": {"image": gray(1)},
    }
    stage.run([rec])
    assert rec["classifiers"]["bright"]["error"]["code"] == "bad_output"
    json.dumps(rec, allow_nan=False)
