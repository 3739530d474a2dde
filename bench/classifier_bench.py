"""Per-item overhead of the classifier stage in a scan.

    .venv/bin/python bench/classifier_bench.py [--shared ../shared] [--limit 48] [--repeat 2]

Scans the same corpus photos (in-process, workers=0, fresh output each time)
with, in the same run:
* no classifiers (the anchor);
* the local ONNX slot, batched (batch = 16) and unbatched (batch = 1), with a
  small convolutional model this script builds with random weights (224 px
  input; it classifies nothing, it only costs what a small model costs);
* a loopback remote classifier (the generic HTTP type against a local fake
  that answers at once, so what is measured is Tripline's own overhead:
  encoding, HTTP, retries bookkeeping, budget counter in SQLite).
Prints ms per item, the overhead over the anchor, and the ratio (variants
interleaved per round, best round kept, so machine load hits all alike).
Because a whole scan item costs tens of ms and the stage a few, it also
times the two parts of the stage on their own, on the same photos: what the
worker keeps per item (``prepare``: the reduced RGB copy and the bytes) and
the stage call itself (``ClassifierStage.run`` over the records). Nothing is
sent anywhere but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402
from _shared import corpus_photos, shared_dir  # noqa: E402

from fake_classifiers import FakeVendor  # noqa: E402
from tripline.banks import Banks  # noqa: E402
from tripline.policy import load_policy  # noqa: E402
from tripline.scan import ScanOptions, run_scan  # noqa: E402
from tripline.store import Store  # noqa: E402
from tripline.store.secrets import SecretStore  # noqa: E402
from tripline.vault import StaticKeyProvider  # noqa: E402

SIZE = 224
KEYS = StaticKeyProvider(bytes(range(32)))


def small_cnn(path: Path) -> None:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def w(name, *shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.1).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["l"], transB=1),
        helper.make_node("Sigmoid", ["l"], ["y"]),
    ]
    inits = [w("w1", 16, 3, 3, 3), w("b1", 16), w("w2", 32, 16, 3, 3), w("b2", 32), w("w3", 2, 32), w("b3", 2)]
    graph = helper.make_graph(
        nodes,
        "bench",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())


HEAD = '[policy]\nname = "bench"\nversion = "1"\n'


def variants(tmp: Path, fake_url: str) -> dict[str, str | None]:
    small_cnn(tmp / "cnn.onnx")
    onnx = '[classifiers.local]\ntype = "onnx"\nmodel = "cnn.onnx"\nsize = 224\nlabels = ["a", "b"]\nbatch = {}\n'
    return {
        "no classifiers (anchor)": None,
        "onnx 224px, batched (16)": HEAD + onnx.format(16),
        "onnx 224px, unbatched (1)": HEAD + onnx.format(1),
        "loopback remote (http)": HEAD + f'[classifiers.remote]\ntype = "http"\ncredential = "bench"\n'
        f'url = "{fake_url}"\nallow_private = true\ndaily_budget = 1000000\n',
    }


def scan_once(photos: list[Path], policy, tmp: Path, db: str) -> float:
    out = tmp / "out"
    shutil.rmtree(out, ignore_errors=True)
    store = Store(db)
    banks = Banks(store, tmp / "index")
    try:
        t0 = time.perf_counter()
        run_scan(
            [str(p) for p in photos],
            out_dir=out,
            store=store,
            banks=banks,
            policy=policy,
            options=ScanOptions(keypoints=False),
            workers=0,
            fresh=True,
        )
        return time.perf_counter() - t0
    finally:
        banks.close()
        store.close()


def stage_only(photos: list[Path], policies: dict, db: str, repeat: int) -> None:
    """The stage's own cost, without the rest of the scan around it."""
    from dataclasses import replace

    from tripline.classifiers.runtime import open_stage
    from tripline.scan.pipeline import process_item
    from tripline.scan.walker import Item

    items = [Item(key=str(p), stamp="", size=p.stat().st_size, data=p.read_bytes()) for p in photos]
    base = ScanOptions(keypoints=False)
    t0 = time.perf_counter()
    for it in items:
        process_item(it, base)
    hash_ms = (time.perf_counter() - t0) * 1000 / len(items)
    print(f"stage alone (process_item without classifiers: {hash_ms:.2f} ms/item):")
    print(f"  {'variant':32s} {'prepare':>9s} {'stage':>9s} {'total':>9s} {'% of item':>9s}")
    with Store(db) as store:
        for name, policy in policies.items():
            if policy is None:
                continue
            stage = open_stage(policy, store.engine)
            opts = replace(base, classifier_input=stage.input_spec)
            best_prep = best_run = float("inf")
            for _ in range(repeat):
                recs = []
                t_prep = 0.0
                for it in items:
                    t = time.perf_counter()
                    rec, _ = process_item(it, opts)
                    t_prep += time.perf_counter() - t
                    rec["matches"] = []
                    recs.append(rec)
                t = time.perf_counter()
                for k in range(0, len(recs), 64):  # the scan sink's batch
                    stage.run(recs[k : k + 64])
                best_run = min(best_run, (time.perf_counter() - t) * 1000 / len(recs))
                best_prep = min(best_prep, t_prep * 1000 / len(items) - hash_ms)
            stage.close()
            total = max(best_prep, 0.0) + best_run
            print(f"  {name:32s} {best_prep:+9.2f} {best_run:9.2f} {total:9.2f} {100 * total / hash_ms:8.1f}%")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared")
    ap.add_argument("--limit", type=int, default=48)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    photos = corpus_photos(shared_dir(args.shared))[: args.limit]
    tmp = Path(tempfile.mkdtemp(prefix="clf-bench-"))
    fake = FakeVendor("http", score=0.1)
    try:
        db = f"sqlite:///{tmp / 'bench.db'}"
        with Store(db) as s:
            SecretStore(s.engine, KEYS).set("bench", kind="http", secret={"token": "bench"})
        import tripline.classifiers.runtime as rt

        rt_keys = rt.Runtime.keys
        rt.Runtime.keys = lambda self: KEYS  # the bench's in-memory master key
        policies = {}
        for name, text in variants(tmp, fake.url).items():
            policies[name] = None
            if text is not None:
                (tmp / f"{len(policies)}.toml").write_text(text)
                policies[name] = load_policy(tmp / f"{len(policies)}.toml")
            scan_once(photos[:4], policies[name], tmp, db)  # warm-up: imports, model load
        results = {name: float("inf") for name in policies}
        for _ in range(args.repeat):
            for name, policy in policies.items():
                results[name] = min(results[name], scan_once(photos, policy, tmp, db) * 1000 / len(photos))
        anchor = results["no classifiers (anchor)"]
        print(f"{len(photos)} photos, best of {args.repeat} interleaved rounds, workers=0 (in-process)")
        print("whole scan, ms per item:")
        print(f"  {'variant':32s} {'ms/item':>9s} {'overhead':>9s} {'ratio':>6s}")
        for name, ms in results.items():
            print(f"  {name:32s} {ms:9.2f} {ms - anchor:+9.2f} {ms / anchor:6.3f}")
        stage_only(photos, policies, db, args.repeat)
        rt.Runtime.keys = rt_keys
        print(f"remote calls answered by the loopback fake: {len(fake.requests)}")
    finally:
        fake.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
