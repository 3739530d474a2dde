"""A small Prometheus text-format registry (per worker process)."""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def _labels(d: dict) -> str:
    if not d:
        return ""
    body = ",".join(
        f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in sorted(d.items())
    )
    return "{" + body + "}"


class Metrics:
    def __init__(self):
        self._lock = threading.Lock()
        self.counters: dict[str, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
        self.hist: dict[tuple, list] = {}
        self.help: dict[str, str] = {}

    def inc(self, name: str, value: float = 1.0, help: str = "", **labels) -> None:
        with self._lock:
            self.help.setdefault(name, help)
            self.counters[name][tuple(sorted(labels.items()))] += value

    def observe(self, name: str, seconds: float, help: str = "", **labels) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self.help.setdefault(name, help)
            h = self.hist.get(key)
            if h is None:
                h = self.hist[key] = [[0] * len(BUCKETS), 0.0, 0]
            for i, b in enumerate(BUCKETS):
                if seconds <= b:
                    h[0][i] += 1
            h[1] += seconds
            h[2] += 1

    def render(self, gauges: dict[str, tuple[str, dict[tuple, float]]] | None = None) -> str:
        out = []
        with self._lock:
            for name, series in sorted(self.counters.items()):
                out.append(f"# HELP {name} {self.help.get(name) or name}")
                out.append(f"# TYPE {name} counter")
                for labels, v in sorted(series.items()):
                    out.append(f"{name}{_labels(dict(labels))} {v:g}")
            names = sorted({k[0] for k in self.hist})
            for name in names:
                out.append(f"# HELP {name} {self.help.get(name) or name}")
                out.append(f"# TYPE {name} histogram")
                for (n, labels), (counts, total, count) in sorted(self.hist.items()):
                    if n != name:
                        continue
                    d = dict(labels)
                    for b, c in zip(BUCKETS, counts, strict=True):
                        out.append(f"{name}_bucket{_labels({**d, 'le': b})} {c}")
                    out.append(f"{name}_bucket{_labels({**d, 'le': '+Inf'})} {count}")
                    out.append(f"{name}_sum{_labels(d)} {total:g}")
                    out.append(f"{name}_count{_labels(d)} {count}")
        for name, (help_text, series) in sorted((gauges or {}).items()):
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} gauge")
            for labels, v in sorted(series.items()):
                out.append(f"{name}{_labels(dict(labels))} {v:g}")
        return "\n".join(out) + "\n"
