"""Tripline's HTTP service and review console (FastAPI): scanning and lookup
for platforms, HMA-compatible routes, bank management, the review console and
the audit log. See docs/service.md."""

from tripline.service.config import ServiceConfig

__all__ = ["ServiceConfig", "create_app"]


def create_app(*args, **kwargs):
    from tripline.service.app import create_app as _create

    return _create(*args, **kwargs)
