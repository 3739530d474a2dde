"""Loopback fakes of the remote classifiers' documented shapes, and tiny
test-built ONNX models. Nothing here reaches any address but 127.0.0.1.

The fake answers every POST with the vendor's documented success shape
(scores from ``score``) unless a fault is queued::

    fake.fail("429")         # HTTP 429 with Retry-After: 0
    fake.fail("500")         # HTTP 500
    fake.fail("timeout")     # sleep past the client's timeout, then answer
    fake.fail("garbage")     # 200 with a body that is not JSON
    fake.fail("400")         # HTTP 400 (not retried)
"""

from __future__ import annotations

import json
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


def vendor_answer(vendor: str, score: float, n: int = 1) -> dict:
    if vendor == "google-content-safety":
        prio = ["VERY_LOW", "LOW", "MEDIUM", "HIGH", "VERY_HIGH"][min(4, int(score * 4.999))]
        return {"reviewPriorities": [prio] * n, "modelVersion": "fake-cs-1"}
    if vendor == "hive":
        return {
            "id": "t1",
            "code": 200,
            "status": [
                {
                    "status": {"code": "0", "message": "SUCCESS"},
                    "response": {
                        "input": {"model": "ai_generated_image_detection", "model_version": 3},
                        "output": [
                            {
                                "time": 0,
                                "classes": [
                                    {"class": "ai_generated", "score": score},
                                    {"class": "not_ai_generated", "score": 1 - score},
                                ],
                            }
                        ],
                    },
                }
            ],
        }
    if vendor == "safer":
        return {
            "output": [
                {
                    "file": {
                        "fileType": "image",
                        "reasons": [],
                        "classifierPrediction": {
                            "csam_classifier": {"pornography": 0.0, "csam": score, "other": 1 - score}
                        },
                    },
                    "hashes": [],
                }
            ]
        }
    return {"labels": {"photo_abuse": score}, "model": "inhouse-7"}


class FakeVendor:
    def __init__(self, vendor: str, score: float = 0.5, delay: float = 0.0):
        self.vendor, self.score, self.delay = vendor, score, delay
        self.faults: list[str] = []
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with fake.lock:
                    fault = fake.faults.pop(0) if fake.faults else None
                    fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if fake.delay:
                    time.sleep(fake.delay)
                if fault == "timeout":
                    time.sleep(1.0)
                if fault in ("429", "500", "400"):
                    self.send_response(int(fault))
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                    return
                n = 1
                if fake.vendor == "google-content-safety":
                    n = len(json.loads(body)["images"])
                out = (
                    b"not json"
                    if fault == "garbage"
                    else json.dumps(vendor_answer(fake.vendor, fake.score, n)).encode()
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/classify"

    def fail(self, *faults: str) -> None:
        with self.lock:
            self.faults.extend(faults)

    def multipart_media(self, i: int = -1) -> bytes:
        req = self.requests[i]
        head = f"Content-Type: {req['headers']['Content-Type']}\r\n\r\n".encode()
        msg = BytesParser(policy=HTTP).parsebytes(head + req["body"])
        return next(
            p.get_payload(decode=True)
            for p in msg.iter_parts()
            if p.get_param("name", header="content-disposition") == "media"
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def brightness_model(path, size: int = 16, labels: int = 1, input_shape=None) -> bytes:
    """An ONNX model whose one score is the image's mean brightness in [0, 1]
    (and, with labels=2, 1 - brightness as the second)."""
    import onnx
    from onnx import TensorProto, helper

    shape = input_shape or ["N", 3, size, size]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Unsqueeze", ["m", "ax"], ["b"]),
    ]
    inits = [helper.make_tensor("ax", TensorProto.INT64, [1], [1])]
    out_name = "b"
    if labels == 2:
        nodes += [
            helper.make_node("Sub", ["one", "b"], ["inv"]),
            helper.make_node("Concat", ["b", "inv"], ["y"], axis=1),
        ]
        inits.append(helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0]))
        out_name = "y"
    y = helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["N", labels])
    graph = helper.make_graph(nodes, "brightness", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    path.write_bytes(data)
    return data


BRIGHT_POLICY = """[policy]
name = "clf"
version = "1"
[classifiers.bright]
type = "onnx"
model = "bright.onnx"
size = 16
labels = ["brightness"]
"""


def gray(value: int, size=(40, 30)):
    from PIL import Image

    return Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8), "RGB")
