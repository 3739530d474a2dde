"""A remote classifier: one vendor's shapes (vendors.py) behind the seam,
with timeouts, retries with backoff, a circuit breaker, a rate limit and a
daily budget. Built only from a configured ``[classifiers.NAME]``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx

from tripline.classifiers.base import ClassifierConfigError, ClassifierError, ClassifierInput, Outcome, Scores
from tripline.classifiers.config import ClassifierSpec
from tripline.classifiers.guards import CircuitBreaker, RateLimiter
from tripline.classifiers.vendors import VENDORS, decode_json
from tripline.service.urlsafe import UnsafeURL, resolve_checked

_RETRY_STATUS = {408, 429, 500, 502, 503, 504}
_MAX_BACKOFF = 5.0
CONCURRENCY = 4  # calls in flight per classifier within one batch


class RemoteClassifier:
    wants_bytes = True
    input_size = None

    def __init__(self, spec: ClassifierSpec, runtime, *, sleep=time.sleep):
        self.name, self.spec, self.sleep = spec.name, spec, sleep
        self.vendor = VENDORS[spec.type]
        try:
            # Refuses private, loopback and link-local targets unless the
            # operator set allow_private for this classifier.
            resolve_checked(spec.url, allow_private=spec.allow_private)
        except UnsafeURL as exc:
            raise ClassifierConfigError(self.name, f"url {spec.url}: {exc}") from None
        try:
            self.secret = runtime.secret(spec.credential) if spec.credential else None
        except LookupError as exc:
            raise ClassifierConfigError(self.name, str(exc)) from None
        self.model = spec.type
        self.breaker = CircuitBreaker(spec.breaker_failures, spec.breaker_reset_seconds)
        self.rate = RateLimiter(spec.rate)
        self.budget = runtime.budget(spec.name, spec.daily_budget) if spec.daily_budget is not None else None
        self.client = httpx.Client(
            timeout=spec.timeout, follow_redirects=False, headers={"User-Agent": "tripline-classifier"}
        )
        self.pool = ThreadPoolExecutor(max_workers=CONCURRENCY, thread_name_prefix=f"clf-{spec.name}")

    def classify(self, batch: Sequence[ClassifierInput]) -> list[Outcome]:
        out: list[Outcome | None] = [None] * len(batch)
        todo = []
        for i, inp in enumerate(batch):
            if not inp.data:
                out[i] = ClassifierError("no_bytes", "no file bytes to send (files over 20 MiB are not sent)")
            else:
                todo.append(i)
        size = max(1, min(self.vendor.max_batch, self.spec.batch))
        chunks = [todo[k : k + size] for k in range(0, len(todo), size)]
        for chunk, results in zip(
            chunks, self.pool.map(lambda c: self._chunk([batch[i] for i in c]), chunks), strict=True
        ):
            for i, res in zip(chunk, results, strict=True):
                out[i] = res
        return out  # type: ignore[return-value]

    def _chunk(self, inputs: list[ClassifierInput]) -> list[Outcome]:
        if not self.breaker.allow():
            return [ClassifierError("circuit_open", "the circuit breaker is open after repeated failures")] * len(
                inputs
            )
        if self.budget is not None and not self.budget.take(len(inputs)):
            self.breaker.release()  # a trial that never called proves nothing
            return [ClassifierError("budget_exhausted", "today's call budget is spent")] * len(inputs)
        t0 = time.perf_counter()
        try:
            labels, version = self._call(inputs)
        except ClassifierError as exc:
            self.breaker.failure()
            return [exc] * len(inputs)
        self.breaker.success()
        ms = (time.perf_counter() - t0) * 1000 / len(inputs)
        model = f"{self.spec.type}:{version}" if version else self.spec.type
        return [Scores(lab, model, ms) for lab in labels]

    def _call(self, inputs: list[ClassifierInput]) -> tuple[list[dict[str, float]], str | None]:
        request = self.vendor.request(self.spec.url, self.secret, inputs)
        last: ClassifierError | None = None
        for attempt in range(self.spec.retries + 1):
            if attempt:
                self.sleep(self._backoff(attempt, last))
            self.rate.wait()
            try:
                resp = self.client.request(**request)
            except httpx.TimeoutException:
                last = ClassifierError("timeout", f"no answer within {self.spec.timeout:g} s", retryable=True)
                continue
            except httpx.HTTPError as exc:
                last = ClassifierError("unreachable", f"{type(exc).__name__}", retryable=True)
                continue
            if resp.status_code in _RETRY_STATUS:
                last = ClassifierError(
                    "rate_limited" if resp.status_code == 429 else "http_error",
                    f"HTTP {resp.status_code}",
                    retryable=True,
                )
                last.retry_after = _retry_after(resp)  # type: ignore[attr-defined]
                continue
            if resp.status_code >= 400:
                # Never the body: a vendor's error text may echo the request.
                raise ClassifierError("http_error", f"HTTP {resp.status_code}")
            labels, version = self.vendor.parse(decode_json(resp.content), len(inputs))
            if len(labels) != len(inputs):
                raise ClassifierError("bad_response", f"{len(labels)} answers for {len(inputs)} images")
            return labels, version
        assert last is not None
        raise ClassifierError(last.code, f"{last} (after {self.spec.retries + 1} attempts)")

    @staticmethod
    def _backoff(attempt: int, last: ClassifierError | None) -> float:
        wait = min(_MAX_BACKOFF, 0.1 * 2 ** (attempt - 1))
        hint = getattr(last, "retry_after", None)
        return min(_MAX_BACKOFF, max(wait, hint)) if hint is not None else wait

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()


def _retry_after(resp: httpx.Response) -> float | None:
    try:
        return max(0.0, float(resp.headers.get("Retry-After", "")))
    except ValueError:
        return None
