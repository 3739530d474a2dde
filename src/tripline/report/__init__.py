"""Legal reporting: CyberTipline (NCMEC) and NCA reports from human-confirmed
review decisions. See docs/reporting.md."""

from .client import (
    ENDPOINTS,
    CyberTiplineClient,
    DeliveryError,
    FatalError,
    NcmecDestination,
    TransientError,
)
from .credentials import CredentialStore
from .cybertipline import (
    ReporterConfig,
    build_file_details,
    build_report,
    provenance_pairs,
)
from .model import (
    CLASSIFICATIONS,
    FILE_ANNOTATIONS,
    ConfirmedIncident,
    IncidentError,
    IpCapture,
    Uploader,
    from_review_item,
    viewed_from_audit,
)
from .nca import NcaDestination, nca_payload
from .service import ReportConflict, ReportService, render, vault_files
from .xsd import SchemaInvalid, schema_errors, validate

__all__ = [
    "CLASSIFICATIONS",
    "ENDPOINTS",
    "FILE_ANNOTATIONS",
    "ConfirmedIncident",
    "CredentialStore",
    "CyberTiplineClient",
    "DeliveryError",
    "FatalError",
    "IncidentError",
    "IpCapture",
    "NcaDestination",
    "NcmecDestination",
    "ReportConflict",
    "ReportService",
    "ReporterConfig",
    "SchemaInvalid",
    "TransientError",
    "Uploader",
    "build_file_details",
    "build_report",
    "from_review_item",
    "nca_payload",
    "provenance_pairs",
    "render",
    "schema_errors",
    "validate",
    "vault_files",
    "viewed_from_audit",
]
