"""The evidence vault: encrypted, content-addressed, crash-safe preservation.

Layout under the vault root::

    blobs/ab/abcdef...(sha256 of the plaintext).tlv    one encrypted item
    blobs/ab/.<name>.<random>.tmp                      in-flight writes (cleaned by recover())

A blob file is ``MAGIC``, a 4-byte big-endian header length, a JSON header
(``sha256``, ``key_id``, ``wrapped_key``, ``nonce``) and the AES-256-GCM
ciphertext of the item under its own random data key (additional data: the
SHA-256). The data key is wrapped with AES-256-GCM under the master key
(``keys.py``); the wrapped key is stored in the header and in the database,
so either is enough to read the blob with the master key.

Durability: ``put`` writes a temp file, fsyncs it, renames it into place and
fsyncs the directory; only then does it commit the database rows
(item, preservation record, custody entry) in one transaction, and only then
return. A kill at any point before the commit loses only the unacknowledged
item; a kill after it loses nothing. A blob left without a row is harmless and
is simply reused by the next ``put`` of the same content.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Table, delete, insert, select, text, update
from sqlalchemy.engine import Engine

from tripline import durable
from tripline.store.engine import write_connection
from tripline.store.models import utcnow
from tripline.store.report_models import (
    VaultCustody,
    VaultHold,
    VaultItem,
    VaultPreservation,
)

from .access import require
from .keys import KEY_BYTES, NONCE_BYTES, KeyProvider

items_t: Table = VaultItem.__table__
pres_t: Table = VaultPreservation.__table__
holds_t: Table = VaultHold.__table__
custody_t: Table = VaultCustody.__table__

MAGIC = b"TLVAULT1"
GENESIS = "0" * 64
_PG_CUSTODY_LOCK = 0x7472_7661_756C_7400  # "trvault"
SHA256_HEX = set("0123456789abcdef")


class VaultError(RuntimeError):
    pass


class NotInVault(VaultError, LookupError):
    pass


@dataclass(frozen=True)
class Retention:
    """How long to keep, counted from the report (or from preservation, until
    a report is linked): content (the encrypted item) and the report
    reference (the preservation record)."""

    content_days: int = 365
    reference_days: int = 5 * 365


# REPORT Act (18 U.S.C. 2258A(h) as amended 2024): one year from the report.
# The UK figure is a placeholder the operator must confirm with counsel.
DEFAULT_RETENTION: dict[str, Retention] = {
    "US": Retention(365, 5 * 365),
    "UK": Retention(365, 5 * 365),
    "default": Retention(365, 5 * 365),
}


def _check_sha(sha256: str) -> str:
    s = (sha256 or "").lower()
    if len(s) != 64 or not set(s) <= SHA256_HEX:
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return s


def atomic_write(path: Path, data: bytes) -> None:
    """Evidence files are the owner's only (0600)."""
    durable.atomic_write(path, data, private=True)


def custody_hash(prev: str, seq: int, at: datetime, actor: str, action: str, sha256: str | None, detail: dict) -> str:
    body = json.dumps(
        [seq, at.isoformat(timespec="microseconds"), actor, action, sha256, detail],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(prev.encode() + body.encode()).hexdigest()


def seal(keys: KeyProvider, aad: str, data: bytes, wrap_aad: bytes, header: dict | None = None) -> tuple[bytes, str]:
    """One blob: ``data`` under a fresh data key (AES-256-GCM, additional
    data ``aad``), the data key wrapped by the master key. Returns the blob
    and the wrapped key."""
    dek = os.urandom(KEY_BYTES)
    nonce = os.urandom(NONCE_BYTES)
    ct = AESGCM(dek).encrypt(nonce, data, aad.encode())
    wrapped = keys.wrap(dek, wrap_aad)
    head = json.dumps(
        {**(header or {}), "key_id": keys.key_id, "wrapped_key": wrapped, "nonce": base64.b64encode(nonce).decode()},
        sort_keys=True,
    ).encode()
    return MAGIC + struct.pack(">I", len(head)) + head + ct, wrapped


def unseal(keys: KeyProvider, raw: bytes, aad: str, wrap_aad: bytes, name: str = "blob") -> tuple[dict, bytes]:
    """(header, plaintext) of a ``seal`` blob; VaultError if it was tampered with."""
    if not raw.startswith(MAGIC):
        raise VaultError(f"{name}: not a vault blob")
    (n,) = struct.unpack(">I", raw[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    header = json.loads(raw[start : start + n])
    dek = keys.unwrap(header["wrapped_key"], wrap_aad, header["key_id"])
    try:
        return header, AESGCM(dek).decrypt(base64.b64decode(header["nonce"]), raw[start + n :], aad.encode())
    except Exception as exc:  # InvalidTag
        raise VaultError(f"{name}: ciphertext fails authentication (tampered or corrupt)") from exc


def _iso(d: datetime | None) -> str | None:
    return None if d is None else d.isoformat(timespec="seconds")


@dataclass
class PurgeResult:
    purged: list[str] = field(default_factory=list)
    kept_on_hold: list[str] = field(default_factory=list)
    kept_in_retention: list[str] = field(default_factory=list)
    references_expired: int = 0

    def to_dict(self) -> dict:
        return {
            "purged": self.purged,
            "kept_on_hold": self.kept_on_hold,
            "kept_in_retention": self.kept_in_retention,
            "references_expired": self.references_expired,
        }


class Vault:
    def __init__(
        self, root: str | os.PathLike, engine: Engine, keys: KeyProvider, retention: dict[str, Retention] | None = None
    ):
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        try:
            os.chmod(self.root, 0o700)
        except OSError:
            pass
        self.engine = engine
        self.keys = keys
        self.retention = {**DEFAULT_RETENTION, **(retention or {})}

    # -- helpers -----------------------------------------------------------
    def _write(self):
        return write_connection(self.engine)

    def blob_path(self, sha256: str) -> Path:
        return self.blobs / sha256[:2] / f"{sha256}.tlv"

    def policy(self, jurisdiction: str) -> Retention:
        return self.retention.get(jurisdiction) or self.retention["default"]

    def _custody(self, conn, actor: str, action: str, sha256: str | None, detail: dict | None = None) -> dict:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_CUSTODY_LOCK})
        last = conn.execute(select(custody_t.c.seq, custody_t.c.hash).order_by(custody_t.c.seq.desc()).limit(1)).first()
        seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
        at = utcnow()
        detail = json.loads(json.dumps(detail or {}, default=str))
        h = custody_hash(prev, seq, at, actor, action, sha256, detail)
        conn.execute(
            insert(custody_t).values(
                seq=seq, at=at, actor=actor, action=action, sha256=sha256, detail=detail, prev_hash=prev, hash=h
            )
        )
        return {"seq": seq, "hash": h}

    def _deny(self, principal, permission: str, sha256: str | None = None):
        try:
            return require(principal, permission)
        except PermissionError:
            with self._write() as conn, conn.begin():
                self._custody(conn, str(getattr(principal, "name", "?")), "denied", sha256, {"permission": permission})
            raise

    def _encrypt(self, sha256: str, data: bytes) -> tuple[bytes, str]:
        return seal(self.keys, sha256, data, b"tripline-vault:" + sha256.encode(), {"sha256": sha256})

    def _decrypt_file(self, path: Path, sha256: str) -> bytes:
        header, data = unseal(self.keys, path.read_bytes(), sha256, b"tripline-vault:" + sha256.encode(), path.name)
        if header.get("sha256") != sha256:
            raise VaultError(f"{path.name}: header names another item")
        if hashlib.sha256(data).hexdigest() != sha256:
            raise VaultError(f"{path.name}: content does not match its address")
        return data

    # -- operations --------------------------------------------------------
    def put(
        self,
        data: bytes,
        *,
        principal,
        reason: str,
        jurisdiction: str = "US",
        report_ref: str | None = None,
        reported_at: datetime | None = None,
    ) -> dict:
        """Preserve ``data``; returns the preservation record once it is durable."""
        actor = self._deny(principal, "vault.put")
        if not reason:
            raise ValueError("a preservation needs a reason")
        sha = hashlib.sha256(data).hexdigest()
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        path = self.blob_path(sha)
        with self.engine.connect() as conn:
            row = conn.execute(select(items_t).where(items_t.c.sha256 == sha)).first()
        reuse = False
        if path.exists() and row is not None and row.purged_at is None:
            try:
                self._decrypt_file(path, sha)
                reuse = True
            except Exception:  # noqa: BLE001 - corrupt blob: rewrite it
                reuse = False
        wrapped = row.wrapped_key if reuse else None
        if not reuse:
            blob, wrapped = self._encrypt(sha, data)
            atomic_write(path, blob)
        now = utcnow()
        pol = self.policy(jurisdiction)
        base = reported_at or now
        with self._write() as conn, conn.begin():
            existing = conn.execute(select(items_t.c.sha256).where(items_t.c.sha256 == sha)).first()
            values = {
                "md5": md5,
                "size": len(data),
                "key_id": self.keys.key_id,
                "wrapped_key": wrapped,
                "purged_at": None,
            }
            if existing is None:
                conn.execute(insert(items_t).values(sha256=sha, created_at=now, **values))
            elif not reuse:
                conn.execute(update(items_t).where(items_t.c.sha256 == sha).values(**values))
            pid = conn.execute(
                insert(pres_t)
                .values(
                    sha256=sha,
                    reason=reason[:4000],
                    report_ref=report_ref,
                    jurisdiction=jurisdiction,
                    created_by=actor,
                    created_at=now,
                    reported_at=reported_at,
                    content_until=base + timedelta(days=pol.content_days),
                    reference_until=base + timedelta(days=pol.reference_days),
                )
                .returning(pres_t.c.id)
            ).scalar_one()
            self._custody(
                conn,
                actor,
                "put",
                sha,
                {
                    "preservation_id": pid,
                    "reason": reason[:500],
                    "report_ref": report_ref,
                    "jurisdiction": jurisdiction,
                    "size": len(data),
                    "deduplicated": reuse,
                },
            )
        return self.preservation(pid)

    def preservation(self, pid: int) -> dict:
        with self.engine.connect() as conn:
            r = conn.execute(select(pres_t).where(pres_t.c.id == pid)).first()
        if r is None:
            raise NotInVault(f"no preservation record {pid}")
        return {
            "id": r.id,
            "sha256": r.sha256,
            "reason": r.reason,
            "report_ref": r.report_ref,
            "jurisdiction": r.jurisdiction,
            "created_by": r.created_by,
            "created_at": _iso(r.created_at),
            "reported_at": _iso(r.reported_at),
            "content_until": _iso(r.content_until),
            "reference_until": _iso(r.reference_until),
        }

    def link_report(
        self,
        sha256: str,
        *,
        principal,
        report_ref: str,
        reported_at: datetime,
        jurisdiction: str = "US",
        reason: str = "reported",
    ) -> dict:
        """Record that ``sha256`` was reported: retention now counts from the report."""
        actor = self._deny(principal, "vault.put", sha256)
        sha = _check_sha(sha256)
        pol = self.policy(jurisdiction)
        with self._write() as conn, conn.begin():
            if conn.execute(select(items_t.c.sha256).where(items_t.c.sha256 == sha)).first() is None:
                raise NotInVault(sha)
            pid = conn.execute(
                insert(pres_t)
                .values(
                    sha256=sha,
                    reason=reason,
                    report_ref=report_ref,
                    jurisdiction=jurisdiction,
                    created_by=actor,
                    created_at=utcnow(),
                    reported_at=reported_at,
                    content_until=reported_at + timedelta(days=pol.content_days),
                    reference_until=reported_at + timedelta(days=pol.reference_days),
                )
                .returning(pres_t.c.id)
            ).scalar_one()
            self._custody(conn, actor, "link_report", sha, {"preservation_id": pid, "report_ref": report_ref})
        return self.preservation(pid)

    def get(self, sha256: str, *, principal, purpose: str) -> bytes:
        sha = _check_sha(sha256)
        actor = self._deny(principal, "vault.get", sha)
        with self.engine.connect() as conn:
            row = conn.execute(select(items_t).where(items_t.c.sha256 == sha)).first()
        if row is None or row.purged_at is not None:
            raise NotInVault(f"{sha} is not in the vault" + (" (purged)" if row is not None else ""))
        data = self._decrypt_file(self.blob_path(sha), sha)
        with self._write() as conn, conn.begin():
            self._custody(conn, actor, "get", sha, {"purpose": purpose[:500]})
        return data

    def info(self, sha256: str, *, principal) -> dict:
        sha = _check_sha(sha256)
        self._deny(principal, "vault.read_meta", sha)
        with self.engine.connect() as conn:
            row = conn.execute(select(items_t).where(items_t.c.sha256 == sha)).first()
            if row is None:
                raise NotInVault(sha)
            pres = [r.id for r in conn.execute(select(pres_t.c.id).where(pres_t.c.sha256 == sha).order_by(pres_t.c.id))]
            holds = conn.execute(select(holds_t).where(holds_t.c.sha256 == sha).order_by(holds_t.c.id)).all()
        return {
            "sha256": sha,
            "md5": row.md5,
            "size": row.size,
            "created_at": _iso(row.created_at),
            "purged_at": _iso(row.purged_at),
            "preservations": [self.preservation(p) for p in pres],
            "holds": [
                {
                    "id": h.id,
                    "reason": h.reason,
                    "created_by": h.created_by,
                    "created_at": _iso(h.created_at),
                    "released_at": _iso(h.released_at),
                    "released_by": h.released_by,
                }
                for h in holds
            ],
        }

    def hold(self, sha256: str, *, principal, reason: str) -> int:
        sha = _check_sha(sha256)
        actor = self._deny(principal, "vault.hold", sha)
        if not reason:
            raise ValueError("a legal hold needs a reason (case or request reference)")
        with self._write() as conn, conn.begin():
            if conn.execute(select(items_t.c.sha256).where(items_t.c.sha256 == sha)).first() is None:
                raise NotInVault(sha)
            hid = conn.execute(
                insert(holds_t)
                .values(sha256=sha, reason=reason[:4000], created_by=actor, created_at=utcnow())
                .returning(holds_t.c.id)
            ).scalar_one()
            self._custody(conn, actor, "hold", sha, {"hold_id": hid, "reason": reason[:500]})
        return hid

    def release(self, hold_id: int, *, principal, reason: str = "") -> None:
        actor = self._deny(principal, "vault.release")
        with self._write() as conn, conn.begin():
            h = conn.execute(select(holds_t).where(holds_t.c.id == hold_id)).first()
            if h is None or h.released_at is not None:
                raise NotInVault(f"no active legal hold {hold_id}")
            conn.execute(update(holds_t).where(holds_t.c.id == hold_id).values(released_by=actor, released_at=utcnow()))
            self._custody(conn, actor, "release", h.sha256, {"hold_id": hold_id, "reason": reason[:500]})

    def purge(self, *, principal, now: datetime | None = None, dry_run: bool = False) -> PurgeResult:
        """Delete content past retention (never if on legal hold) and expired
        report references of purged content."""
        actor = self._deny(principal, "vault.purge")
        now = now or utcnow()
        res = PurgeResult()
        with self.engine.connect() as conn:
            live = [r.sha256 for r in conn.execute(select(items_t.c.sha256).where(items_t.c.purged_at.is_(None)))]
        for sha in live:
            with self._write() as conn, conn.begin():
                held = conn.execute(
                    select(holds_t.c.id).where(holds_t.c.sha256 == sha, holds_t.c.released_at.is_(None))
                ).first()
                untils = [
                    r.content_until for r in conn.execute(select(pres_t.c.content_until).where(pres_t.c.sha256 == sha))
                ]
                if held is not None:
                    res.kept_on_hold.append(sha)
                    continue
                if not untils or max(untils) > now:
                    # No record at all is kept too: never delete what we cannot explain.
                    res.kept_in_retention.append(sha)
                    continue
                res.purged.append(sha)
                if dry_run:
                    continue
                conn.execute(update(items_t).where(items_t.c.sha256 == sha).values(purged_at=now, wrapped_key=""))
                self._custody(conn, actor, "purge", sha, {"content_until": max(untils).isoformat()})
            if not dry_run:
                # After the commit: a crash here leaves the blob of a purged
                # item, which the next purge removes (below).
                self.blob_path(sha).unlink(missing_ok=True)
        if not dry_run:
            with self.engine.connect() as conn:
                gone = [
                    r.sha256 for r in conn.execute(select(items_t.c.sha256).where(items_t.c.purged_at.is_not(None)))
                ]
            for sha in gone:
                self.blob_path(sha).unlink(missing_ok=True)
        if not dry_run:
            with self._write() as conn, conn.begin():
                held_shas = {
                    r.sha256 for r in conn.execute(select(holds_t.c.sha256).where(holds_t.c.released_at.is_(None)))
                }
                purged = {
                    r.sha256 for r in conn.execute(select(items_t.c.sha256).where(items_t.c.purged_at.is_not(None)))
                }
                expired = conn.execute(
                    select(pres_t.c.id, pres_t.c.sha256, pres_t.c.report_ref).where(pres_t.c.reference_until <= now)
                ).all()
                for r in expired:
                    if r.sha256 in purged and r.sha256 not in held_shas:
                        conn.execute(delete(pres_t).where(pres_t.c.id == r.id))
                        self._custody(
                            conn,
                            actor,
                            "expire_reference",
                            r.sha256,
                            {"preservation_id": r.id, "report_ref": r.report_ref},
                        )
                        res.references_expired += 1
                self._custody(conn, actor, "purge_run", None, res.to_dict() | {"now": now.isoformat()})
        return res

    def recover(self) -> int:
        """Remove temp files of writes killed mid-way; returns how many."""
        n = 0
        for tmp in self.blobs.glob("*/.*.tmp"):
            tmp.unlink(missing_ok=True)
            n += 1
        return n

    # -- custody -------------------------------------------------------------
    def custody(self, sha256: str | None = None) -> list[dict]:
        q = select(custody_t).order_by(custody_t.c.seq)
        if sha256:
            q = q.where(custody_t.c.sha256 == sha256)
        with self.engine.connect() as conn:
            return [
                {
                    "seq": r.seq,
                    "at": r.at.isoformat(timespec="microseconds"),
                    "actor": r.actor,
                    "action": r.action,
                    "sha256": r.sha256,
                    "detail": r.detail,
                    "prev_hash": r.prev_hash,
                    "hash": r.hash,
                }
                for r in conn.execute(q)
            ]

    def verify_custody(self) -> list[str]:
        problems, prev, want = [], GENESIS, 1
        with self.engine.connect() as conn:
            for r in conn.execute(select(custody_t).order_by(custody_t.c.seq)):
                if r.seq != want:
                    problems.append(f"custody entries {want}..{r.seq - 1} missing")
                if r.prev_hash != prev:
                    problems.append(f"custody entry {r.seq}: broken link")
                if custody_hash(r.prev_hash, r.seq, r.at, r.actor, r.action, r.sha256, r.detail) != r.hash:
                    problems.append(f"custody entry {r.seq}: edited")
                prev, want = r.hash, r.seq + 1
        return problems

    # -- export for law enforcement --------------------------------------------
    def export(
        self,
        dest: str | os.PathLike,
        *,
        principal,
        sha256s: list[str] | None = None,
        report_ref: str | None = None,
        case_ref: str,
    ) -> dict:
        """Write a package for law enforcement: decrypted items, their
        preservation records and custody entries, and manifest.json with the
        SHA-256/MD5/size of every file. ``verify_export`` checks it."""
        actor = self._deny(principal, "vault.export")
        shas = [_check_sha(s) for s in (sha256s or [])]
        if report_ref:
            with self.engine.connect() as conn:
                shas += [
                    r.sha256 for r in conn.execute(select(pres_t.c.sha256).where(pres_t.c.report_ref == report_ref))
                ]
        shas = list(dict.fromkeys(shas))
        if not shas:
            raise NotInVault("nothing to export")
        dest = Path(dest)
        if dest.exists():
            raise VaultError(f"{dest} exists; export into a new folder")
        work = dest.parent / f".{dest.name}.{os.urandom(4).hex()}.partial"
        (work / "items").mkdir(parents=True)
        os.chmod(work, 0o700)
        entries = []
        for sha in shas:
            data = self.get(sha, principal=principal, purpose=f"export for {case_ref}")
            name = f"items/{sha}.bin"
            atomic_write(work / name, data)
            info = self.info(sha, principal=principal)
            entries.append(
                {
                    "file": name,
                    "sha256": sha,
                    "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
                    "size": len(data),
                    "preservations": info["preservations"],
                    "holds": info["holds"],
                }
            )
        custody = [c for c in self.custody() if c["sha256"] in set(shas)]
        custody_bytes = "".join(json.dumps(c, sort_keys=True) + "\n" for c in custody).encode()
        atomic_write(work / "custody.jsonl", custody_bytes)
        manifest = {
            "format": "tripline.vault.export",
            "version": 1,
            "case_ref": case_ref,
            "exported_by": actor,
            "exported_at": utcnow().isoformat(timespec="seconds"),
            "items": entries,
            "custody": {
                "file": "custody.jsonl",
                "sha256": hashlib.sha256(custody_bytes).hexdigest(),
                "entries": len(custody),
            },
        }
        mbytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
        atomic_write(work / "manifest.json", mbytes)
        atomic_write(work / "manifest.json.sha256", (hashlib.sha256(mbytes).hexdigest() + "  manifest.json\n").encode())
        os.replace(work, dest)
        durable.fsync_dir(dest.parent)
        with self._write() as conn, conn.begin():
            self._custody(
                conn,
                actor,
                "export",
                None,
                {"case_ref": case_ref, "items": shas, "manifest_sha256": hashlib.sha256(mbytes).hexdigest()},
            )
        return {"path": str(dest), "items": len(entries), "manifest_sha256": hashlib.sha256(mbytes).hexdigest()}


def verify_export(path: str | os.PathLike) -> list[str]:
    """Integrity check of an export package; an empty list means intact."""
    p = Path(path)
    problems: list[str] = []
    try:
        mbytes = (p / "manifest.json").read_bytes()
        manifest = json.loads(mbytes)
    except (OSError, ValueError) as exc:
        return [f"manifest.json unreadable: {exc}"]
    try:
        want = (p / "manifest.json.sha256").read_text().split()[0]
        if hashlib.sha256(mbytes).hexdigest() != want:
            problems.append("manifest.json does not match manifest.json.sha256")
    except (OSError, IndexError):
        problems.append("manifest.json.sha256 missing")
    for e in manifest.get("items", []):
        f = p / e["file"]
        try:
            data = f.read_bytes()
        except OSError:
            problems.append(f"{e['file']}: missing")
            continue
        if len(data) != e["size"]:
            problems.append(f"{e['file']}: size {len(data)} != {e['size']}")
        if hashlib.sha256(data).hexdigest() != e["sha256"]:
            problems.append(f"{e['file']}: SHA-256 mismatch")
        if hashlib.md5(data, usedforsecurity=False).hexdigest() != e["md5"]:
            problems.append(f"{e['file']}: MD5 mismatch")
    c = manifest.get("custody") or {}
    try:
        if hashlib.sha256((p / c.get("file", "custody.jsonl")).read_bytes()).hexdigest() != c.get("sha256"):
            problems.append("custody.jsonl: SHA-256 mismatch")
    except OSError:
        problems.append("custody.jsonl missing")
    return problems
