"""What the service does, independent of HTTP: scan bytes, look up hashes,
manage banks, keep review media. One per worker process."""
from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import select

from tripline.audit import AuditLog
from tripline.banks import BankError, Banks, is_flagged, validate_signal
from tripline.policy import decide, default_policy, load_policy
from tripline.review import Exposure, ReviewQueue
from tripline.review.exposure import Budget
from tripline.scan.pipeline import ScanOptions, process_item
from tripline.scan.walker import Item
from tripline.service.auth import Accounts
from tripline.service.config import ServiceConfig
from tripline.service.media import DEFAULT_BLUR, MediaSigner, MediaStore
from tripline.service.metrics import Metrics
from tripline.store import Store
from tripline.store.models import utcnow
from tripline.store.review_models import OrgSetting

MATCHER_RECHECK_SECONDS = 2.0
# Banks with up to this many enabled entries in total are mirrored in memory
# for exact lookups (~150 bytes an entry).
MEMORY_ENTRY_LIMIT = 1_000_000
ORG_KEY = "org"
DEFAULT_ORG = {"blur_strength": DEFAULT_BLUR, "budget": Budget().to_dict()}
# Context keys a caller may not set: bank verification comes from the
# operator's policy, never from the client being judged.
_PRIVILEGED_CONTEXT = ("banks",)


def explanation(decision: dict, matches: list[dict]) -> list[str]:
    lines = []
    for m in matches:
        state = " (suppressed by an allow-list)" if m.get("suppressed") else ""
        lines.append(f"{m['signal_type']} match in bank {m['bank']} at distance {m['distance']} "
                     f"via {m['variant']}{state}")
    for f in decision.get("fired") or []:
        because = "; ".join(f.get("because") or [])
        lines.append(f"rule {f['rule']} → {f['action']} {f.get('priority') or ''}: {f.get('reason', '')}"
                     + (f" ({because})" if because else ""))
    if not lines:
        lines.append("no bank matched and no rule fired")
    return lines


class Service:
    def __init__(self, cfg: ServiceConfig):
        self.cfg = cfg
        self.store = Store(cfg.db_url())
        self.engine = self.store.engine
        self.banks = Banks(self.store, cfg.home_dir() / "index")
        self.audit = AuditLog(self.engine)
        self.accounts = Accounts(self.engine, self.audit)
        self.queue = ReviewQueue(self.engine, self.audit)
        self.exposure = Exposure(self.engine)
        self.media = MediaStore(cfg.media_path())
        self.signer = MediaSigner(cfg.secret(), cfg.media_url_seconds)
        self.policy = load_policy(cfg.policy) if cfg.policy else default_policy()
        self.metrics = Metrics()
        self.options = ScanOptions()
        self._matcher = None
        self._matcher_stamp: Any = None
        self._matcher_checked = 0.0
        self._matcher_lock = threading.RLock()
        self._bank_lock = threading.Lock()

    def close(self) -> None:
        with self._matcher_lock:
            if self._matcher is not None:
                self._matcher.close()
                self._matcher = None
        self.banks.close()
        self.store.close()

    # -- readiness ----------------------------------------------------------
    def ready(self) -> dict:
        from sqlalchemy import text
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        banks = self.store.list_banks()
        return {"database": "ok", "banks": len(banks), "enabled_banks": sum(b.enabled for b in banks)}

    # -- matching -----------------------------------------------------------
    def _stamp(self):
        return tuple((b.name, b.enabled, b.updated_at) for b in self.store.list_banks())

    def _current_matcher(self):
        """The cached matcher, rebuilt when any bank changed (checked at most
        every MATCHER_RECHECK_SECONDS, or at once after a change made here)."""
        now = time.monotonic()
        with self._matcher_lock:
            if self._matcher is None or now - self._matcher_checked > MATCHER_RECHECK_SECONDS:
                stamp = self._stamp()
                self._matcher_checked = now
                if self._matcher is None or stamp != self._matcher_stamp:
                    if self._matcher is not None:
                        self._matcher.close()
                    self._matcher = self._build_matcher()
                    self._matcher_stamp = stamp
            return self._matcher

    def _build_matcher(self):
        """``Banks.matcher()``, with exact (MD5/SHA-256) lookups and entry
        values served from memory when the enabled banks are small enough
        (MEMORY_ENTRY_LIMIT): a per-request database round trip otherwise
        dominates /v1/lookup. Larger banks fall back to the database."""
        from tripline.banks import Matcher

        base = self.banks.matcher()
        total = 0
        for b in base.banks:
            counts = self.store.count_entries(b.name)
            total += sum(c.get("enabled", 0) for c in counts.values())
        if total > MEMORY_ENTRY_LIMIT:
            return base
        exact: dict[tuple[str, str], list[tuple[str, int]]] = {}
        values: dict[int, str] = {}
        for b in base.banks:
            for e in self.store.iter_entries(b.name, enabled_only=True):
                values[e.id] = e.value
                if e.signal_type in ("md5", "sha256"):
                    exact.setdefault((e.signal_type, e.value), []).append((b.name, e.id))

        def exact_lookup(stype: str, wanted: list[str], names: list[str]) -> list[tuple[str, int, str]]:
            allowed = set(names)
            return [(bank, eid, v) for v in wanted for bank, eid in exact.get((stype, v), ()) if bank in allowed]

        def entry_values(ids: list[int]) -> dict[int, str]:
            found = {i: values[i] for i in ids if i in values}
            missing = [i for i in ids if i not in found]
            if missing:
                found.update(self.store.entry_values(missing))
            return found

        return Matcher(base.banks, exact_lookup, entry_values)

    def invalidate_matcher(self) -> None:
        with self._matcher_lock:
            self._matcher_checked = 0.0
            self._matcher_stamp = None

    def match(self, records: list[dict]) -> list[list]:
        with self._matcher_lock:
            return self._current_matcher().match(records)

    # -- scanning -----------------------------------------------------------
    @staticmethod
    def clean_context(context: dict | None) -> dict | None:
        if not isinstance(context, dict):
            return None
        return {k: v for k, v in context.items() if k not in _PRIVILEGED_CONTEXT}

    def hash_bytes(self, data: bytes, name: str = "upload") -> dict:
        record, _thumb = process_item(Item(key=name, stamp="", size=len(data), data=data), self.options)
        return record

    def scan(self, data: bytes, *, name: str, context: dict | None, actor: str) -> dict:
        t0 = time.perf_counter()
        record = self.hash_bytes(data, name)
        found = self.match([record])[0]
        record["matches"] = [m.to_dict() for m in found]
        record["flagged"] = is_flagged(found)
        context = self.clean_context(context)
        decision = decide(self.policy, record, context).to_dict()
        record["decision"] = decision
        record["scanned_at"] = utcnow().isoformat(timespec="seconds")
        review_id = None
        if record["flagged"] or decision["action"] != "allow":
            if record.get("sha256"):
                self.media.put(record["sha256"], data)
            review_id = self.queue.enqueue(record, decision, context, actor=actor)
        self.metrics.inc("tripline_scans_total", help="Items scanned", action=decision["action"],
                         flagged=str(record["flagged"]).lower())
        self.metrics.observe("tripline_scan_seconds", time.perf_counter() - t0, help="Scan time per item")
        signals = {k: record.get(k) for k in ("media_type", "width", "height", "md5", "sha256", "pdq",
                                               "pdq_quality", "size")}
        return {"signals": signals, "provenance": record.get("provenance"), "matches": record["matches"],
                "flagged": record["flagged"], "decision": decision,
                "explanation": explanation(decision, record["matches"]),
                "error": record.get("error"), "warnings": record.get("warnings", []),
                "review_item_id": review_id}

    def lookup(self, hashes: list[dict], context: dict | None = None) -> list[dict]:
        records = []
        for h in hashes:
            rec: dict[str, Any] = {}
            for stype in ("pdq", "md5", "sha256"):
                if h.get(stype):
                    rec[stype] = validate_signal(stype, str(h[stype]))
            q = h.get("pdq_quality")
            # A precomputed PDQ without a quality passes every bank's gate:
            # the caller already chose to send it.
            rec["pdq_quality"] = int(q) if isinstance(q, int) and not isinstance(q, bool) else 100
            records.append(rec)
        out = []
        context = self.clean_context(context)
        for rec, found in zip(records, self.match(records) if records else []):
            rec["matches"] = [m.to_dict() for m in found]
            rec["flagged"] = is_flagged(found)
            decision = decide(self.policy, rec, context).to_dict()
            out.append({"matches": rec["matches"], "flagged": rec["flagged"], "decision": decision,
                        "explanation": explanation(decision, rec["matches"])})
        return out

    # -- banks (every change audited) ----------------------------------------
    def bank_dict(self, name: str) -> dict:
        row = self.banks.get(name)
        return {"name": row.name, "kind": row.kind, "enabled": row.enabled, "pdq_threshold": row.pdq_threshold,
                "pdq_quality_min": row.pdq_quality_min, "description": row.description, "source": row.source,
                "entries": self.store.count_entries(name),
                "updated_at": row.updated_at.isoformat(timespec="seconds")}

    def create_bank(self, name: str, fields: dict, *, actor: str) -> dict:
        with self._bank_lock:
            self.banks.create(name, **fields)
        self.audit.append(actor, "bank.create", f"bank:{name}", fields)
        self.invalidate_matcher()
        return self.bank_dict(name)

    def update_bank(self, name: str, fields: dict, *, actor: str) -> dict:
        with self._bank_lock:
            self.banks.update(name, **fields)
        self.audit.append(actor, "bank.update", f"bank:{name}", fields)
        self.invalidate_matcher()
        return self.bank_dict(name)

    def delete_bank(self, name: str, *, actor: str) -> None:
        with self._matcher_lock, self._bank_lock:
            if self._matcher is not None:
                self._matcher.close()
                self._matcher = None
            self.banks.delete(name)
        self.audit.append(actor, "bank.delete", f"bank:{name}", {})
        self.invalidate_matcher()

    def add_signals(self, name: str, signals: list[tuple[str, str, str | None]], *, actor: str) -> dict:
        clean = [(t, validate_signal(t, v), note) for t, v, note in signals]
        with self._bank_lock:
            res = self.banks.add(name, clean)
        self.audit.append(actor, "bank.add_signals", f"bank:{name}",
                          {"added": res.added, "duplicates": res.duplicates,
                           "signals": [[t, v] for t, v, _ in clean[:100]]})
        self.invalidate_matcher()
        return {"added": res.added, "duplicates": res.duplicates, "by_type": res.by_type}

    def remove_signals(self, name: str, signal_type: str, values: list[str], *, actor: str) -> int:
        with self._bank_lock:
            n = self.banks.remove(name, signal_type, values)
        self.audit.append(actor, "bank.remove_signals", f"bank:{name}",
                          {"signal_type": signal_type, "values": values[:100], "removed": n})
        self.invalidate_matcher()
        return n

    # -- organisation settings ------------------------------------------------
    def org_settings(self) -> dict:
        with self.engine.connect() as conn:
            v = conn.execute(select(OrgSetting.__table__.c.value).where(OrgSetting.__table__.c.key == ORG_KEY)).scalar()
        out = {**DEFAULT_ORG, **(v or {})}
        out["budget"] = {**DEFAULT_ORG["budget"], **(out.get("budget") or {})}
        return out

    def set_org_settings(self, new: dict, *, actor: str) -> dict:
        from sqlalchemy import insert, update
        t = OrgSetting.__table__
        merged = self.org_settings()
        if "blur_strength" in new:
            merged["blur_strength"] = max(8, min(64, int(new["blur_strength"])))
        if "budget" in new:
            b = Budget.from_dict({**merged["budget"], **new["budget"]})
            merged["budget"] = b.to_dict()
        with self.engine.connect().execution_options(tripline_write=True) as conn, conn.begin():
            now = utcnow()
            if not conn.execute(update(t).where(t.c.key == ORG_KEY).values(value=merged, updated_at=now)).rowcount:
                conn.execute(insert(t).values(key=ORG_KEY, value=merged, updated_at=now))
            self.audit.append(actor, "settings.org", "org", merged, conn=conn)
        return merged

    def budget(self) -> Budget:
        return Budget.from_dict(self.org_settings()["budget"])

    def blur_for(self, user_strength: int | None) -> int:
        org = int(self.org_settings()["blur_strength"])
        # A reviewer may strengthen the blur for themselves, never weaken it
        # below the organisation's floor.
        return max(org, user_strength or 0)


__all__ = ["BankError", "Service", "explanation"]
