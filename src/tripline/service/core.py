"""What the service does, independent of HTTP: scan bytes, look up hashes,
manage banks, keep review media. One per worker process."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

from sqlalchemy import select

from tripline import signals
from tripline.audit import AuditLog
from tripline.banks import BankError, Banks, validate_signal
from tripline.banks.video import VideoBanks
from tripline.classifiers.runtime import open_stage, with_classifier_input
from tripline.policy import default_policy, load_policy
from tripline.review import Exposure, ReviewQueue
from tripline.review.exposure import Budget
from tripline.scan.pipeline import ScanOptions, process_item
from tripline.scan.runner import finish_records
from tripline.scan.walker import Item
from tripline.service.auth import Accounts
from tripline.service.config import ServiceConfig
from tripline.service.media import DEFAULT_BLUR, MediaSigner, MediaStore
from tripline.service.metrics import Metrics
from tripline.store import Store
from tripline.store.engine import write_transaction
from tripline.store.models import utcnow
from tripline.store.review_models import OrgSetting
from tripline.vault.review_media import ReviewMedia
from tripline.video import review_grid

# How often each process polls the bank change log (one indexed max(seq)
# query): with applying, a change reaches every instance well within 2 s.
BANK_SYNC_SECONDS = 0.25
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
        lines.append(
            f"{m['signal_type']} match in bank {m['bank']} at distance {m['distance']} via {m['variant']}{state}"
        )
    for f in decision.get("fired") or []:
        because = "; ".join(f.get("because") or [])
        lines.append(
            f"rule {f['rule']} → {f['action']} {f.get('priority') or ''}: {f.get('reason', '')}"
            + (f" ({because})" if because else "")
        )
    if not lines:
        lines.append("no bank matched and no rule fired")
    return lines


class Service:
    def __init__(self, cfg: ServiceConfig):
        self.cfg = cfg
        self.store = Store(cfg.db_url())
        self.engine = self.store.engine
        self.banks = Banks(self.store, cfg.home_dir() / "index", mirror_limit=MEMORY_ENTRY_LIMIT)
        self.audit = AuditLog(self.engine, head_key=self._audit_head_key)
        self.accounts = Accounts(self.engine, self.audit)
        self.queue = ReviewQueue(self.engine, self.audit)
        self.exposure = Exposure(self.engine)
        self.media = MediaStore(ReviewMedia(cfg.media_path(), self._media_keys))
        self.signer = MediaSigner(cfg.secret(), cfg.media_url_seconds)
        self.policy = load_policy(cfg.policy) if cfg.policy else default_policy()
        self.metrics = Metrics()
        self.classifiers = open_stage(self.policy, self.engine)  # docs/classifiers.md; None: none configured
        self.options = with_classifier_input(ScanOptions(), self.classifiers)
        self._matcher = None
        self._matcher_version = -1
        self._synced_at = 0.0
        # Guards the index cache: matching and applying changes never overlap.
        self._matcher_lock = threading.RLock()
        self._bank_lock = threading.Lock()
        # Legal reporting and the evidence vault (docs/reporting.md): built on
        # first use from TRIPLINE_VAULT_KEY_FILE / TRIPLINE_VAULT / TRIPLINE_REPORTER;
        # tests may set these attributes directly.
        self.vault_keys = None
        self.vault_dir = None
        self.reporter = None
        self.ncmec_client_timeout = 60.0
        self._vault = None
        self._sync_stop = threading.Event()
        self._sync_thread = threading.Thread(target=self._sync_loop, name="tripline-bank-sync", daemon=True)
        self._sync_thread.start()

    def close(self) -> None:
        self._sync_stop.set()
        self._sync_thread.join(timeout=30)
        with self._matcher_lock:
            if self._matcher is not None:
                self._matcher.close()
                self._matcher = None
        self.banks.close()
        if self.classifiers is not None:
            self.classifiers.close()
        self.store.close()

    # -- bank index cache (docs/consistency.md) -------------------------------
    def bank_lag(self) -> int:
        """Bank changes in the database this process has not applied yet
        (0: caught up). For readiness checks: cheap, one query."""
        return self.banks.lag()

    def banks_caught_up(self) -> bool:
        return self.bank_lag() == 0

    def check_banks_ready(self) -> None:
        """For /readyz: raise while this process has never built its cache, or
        has changes pending and its sync loop has not finished a round lately.
        A change arriving between two polls is normal, not unreadiness."""
        behind = self.bank_lag()
        stalled = self._synced_at == 0.0 or time.monotonic() - self._synced_at > 4 * BANK_SYNC_SECONDS + 1
        if behind and stalled:
            raise RuntimeError(f"{behind} bank changes not applied yet")

    def sync_banks(self) -> bool:
        """Apply pending bank changes to this process's index cache, a step at
        a time, letting lookups through between steps."""

        def let_lookups_through():
            self._matcher_lock.release()
            try:
                time.sleep(0)
            finally:
                self._matcher_lock.acquire()

        with self._matcher_lock:
            changed = self.banks.sync(step=let_lookups_through)
            self._synced_at = time.monotonic()
            return changed

    def _sync_loop(self) -> None:
        """Poll the change log; the first round builds or catches up the cache,
        so a new instance is ready before its first lookup where possible."""
        import logging

        log = logging.getLogger(__name__)
        while not self._sync_stop.is_set():
            try:
                if self._matcher is None or self.banks.cache.pending():
                    self.sync_banks()
                    with self._matcher_lock:
                        self._current_matcher()
                else:
                    self._synced_at = time.monotonic()
            except Exception:  # noqa: BLE001 - a database blip: keep serving the cache, retry
                log.exception("applying bank changes failed; retrying")
            self._sync_stop.wait(BANK_SYNC_SECONDS)

    def _current_matcher(self):
        """The matcher over the cached indexes, rebuilt (cheaply: no index is
        reopened) when applied changes moved the cache. Call with the lock held.
        Should the sync thread stall, a lookup applies pending changes itself."""
        if time.monotonic() - self._synced_at > 4 * BANK_SYNC_SECONDS + 1:
            self.sync_banks()
        if self._matcher is None or self._matcher_version != self.banks.cache.version:
            self._matcher = self._build_matcher()
            self._matcher_version = self.banks.cache.version
        return self._matcher

    def _build_matcher(self):
        """``Banks.matcher()``, with exact (MD5/SHA-256) lookups and entry
        values served from the cache's in-memory mirror when the banks are
        small enough (MEMORY_ENTRY_LIMIT): a per-request database round trip
        otherwise dominates /v1/lookup. Larger banks use the database."""
        from tripline.banks import Matcher

        base = self.banks.matcher(sync=False)
        mirror = self.banks.cache.exact_mirror()
        if mirror is None:
            return base

        def entry_values(ids: list[int]) -> dict[int, str]:
            found = {i: mirror.values[i] for i in ids if i in mirror.values}
            missing = [i for i in ids if i not in found]
            if missing:
                found.update(self.store.entry_values(missing))
            return found

        return Matcher(base.banks, mirror.lookup, entry_values, owns_indexes=False)

    def invalidate_matcher(self) -> None:
        """After a change made here: apply it now (read your own writes)."""
        self.sync_banks()

    def match(self, records: list[dict]) -> list[list]:
        with self._matcher_lock:
            return self._current_matcher().match(records)

    # -- scanning -----------------------------------------------------------
    @staticmethod
    def clean_context(context: dict | None) -> dict | None:
        if not isinstance(context, dict):
            return None
        # XML-invalid characters would later make the item's report unbuildable.
        from tripline.report.xmlsafe import xml_clean

        return xml_clean({k: v for k, v in context.items() if k not in _PRIVILEGED_CONTEXT})

    def hash_bytes(self, data: bytes, name: str = "upload") -> dict:
        options = replace(self.options, keypoints=False)  # hashes only: nothing to match keypoints with
        record, _thumb = process_item(Item(key=name, stamp="", size=len(data), data=data), options)
        return record

    def _scan_options(self) -> ScanOptions:
        # Keypoints cost ~8 ms an upload: taken only while a bank holds some.
        with self._matcher_lock:
            uses = self._current_matcher().uses_keypoints
        return self.options if uses or not self.options.keypoints else replace(self.options, keypoints=False)

    def scan(self, data: bytes, *, name: str, context: dict | None, actor: str) -> dict:
        t0 = time.perf_counter()
        from tripline.report.xmlsafe import xml_text

        name = xml_text(name)
        record, thumb = process_item(Item(key=name, stamp="", size=len(data), data=data), self._scan_options())
        context = self.clean_context(context)
        # Video uploads also match the banks' videos; the frame indexes are
        # opened per video request only, so image traffic pays nothing.
        with self._matcher_lock:  # the frame indexes are the shared cache too
            video_matcher = VideoBanks.of(self.banks).matcher(sync=False) if record.get("vpdq") else None
            finish_records([record], self, video_matcher, self.policy, context, self.classifiers)
        decision = record["decision"]
        record["scanned_at"] = utcnow().isoformat(timespec="seconds")
        review_id = None
        if record["flagged"] or decision["action"] != "allow":
            if record.get("sha256"):
                self.media.put(record["sha256"], data)
                if isinstance(thumb, list) and thumb:  # a video: its frame grid for the console
                    self.media.put_frames(record["sha256"], review_grid(record, thumb))
            review_id = self.queue.enqueue(record, decision, context, actor=actor)
        self.metrics.inc(
            "tripline_scans_total",
            help="Items scanned",
            action=decision["action"],
            flagged=str(record["flagged"]).lower(),
        )
        self.metrics.observe("tripline_scan_seconds", time.perf_counter() - t0, help="Scan time per item")
        signals = {
            k: record.get(k) for k in ("media_type", "width", "height", "md5", "sha256", "pdq", "pdq_quality", "size")
        }
        return {
            "signals": signals,
            "provenance": record.get("provenance"),
            "matches": record["matches"],
            "flagged": record["flagged"],
            "decision": decision,
            "explanation": explanation(decision, record["matches"]),
            "error": record.get("error"),
            "warnings": record.get("warnings", []),
            "review_item_id": review_id,
        }

    def lookup(self, hashes: list[dict], context: dict | None = None) -> list[dict]:
        records = []
        for h in hashes:
            rec: dict[str, Any] = {}
            for stype in signals.entry_type_names():
                if h.get(stype):
                    rec[stype] = validate_signal(stype, str(h[stype]))
            q = h.get("pdq_quality")
            # A precomputed PDQ without a quality passes every bank's gate:
            # the caller already chose to send it.
            rec["pdq_quality"] = int(q) if isinstance(q, int) and not isinstance(q, bool) else 100
            records.append(rec)
        if records:
            finish_records(records, self, None, self.policy, self.clean_context(context))
        return [
            {
                "matches": r["matches"],
                "flagged": r["flagged"],
                "decision": r["decision"],
                "explanation": explanation(r["decision"], r["matches"]),
            }
            for r in records
        ]

    # -- banks (every change audited) ----------------------------------------
    def bank_dict(self, name: str) -> dict:
        row = self.banks.get(name)
        return {
            "name": row.name,
            "kind": row.kind,
            "enabled": row.enabled,
            "pdq_threshold": row.pdq_threshold,
            "pdq_quality_min": row.pdq_quality_min,
            "description": row.description,
            "source": row.source,
            "entries": self.store.count_entries(name),
            "updated_at": row.updated_at.isoformat(timespec="seconds"),
        }

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
        with self._bank_lock:
            self.banks.delete(name)
        self.audit.append(actor, "bank.delete", f"bank:{name}", {})
        self.invalidate_matcher()

    def add_signals(self, name: str, signals: list[tuple[str, str, str | None]], *, actor: str) -> dict:
        clean = [(t, validate_signal(t, v), note) for t, v, note in signals]
        with self._bank_lock:
            res = self.banks.add(name, clean)
        self.audit.append(
            actor,
            "bank.add_signals",
            f"bank:{name}",
            {"added": res.added, "duplicates": res.duplicates, "signals": [[t, v] for t, v, _ in clean[:100]]},
        )
        self.invalidate_matcher()
        return {"added": res.added, "duplicates": res.duplicates, "by_type": res.by_type}

    def remove_signals(self, name: str, signal_type: str, values: list[str], *, actor: str) -> int:
        with self._bank_lock:
            n = self.banks.remove(name, signal_type, values)
        self.audit.append(
            actor,
            "bank.remove_signals",
            f"bank:{name}",
            {"signal_type": signal_type, "values": values[:100], "removed": n},
        )
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
        with write_transaction(self.engine) as conn:
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

    # -- legal reporting and the evidence vault ---------------------------------
    # Every call passes the authenticated service principal (name + roles) to
    # ReportService / Vault, which check it against tripline.vault.access. The
    # service's roles never include "operator", so purge stays CLI-only.
    def _media_keys(self):
        # Review media and the audit head use the vault key when one is
        # configured (docs/security.md); the key file is read once.
        from tripline.vault.keys import KeyError_, key_provider_from_env

        if self.vault_keys is not None:
            return self.vault_keys
        if not hasattr(self, "_env_keys"):
            try:
                self._env_keys = key_provider_from_env()
            except KeyError_:
                self._env_keys = None
        return self._env_keys

    def _audit_head_key(self) -> bytes | None:
        from tripline.vault import audit_head_key

        keys = self._media_keys()
        return audit_head_key(keys) if keys is not None else None

    def vault(self):
        import os

        from tripline.vault import Vault, key_provider_from_env

        if self._vault is None:
            keys = self.vault_keys or key_provider_from_env()
            root = self.vault_dir or os.environ.get("TRIPLINE_VAULT") or self.cfg.home_dir() / "vault"
            self._vault = Vault(root, self.engine, keys)
        return self._vault

    def report_service(self, *, read_only: bool = False):
        """ReportService with the vault and this service's audit log. ``read_only``
        (status pages) needs neither the reporter configuration nor the vault key."""
        import json
        import os
        from pathlib import Path

        from tripline.report import ReporterConfig, ReportService

        if read_only:
            return ReportService(self.engine, self.reporter or ReporterConfig(email="-"), audit=self.audit)
        if self.reporter is None:
            path = os.environ.get("TRIPLINE_REPORTER")
            if not path:
                raise LookupError("no reporter configured (TRIPLINE_REPORTER)")
            self.reporter = ReporterConfig.from_dict(json.loads(Path(path).read_text()))
        return ReportService(self.engine, self.reporter, vault=self.vault(), audit=self.audit)

    def ncmec_destination(self):
        """The operator-configured CyberTipline endpoint (the only network target)."""
        from tripline.report import (
            CredentialStore,
            CyberTiplineClient,
            NcmecDestination,
        )

        _env, base_url, secret = CredentialStore(self.engine, self.vault().keys)._secret("ncmec")
        if not base_url:
            from tripline.report.client import ENDPOINTS

            base_url = ENDPOINTS[_env]
        return NcmecDestination(
            CyberTiplineClient(base_url, secret["username"], secret["password"], timeout=self.ncmec_client_timeout)
        )

    def report_for_item(self, item_id: int, principal) -> dict | None:
        """The item's NCMEC submission (status view), or None."""
        from tripline.store.report_models import ReportSubmission

        t = ReportSubmission.__table__
        for r in self.report_service(read_only=True).list(principal=principal):
            if r["item_ref"] == str(item_id) and r["destination"] == "ncmec":
                with self.engine.connect() as conn:
                    inc = conn.execute(select(t.c.incident).where(t.c.id == r["id"])).scalar_one() or {}
                return {
                    **r,
                    "viewed": inc.get("viewed") or {"file": False, "exif": False},
                    "classification": inc.get("classification"),
                    "annotations": sorted(k for k, v in (inc.get("annotations") or {}).items() if v),
                }
        return None

    def incident_for_item(self, item_id: int):
        """A ConfirmedIncident from the human confirmation of ``item_id``; the
        viewed flags come from the audit log (never default to true)."""
        from tripline.report import IncidentError, from_review_item

        item = self.queue.get(item_id)
        if (item.get("outcome") or {}).get("outcome") != "confirm" or item["status"] != "decided":
            raise IncidentError(f"item {item_id} has no human confirmation")
        events = [e for e in self.audit.entries() if e.get("target") == f"item:{item_id}"]
        rec = item.get("record") or {}
        ctx = item.get("context") or {}
        kw = {}
        if self.reporter is not None and self.reporter.esp_service:
            kw["platform"] = self.reporter.esp_service
        urls = [u.get("url") if isinstance(u, dict) else u for u in (ctx.get("links") or [])]
        urls = [u for u in urls if isinstance(u, str) and u.startswith(("http://", "https://"))]
        if urls:
            kw["urls"] = urls[:20]
        if rec.get("scanned_at"):
            from datetime import UTC, datetime

            try:
                at = datetime.fromisoformat(rec["scanned_at"])
                kw["uploaded_at"] = at if at.tzinfo else at.replace(tzinfo=UTC)
            except ValueError:
                pass
        return item, from_review_item(item, events, **kw)

    def preserve_item(self, item: dict, principal, *, why: str) -> dict | None:
        """Put the item's kept bytes into the vault (once): the preservation
        record for the report. None when the bytes are not kept."""
        sha = item.get("sha256") or (item.get("record") or {}).get("sha256")
        if not sha:
            return None
        v = self.vault()
        try:
            info = v.info(sha, principal=principal)
            if info and not info.get("purged_at"):
                return {"sha256": sha, "existing": True}
        except LookupError:
            pass
        data = self.media.get(sha)
        if data is None:
            return None
        rec = v.put(data, principal=principal, reason=f"review item {item['id']} confirmed: {why}")
        self.audit.append(
            principal.name, "vault.put", f"item:{item['id']}", {"sha256": sha, "preservation_id": rec["id"], "via": why}
        )
        return rec

    def build_report(self, item_id: int, principal) -> dict:
        item, incident = self.incident_for_item(item_id)
        svc = self.report_service()
        preserved = self.preserve_item(item, principal, why="report build")
        sub = svc.build(incident, principal=principal, destination="ncmec", environment=self._ncmec_environment())
        errors = svc.validate(sub["id"], principal=principal)
        return {
            **sub,
            "valid": not errors,
            "errors": errors,
            "viewed": incident.viewed,
            "classification": incident.classification,
            "annotations": incident.annotations,
            "preservation": preserved,
        }

    def _ncmec_environment(self) -> str:
        from tripline.report import CredentialStore

        try:
            return CredentialStore(self.engine, self.vault().keys).describe("ncmec").get("environment") or "test"
        except Exception:  # noqa: BLE001
            return "test"

    def submit_report(self, sub_id: int, principal, **kw) -> dict:
        from tripline.report import ConfirmedIncident, vault_files

        svc = self.report_service()
        sub = svc.get(sub_id, principal=principal)
        if sub["destination"] != "ncmec":
            raise ValueError("only NCMEC submissions are filed from the service")
        with self.engine.connect() as conn:
            from tripline.store.report_models import ReportSubmission

            t = ReportSubmission.__table__
            inc = conn.execute(select(t.c.incident).where(t.c.id == sub_id)).scalar_one()
        incident = ConfirmedIncident.from_dict(inc)
        import contextlib

        # An item whose bytes were not kept: vault_files then fails the submission with a clear error.
        with contextlib.suppress(LookupError, ValueError):
            self.preserve_item(self.queue.get(int(incident.item_id)), principal, why="report submit")
        v = self.vault()
        return svc.submit(sub_id, self.ncmec_destination(), principal=principal, files=vault_files(v, principal), **kw)


__all__ = ["BankError", "Service", "explanation"]
