"""The local model slot: an operator-supplied ONNX file run with ONNX Runtime.

Contract (docs/classifiers.md): one input, float32 NCHW RGB in [0, 1] at
``size`` x ``size``; one output whose last axis holds one score per
configured label. Anything else is refused when the classifier is opened,
naming the classifier, never discovered on a live item.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence

import numpy as np
from PIL import Image

from tripline.classifiers.base import ClassifierConfigError, ClassifierError, ClassifierInput, Outcome, Scores
from tripline.classifiers.config import ClassifierSpec


class OnnxClassifier:
    wants_bytes = False

    def __init__(self, spec: ClassifierSpec, runtime=None):
        import onnxruntime as ort

        self.name, self.size, self.labels = spec.name, spec.size, spec.labels
        self.batch = spec.batch
        path = spec.model_path
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ClassifierConfigError(self.name, f"cannot read model file {path}: {exc.strerror or exc}") from None
        sha = hashlib.sha256(data).hexdigest()
        if spec.model_sha256 and sha != spec.model_sha256:
            raise ClassifierConfigError(
                self.name,
                f"model file {path} changed since the policy was loaded "
                f"(sha256 {sha[:12]}…, policy has {spec.model_sha256[:12]}…)",
            )
        self.model = f"onnx:sha256:{sha}"
        self.model_sha256 = sha
        opts = ort.SessionOptions()
        # One thread per session: scans already run one process per core.
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors for bad files
            raise ClassifierConfigError(
                self.name, f"model file {path} is not a loadable ONNX model: {str(exc).splitlines()[0][:300]}"
            ) from None
        self._check_signature(path)

    @property
    def input_size(self) -> int:
        return self.size

    def _check_signature(self, path) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1:
            raise ClassifierConfigError(
                self.name, f"{path}: the model must take exactly one input, it takes {len(inputs)}"
            )
        inp = inputs[0]
        if inp.type != "tensor(float)":
            raise ClassifierConfigError(self.name, f"{path}: input {inp.name!r} is {inp.type}, not float32")
        shape = list(inp.shape)
        want = [None, 3, self.size, self.size]
        if len(shape) != 4 or any(isinstance(d, int) and d != w for d, w in zip(shape[1:], want[1:], strict=True)):
            raise ClassifierConfigError(
                self.name,
                f"{path}: input shape {shape} does not fit NCHW "
                f"[N, 3, {self.size}, {self.size}] (size = {self.size} in the policy)",
            )
        self.input_name = inp.name
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None
        if self.fixed_batch not in (None, 1):
            raise ClassifierConfigError(
                self.name, f"{path}: a fixed batch of {shape[0]} is not supported; use 1 or a dynamic N"
            )
        out = outputs[0]
        last = out.shape[-1] if out.shape else None
        if isinstance(last, int) and last != len(self.labels):
            raise ClassifierConfigError(
                self.name, f"{path}: output {out.name!r} has {last} scores, the policy names {len(self.labels)} labels"
            )
        self.output_name = out.name
        # A dry run catches what shapes alone do not (a model that only
        # fails once executed, a symbolic output that is the wrong length).
        try:
            self._run(np.zeros((1, 3, self.size, self.size), np.float32))
        except ClassifierError as exc:
            raise ClassifierConfigError(self.name, f"{path}: {exc}") from None

    def tensor(self, image: Image.Image) -> np.ndarray:
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        if rgb.size != (self.size, self.size):
            rgb = rgb.resize((self.size, self.size), Image.Resampling.BILINEAR)
        return np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / np.float32(255.0)

    def _run(self, x: np.ndarray) -> np.ndarray:
        try:
            y = self.session.run([self.output_name], {self.input_name: x})[0]
        except Exception as exc:  # noqa: BLE001
            raise ClassifierError("model_failed", f"inference failed: {str(exc).splitlines()[0][:300]}") from None
        y = np.asarray(y, dtype=np.float64).reshape(x.shape[0], -1)
        if y.shape[1] != len(self.labels):
            raise ClassifierError("bad_output", f"the model answered {y.shape[1]} scores for {len(self.labels)} labels")
        return y

    def classify(self, batch: Sequence[ClassifierInput]) -> list[Outcome]:
        out: list[Outcome | None] = [None] * len(batch)
        ready = []
        for i, inp in enumerate(batch):
            if inp.image is None:
                out[i] = ClassifierError("no_image", "no decoded image to classify")
            else:
                ready.append((i, self.tensor(inp.image)))
        step = 1 if self.fixed_batch == 1 else self.batch
        for start in range(0, len(ready), step):
            chunk = ready[start : start + step]
            t0 = time.perf_counter()
            try:
                y = self._run(np.stack([t for _, t in chunk]))
            except ClassifierError as exc:
                for i, _ in chunk:
                    out[i] = exc
                continue
            ms = (time.perf_counter() - t0) * 1000 / len(chunk)
            for (i, _), row in zip(chunk, y, strict=True):
                out[i] = Scores(dict(zip(self.labels, map(float, row), strict=True)), self.model, ms)
        return out  # type: ignore[return-value]

    def close(self) -> None:
        self.session = None
