"""The contract between the review side and the reporting side.

The review console (or its integrator) turns ONE human-confirmed review
decision into a ``ConfirmedIncident``; the builder turns that into a
CyberTipline report. Nothing here reads machine decisions: the builder
refuses an incident that does not carry a human reviewer and confirmation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from tripline.classifiers.evidence import flagged_by_classifier

CLASSIFICATIONS = ("A1", "A2", "B1", "B2")
INCIDENT_TYPES = (
    "Child Pornography (possession, manufacture, and distribution)",
    "Child Sex Trafficking",
    "Child Sex Tourism",
    "Child Sexual Molestation",
    "Misleading Domain Name",
    "Misleading Words or Digital Images on the Internet",
    "Online Enticement of Children for Sexual Acts",
    "Unsolicited Obscene Material Sent to a Child",
)
DEFAULT_INCIDENT_TYPE = INCIDENT_TYPES[0]
# The schema's fileAnnotations (xs:all, each fixed="true": present means yes).
FILE_ANNOTATIONS = (
    "animeDrawingVirtualHentai",
    "potentialMeme",
    "viral",
    "possibleSelfProduction",
    "physicalHarm",
    "violenceGore",
    "bestiality",
    "liveStreaming",
    "infant",
    "generativeAi",
)
REPORT_ANNOTATIONS = ("sextortion", "csamSolicitation", "minorToMinorInteraction", "spam", "sadisticOnlineExploitation")
IP_EVENT_NAMES = ("Login", "Registration", "Purchase", "Upload", "Other", "Unknown")


class IncidentError(ValueError):
    """The incident cannot be reported as given (not human-confirmed, bad field)."""


@dataclass
class IpCapture:
    ip: str
    event: str = "Unknown"  # Login | Registration | Purchase | Upload | Other | Unknown
    at: datetime | None = None
    possible_proxy: bool | None = None
    port: int | None = None


@dataclass
class Uploader:
    """The account that uploaded the item (personOrUserReported)."""

    esp_identifier: str | None = None
    screen_name: str | None = None
    display_name: str | None = None
    profile_url: str | None = None
    email: str | None = None
    esp_service: str | None = None


@dataclass
class ConfirmedIncident:
    # -- the human decision (required) --
    item_id: str
    reviewer: str  # username of the human who confirmed
    confirmed_at: datetime
    classification: str  # A1 | A2 | B1 | B2
    decision_source: str = "human"  # anything else is refused
    # fileAnnotations the reviewer confirmed, e.g. {"generativeAi": True}. Only
    # True values are sent; generativeAi only when the reviewer ticked it.
    annotations: dict[str, bool] = field(default_factory=dict)
    report_annotations: dict[str, bool] = field(default_factory=dict)
    incident_type: str = DEFAULT_INCIDENT_TYPE
    # -- what the audit log shows the ESP saw (viewed_from_audit) --
    viewed: dict[str, bool] = field(default_factory=lambda: {"file": False, "exif": False})
    # -- the item --
    file_name: str = ""
    file_size: int | None = None
    md5: str | None = None
    sha256: str | None = None
    pdq: str | None = None
    vpdq: str | None = None  # summary, e.g. "frames=120 distinct=87 sha256-of-hashes=..."
    original_file_name: str | None = None
    provenance: dict[str, Any] | None = None  # ProvenanceRecord.to_dict()
    classifier_flagged: bool = False  # a classifier rule sent it to review (no vendor details)
    # -- upload context --
    incident_at: datetime | None = None  # when the incident happened (upload time if unknown)
    uploaded_at: datetime | None = None
    location_url: str | None = None  # where the file was on the service
    urls: list[str] = field(default_factory=list)  # web pages of the incident
    publicly_available: bool | None = None
    uploader: Uploader | None = None
    ip_events: list[IpCapture] = field(default_factory=list)
    associated_accounts: list[dict] = field(default_factory=list)  # distribution.export.associated_accounts()
    platform: str | None = None  # the reporter's product, e.g. "Example Photos"
    additional_info: str | None = None

    def check(self) -> None:
        """Refuse anything that is not a complete human confirmation."""
        if self.decision_source != "human":
            raise IncidentError(
                "a report is built only from a human-confirmed review decision "
                f"(decision_source={self.decision_source!r})"
            )
        if not (self.reviewer or "").strip():
            raise IncidentError("no reviewer: a report needs the human who confirmed it")
        if not isinstance(self.confirmed_at, datetime) or self.confirmed_at.tzinfo is None:
            raise IncidentError("confirmed_at must be a timezone-aware datetime")
        if self.classification not in CLASSIFICATIONS:
            raise IncidentError(f"classification must be one of {', '.join(CLASSIFICATIONS)}")
        if self.incident_type not in INCIDENT_TYPES:
            raise IncidentError(f"unknown incident type {self.incident_type!r}")
        bad = [k for k in self.annotations if k not in FILE_ANNOTATIONS]
        bad += [k for k in self.report_annotations if k not in REPORT_ANNOTATIONS]
        if bad:
            raise IncidentError(f"unknown annotation(s): {', '.join(bad)}")
        if set(self.viewed) - {"file", "exif"} or not all(isinstance(v, bool) for v in self.viewed.values()):
            raise IncidentError("viewed must be {'file': bool, 'exif': bool} (use viewed_from_audit)")
        for ev in self.ip_events:
            if ev.event not in IP_EVENT_NAMES:
                raise IncidentError(f"ip event name must be one of {', '.join(IP_EVENT_NAMES)}")
        if not self.file_name:
            raise IncidentError("file_name is required")

    # -- JSON round trip (stored with the submission) --
    def to_dict(self) -> dict:
        d = asdict(self)
        for k, v in list(d.items()):
            if isinstance(v, datetime):
                d[k] = v.isoformat()
        for ev in d["ip_events"]:
            if isinstance(ev.get("at"), datetime):
                ev["at"] = ev["at"].isoformat()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ConfirmedIncident:
        d = dict(d)
        for k in ("confirmed_at", "incident_at", "uploaded_at"):
            if isinstance(d.get(k), str):
                d[k] = datetime.fromisoformat(d[k])
        d["ip_events"] = [
            IpCapture(**{**e, "at": datetime.fromisoformat(e["at"]) if isinstance(e.get("at"), str) else e.get("at")})
            for e in d.get("ip_events") or []
        ]
        if d.get("uploader") is not None:
            d["uploader"] = Uploader(**d["uploader"])
        return cls(**d)


# -- what the ESP saw ---------------------------------------------------------
# Documented audit event shape (one dict per event):
#   {"action": "view" | "reveal" | "view_exif" | ..., "item_id": "42", "user": "alice",
#    "at": "2026-11-23T19:00:00+00:00", "details": {...}}
# Entries of tripline.audit's log ({"actor", "action", "target": "item:42",
# "detail"}) are accepted too, so the integrator can pass AuditLog.entries().
FILE_VIEW_ACTIONS = frozenset({"reveal", "review.reveal", "media.raw_served", "view_file", "review.view_file"})
EXIF_VIEW_ACTIONS = frozenset({"view_exif", "review.view_exif", "view_metadata", "review.view_metadata"})
_PANELS = {"exif", "metadata"}


def _event_item(ev: dict) -> str | None:
    if ev.get("item_id") is not None:
        return str(ev["item_id"])
    target = ev.get("target")
    if isinstance(target, str) and target.startswith("item:"):
        return target[5:]
    return None


def viewed_from_audit(events: list[dict], item_id: str | int | None = None) -> dict[str, bool]:
    """``{"file": bool, "exif": bool}`` from audit events; never defaults to True.

    - file: a reveal of the media (``reveal``/``review.reveal``, or the raw
      media being served). Looking at the blurred grayscale thumbnail
      (``view``/``review.view``) is NOT viewing the file.
    - exif: a view of the EXIF/metadata panel (``view_exif``/``view_metadata``,
      or ``view`` with ``details.panel`` in {"exif", "metadata"}).
    With ``item_id``, only that item's events count.
    """
    seen = {"file": False, "exif": False}
    for ev in events or []:
        if not isinstance(ev, dict):
            continue
        if item_id is not None and _event_item(ev) != str(item_id):
            continue
        action = str(ev.get("action") or "")
        details = ev.get("details") if isinstance(ev.get("details"), dict) else ev.get("detail")
        details = details if isinstance(details, dict) else {}
        if action in FILE_VIEW_ACTIONS:
            seen["file"] = True
        if action in EXIF_VIEW_ACTIONS or (action in ("view", "review.view") and details.get("panel") in _PANELS):
            seen["exif"] = True
    return seen


def from_review_item(item: dict, audit_events: list[dict], **context: Any) -> ConfirmedIncident:
    """Build an incident from a ``ReviewQueue.get()`` item that a human confirmed.

    ``item["outcome"]`` must be a confirmation with ``decided_by``; hashes and
    provenance come from ``item["record"]`` (the scan record); upload context
    (``uploader``, ``ip_events``, ``publicly_available``, ``uploaded_at``,
    ``associated_accounts``, ...) is passed as keyword arguments.
    """
    outcome = item.get("outcome") or {}
    if outcome.get("outcome") != "confirm" or not item.get("decided_by"):
        raise IncidentError("the review item is not a human confirmation")
    rec = item.get("record") or {}
    decided_at = item.get("decided_at")
    if isinstance(decided_at, str):
        decided_at = datetime.fromisoformat(decided_at)
    if decided_at is not None and decided_at.tzinfo is None:
        decided_at = decided_at.replace(tzinfo=UTC)
    annotations = {
        k: True for k, v in (outcome.get("annotations") or {}).items() if v is True and k in FILE_ANNOTATIONS
    }
    path = str(rec.get("path") or rec.get("key") or f"item-{item.get('id')}")
    kw: dict[str, Any] = {
        "item_id": str(item.get("id")),
        "reviewer": item["decided_by"],
        "confirmed_at": decided_at,
        "classification": outcome.get("classification"),
        "annotations": annotations,
        "viewed": viewed_from_audit(audit_events, item.get("id")),
        "file_name": path.replace("\\", "/").rsplit("/", 1)[-1],
        "file_size": rec.get("size"),
        "md5": rec.get("md5"),
        "sha256": rec.get("sha256") or item.get("sha256"),
        "pdq": rec.get("pdq"),
        "provenance": rec.get("provenance") if isinstance(rec.get("provenance"), dict) else None,
        "classifier_flagged": flagged_by_classifier(item.get("decision") or rec.get("decision")),
    }
    kw.update(context)
    return ConfirmedIncident(**kw)
