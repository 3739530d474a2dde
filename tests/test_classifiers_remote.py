"""Remote classifiers against loopback fakes of each vendor's documented
shapes: scores, errors, 429s, timeouts, the circuit breaker, budgets, URL
checks. Nothing here talks to anything but 127.0.0.1."""

from __future__ import annotations

import base64
import json
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_classifiers import FakeVendor  # noqa: E402
from tripline.classifiers import ClassifierConfigError, ClassifierInput, ClassifierSpec, Scores  # noqa: E402
from tripline.classifiers.guards import CircuitBreaker, DailyBudget, RateLimiter  # noqa: E402
from tripline.classifiers.registry import open_classifier  # noqa: E402
from tripline.classifiers.runtime import Runtime  # noqa: E402
from tripline.store import Store  # noqa: E402
from tripline.store.secret_models import ClassifierUsage  # noqa: E402
from tripline.store.secrets import SecretStore  # noqa: E402
from tripline.vault import StaticKeyProvider  # noqa: E402

KEYS = StaticKeyProvider(bytes(range(32)))
DATA = b"\xff\xd8\xff benign test bytes"


@pytest.fixture
def store(db_url):
    s = Store(db_url)
    yield s
    s.close()


@pytest.fixture
def runtime(store):
    SecretStore(store.engine, KEYS).set("cred", kind="test", secret={"api_key": "k-123"})
    return Runtime(store.engine, KEYS)


def spec(kind: str, url: str, **kw) -> ClassifierSpec:
    base = dict(
        name=f"{kind}-t",
        type=kind,
        url=url,
        credential="cred",
        allow_private=True,
        timeout=0.3,
        retries=2,
        breaker_failures=3,
        breaker_reset_seconds=0.2,
    )
    base.update(kw)
    return ClassifierSpec(**base)


def inputs(n=1):
    return [ClassifierInput(key=f"k{i}", image=None, data=DATA + bytes([i]), sha256=f"{i:064x}") for i in range(n)]


@pytest.fixture
def vendor(request):
    fake = FakeVendor(request.param, score=0.93)
    yield fake
    fake.close()


@pytest.mark.parametrize("vendor", ["google-content-safety", "hive", "safer", "http"], indirect=True)
def test_vendor_shapes_roundtrip(vendor, runtime):
    clf = open_classifier(spec(vendor.vendor, vendor.url), runtime)
    try:
        out = clf.classify(inputs(3))
    finally:
        clf.close()
    assert all(isinstance(o, Scores) for o in out), out
    req = vendor.requests[-1]
    if vendor.vendor == "google-content-safety":
        assert len(vendor.requests) == 1  # one batched call
        assert "key=k-123" in req["path"]
        body = json.loads(req["body"])
        assert [base64.b64decode(b) for b in body["images"]] == [i.data for i in inputs(3)]
        assert out[0].labels == {"review_priority": 1.0} and out[0].model == "google-content-safety:fake-cs-1"
    elif vendor.vendor == "hive":
        assert len(vendor.requests) == 3 and req["headers"]["Authorization"] == "Token k-123"
        assert vendor.multipart_media() in [i.data for i in inputs(3)]
        assert out[0].labels["ai_generated"] == pytest.approx(0.93)
        assert out[0].model == "hive:ai_generated_image_detection:3"
    elif vendor.vendor == "safer":
        assert req["headers"]["Authorization"] == "Bearer k-123"
        assert out[0].labels == pytest.approx({"csam": 0.93, "pornography": 0.0, "other": 0.07})
    else:
        assert req["headers"]["Authorization"] == "Bearer k-123"
        assert {json.loads(r["body"])["sha256"] for r in vendor.requests} == {i.sha256 for i in inputs(3)}
        assert out[0].labels == {"photo_abuse": 0.93} and out[0].model == "http:inhouse-7"


@pytest.mark.parametrize("vendor", ["hive"], indirect=True)
def test_429_and_500_are_retried_with_backoff(vendor, runtime):
    clf = open_classifier(spec("hive", vendor.url), runtime)
    vendor.fail("429", "500")
    (o,) = clf.classify(inputs(1))
    clf.close()
    assert isinstance(o, Scores) and len(vendor.requests) == 3


@pytest.mark.parametrize("vendor", ["http"], indirect=True)
@pytest.mark.parametrize(
    "fault, code",
    [
        ("timeout", "timeout"),
        ("429", "rate_limited"),
        ("500", "http_error"),
        ("garbage", "bad_response"),
        ("400", "http_error"),
    ],
)
def test_errors_are_per_item_and_named(vendor, runtime, fault, code):
    clf = open_classifier(spec("http", vendor.url, retries=1), runtime)
    vendor.fail(*[fault] * 2)
    out = clf.classify(inputs(1))
    clf.close()
    assert out[0].code == code
    # 400 and malformed answers are not retried; timeouts, 429 and 5xx are.
    assert len(vendor.requests) == (1 if fault in ("400", "garbage") else 2)
    assert "k-123" not in str(out[0])


@pytest.mark.parametrize("vendor", ["http"], indirect=True)
def test_breaker_opens_and_closes(vendor, runtime):
    clf = open_classifier(spec("http", vendor.url, retries=0, breaker_failures=2, breaker_reset_seconds=0.3), runtime)
    try:
        vendor.fail("500", "500")
        assert [clf.classify(inputs(1))[0].code for _ in range(2)] == ["http_error", "http_error"]
        sent = len(vendor.requests)
        assert clf.classify(inputs(1))[0].code == "circuit_open"
        assert len(vendor.requests) == sent  # open: nothing sent
        import time

        time.sleep(0.35)
        assert isinstance(clf.classify(inputs(1))[0], Scores)  # half-open trial succeeds: closed
        assert clf.breaker.state == "closed"
        assert isinstance(clf.classify(inputs(1))[0], Scores)
    finally:
        clf.close()


def test_breaker_half_open_failure_reopens():
    now = [0.0]
    b = CircuitBreaker(1, 10, clock=lambda: now[0])
    b.failure()
    assert b.state == "open" and not b.allow()
    now[0] = 11
    assert b.allow() and not b.allow()  # one trial at a time
    b.failure()
    assert b.state == "open"


def test_rate_limiter_spaces_calls():
    now, slept = [0.0], []
    r = RateLimiter(4, clock=lambda: now[0], sleep=slept.append)
    for _ in range(3):
        r.wait()
    assert slept == pytest.approx([0.25, 0.5])


@pytest.mark.parametrize("vendor", ["hive"], indirect=True)
def test_budget_stops_calls(vendor, runtime):
    clf = open_classifier(spec("hive", vendor.url, daily_budget=2), runtime)
    out = clf.classify(inputs(4))
    clf.close()
    assert [getattr(o, "code", "ok") for o in out].count("budget_exhausted") == 2
    assert len(vendor.requests) == 2


def test_budget_holds_across_processes_and_instances(store):
    # Two budget objects stand for two instances on one database; threads
    # race on the last calls of the day.
    t = ClassifierUsage.__table__
    a = DailyBudget(store.engine, t, "hive", 25, day=lambda: "2026-12-02")
    b = DailyBudget(store.engine, t, "hive", 25, day=lambda: "2026-12-02")
    granted = []

    def spend(budget):
        for _ in range(20):
            granted.append(budget.take(1))

    threads = [threading.Thread(target=spend, args=(x,)) for x in (a, b, a, b)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sum(granted) == 25 and a.used() == 25
    assert DailyBudget(store.engine, t, "hive", 25, day=lambda: "2026-12-03").take(1)  # a new day


def test_private_addresses_are_refused_unless_allowed(runtime):
    fake = FakeVendor("http")
    try:
        with pytest.raises(ClassifierConfigError, match="private, loopback"):
            open_classifier(spec("http", fake.url, allow_private=False), runtime)
        open_classifier(spec("http", fake.url, allow_private=True), runtime).close()
    finally:
        fake.close()


def test_missing_credential_is_a_configuration_error(runtime):
    with pytest.raises(ClassifierConfigError, match="no stored credential named 'nope'"):
        open_classifier(spec("hive", "http://127.0.0.1:9/x", credential="nope"), runtime)


@pytest.mark.parametrize(
    "vendor, body",
    [
        ("google-content-safety", {"reviewPriorities": ["HIGH"]}),  # one answer for two images
        ("google-content-safety", {"reviewPriorities": ["SEVERE", "LOW"]}),  # unknown priority
        ("hive", {"status": [{"response": {"output": []}}]}),
        ("hive", {"status": [{"response": {"output": [{"classes": [{"class": "x", "score": "high"}]}]}}]}),
        ("safer", {"output": [{"file": {"classifierPrediction": None}}]}),
        ("http", {"labels": {}}),
        ("http", ["not", "an", "object"]),
    ],
)
def test_malformed_answers_are_bad_response(vendor, body):
    from tripline.classifiers.base import ClassifierError
    from tripline.classifiers.vendors import VENDORS

    with pytest.raises(ClassifierError) as err:
        VENDORS[vendor].parse(body, 2 if vendor == "google-content-safety" else 1)
    assert err.value.code == "bad_response"


@pytest.mark.parametrize("vendor", ["google-content-safety"], indirect=True)
def test_google_batches_are_split_at_the_configured_size(vendor, runtime):
    clf = open_classifier(spec("google-content-safety", vendor.url, batch=4), runtime)
    out = clf.classify(inputs(10))
    clf.close()
    assert all(isinstance(o, Scores) for o in out)
    assert sorted(len(json.loads(r["body"])["images"]) for r in vendor.requests) == [2, 4, 4]
