"""The built-in report destinations as registry entries: NCMEC's CyberTipline
and the UK NCA. Code that needs a destination by name asks
``destination_type(name)`` instead of switching on the name, so a plug-in can
add another (docs/plugins.md)."""

from __future__ import annotations

import json

from tripline.plugins.manifest import ReportDestinationType


def _ncmec_render(incident, reporter) -> bytes:
    from .cybertipline import build_report

    return build_report(incident, reporter)


def _ncmec_connect(base_url: str, secret: dict, *, timeout: float):
    from .client import CyberTiplineClient, NcmecDestination

    return NcmecDestination(CyberTiplineClient(base_url, secret["username"], secret["password"], timeout=timeout))


def _ncmec_check(document: bytes) -> list[str]:
    from .xsd import schema_errors

    return schema_errors(document)


def _nca_render(incident, reporter) -> bytes:
    from .nca import nca_payload

    return json.dumps(nca_payload(incident, reporter), indent=2, sort_keys=True).encode()


def _nca_connect(base_url: str, secret: dict, *, timeout: float):
    from .nca import NcaDestination

    return NcaDestination(base_url, secret["token"], timeout=timeout)


NCMEC = ReportDestinationType("ncmec", _ncmec_render, _ncmec_connect, _ncmec_check, jurisdiction="US")
NCA = ReportDestinationType("nca", _nca_render, _nca_connect, None, jurisdiction="UK")
BUILTIN_REPORT_DESTINATIONS = (NCMEC, NCA)


def destination_type(name: str) -> ReportDestinationType:
    from tripline.plugins import registry

    found = registry().report_destinations.get(name)
    if found is None:
        raise ValueError(f"unknown destination {name!r} (known: {', '.join(registry().report_destinations)})")
    return found
