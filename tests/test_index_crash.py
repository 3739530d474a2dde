"""kill -9 during updates leaves the index in the state before or after the op in flight."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tripline.index import PDQIndex


def gen_ops(seed):
    """An endless, deterministic stream of update operations (child and test agree)."""
    rng = np.random.default_rng(seed)
    while True:
        x = rng.random()
        if x < 0.55:
            k = int(rng.integers(1, 12))
            yield ("add", rng.integers(0, 4000, k).astype(np.int64), rng.integers(0, 256, (k, 32), dtype=np.uint8))
        elif x < 0.85:
            yield ("remove", rng.integers(0, 4000, int(rng.integers(1, 30))).astype(np.int64))
        elif x < 0.93:
            yield ("compact",)
        else:  # past compact_threshold: logged, then the base is rewritten
            k = int(rng.integers(60, 200))
            yield ("add", rng.integers(0, 4000, k).astype(np.int64), rng.integers(0, 256, (k, 32), dtype=np.uint8))


CHILD = r"""
import importlib.util, sys
import numpy as np
spec = importlib.util.spec_from_file_location("crash_ops", sys.argv[1])
ops = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ops)
from tripline.index import PDQIndex, mih
path, seed = sys.argv[2], int(sys.argv[3])
idx = PDQIndex.open(path, compact_threshold=50)
# Load the numba kernels before "ready" so the kill lands among updates.
z = np.zeros((1, 16), np.uint16)
mih.build_tables(z, np.zeros((16, 65537), np.uint32), np.zeros((16, 1), np.uint32), z.T.copy())
idx.search(np.zeros((1, 32), np.uint8), 31)
print("ready", flush=True)
for i, op in enumerate(ops.gen_ops(seed)):
    if op[0] == "add":
        idx.add(op[1], op[2])
    elif op[0] == "remove":
        idx.remove(op[1])
    else:
        idx.compact()
    print("done", i, flush=True)
"""


def apply(state: dict, op) -> None:
    if op[0] == "add":
        for i, c in zip(op[1], op[2], strict=True):
            state[int(i)] = c.tobytes()
    elif op[0] == "remove":
        for i in op[1]:
            state.pop(int(i), None)


def as_dict(idx) -> dict:
    ids, codes = idx.export()
    return {int(i): c.tobytes() for i, c in zip(ids, codes, strict=True)}


@pytest.mark.parametrize("round_", range(6))
def test_kill_minus_9_leaves_before_or_after(tmp_path, round_):
    rng = np.random.default_rng(100 + round_)
    path = tmp_path / "idx"
    init_ids = np.arange(0, 4000, 2, dtype=np.int64)
    init_codes = rng.integers(0, 256, (len(init_ids), 32), dtype=np.uint8)
    PDQIndex.build(path, init_ids, init_codes).close()
    state0 = {int(i): c.tobytes() for i, c in zip(init_ids, init_codes, strict=True)}

    seed = 1000 + round_
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, __file__, str(path), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        time.sleep(float(rng.uniform(0.05, 0.8)))
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, err
    done = [int(line.split()[1]) for line in out.splitlines() if line.startswith("done")]
    last = done[-1] if done else -1
    assert last >= 3, "child made too little progress to test anything"

    ops = list(itertools.islice(gen_ops(seed), last + 2))
    before = dict(state0)
    for op in ops[: last + 1]:
        apply(before, op)
    after = dict(before)
    apply(after, ops[last + 1])

    # A reader opening the crashed directory as-is, then the writer's recovery.
    for readonly in (True, False):
        idx = PDQIndex.open(path, readonly=readonly)
        got = as_dict(idx)
        assert got == before or got == after, f"readonly={readonly}: corrupt state after op {last}"
        if not readonly:
            # still usable: a further update and a search work
            idx.add([99999], np.zeros((1, 32), np.uint8))
            assert idx.search(np.zeros((1, 32), np.uint8), 0)[0][0].tolist()[-1] == 99999
        idx.close()
