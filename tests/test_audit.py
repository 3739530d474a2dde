"""Hash-chained audit log: append, verify, and detection of edits and deletions."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, update

from tripline.audit import AuditLog
from tripline.audit.log import audit, settings_t
from tripline.store import Store


@pytest.fixture
def log(db_url):
    store = Store(db_url)
    yield AuditLog(store.engine)
    store.close()


def _fill(log, n=5):
    for i in range(n):
        log.append(f"user{i % 2}", "item.reveal", f"item:{i}", {"i": i, "note": "ünïcode", "t": (1, 2)})


def test_chain_verifies(log):
    _fill(log)
    res = log.verify()
    assert res.ok and res.entries == 5 and res.head_seq == 5
    entries = list(log.entries())
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[1]["prev_hash"] == entries[0]["hash"]
    assert entries[0]["detail"]["t"] == [1, 2]


def test_edit_detected(log):
    _fill(log)
    with log.engine.begin() as conn:
        conn.execute(update(audit).where(audit.c.seq == 3).values(actor="someone-else"))
    res = log.verify()
    assert not res.ok
    assert any("entry 3" in p and "edited" in p for p in res.problems)


def test_edit_with_rehash_breaks_next_link(log):
    from tripline.audit import entry_hash

    _fill(log)
    with log.engine.begin() as conn:
        row = conn.execute(audit.select().where(audit.c.seq == 2)).first()
        h = entry_hash(row.prev_hash, row.seq, row.at, row.actor, "bank.change", row.target, row.detail)
        conn.execute(update(audit).where(audit.c.seq == 2).values(action="bank.change", hash=h))
    res = log.verify()
    assert not res.ok and any("entry 3" in p for p in res.problems)


def test_delete_detected(log):
    _fill(log)
    with log.engine.begin() as conn:
        conn.execute(delete(audit).where(audit.c.seq == 2))
    res = log.verify()
    assert not res.ok and any("missing" in p for p in res.problems)


def test_truncation_detected(log):
    _fill(log)
    with log.engine.begin() as conn:
        conn.execute(delete(audit).where(audit.c.seq >= 4))
    res = log.verify()
    assert not res.ok and any("newest entries deleted" in p for p in res.problems)
    # Even with the recorded head also wiped, an externally anchored head catches it.
    with log.engine.begin() as conn:
        conn.execute(delete(settings_t))
    assert not log.verify(expected_head=(5, "x" * 64)).ok


def test_empty_log_verifies(log):
    assert log.verify().ok
