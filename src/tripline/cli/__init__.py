"""The ``tripline`` command line. Each command group lives in its own module
and registers itself on the one Typer app."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="tripline",
    help="Child-safety pipeline: hash matching, AI provenance, policy, review, reporting.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Imported here so that `import tripline.cli` stays cheap for tests that
    # only need one command module.
    from tripline.cli import (
        backfill_cmd,
        bank_cmd,
        classifier_cmd,
        config_cmd,
        db_cmd,
        hash_cmd,
        leads_cmd,
        plugins_cmd,
        policy_cmd,
        provenance_cmd,
        report_cmd,
        scan_cmd,
        serve_cmd,
        user_cmd,
    )
    from tripline.video import cli as video_cmd

    modules = (
        hash_cmd,
        bank_cmd,
        scan_cmd,
        backfill_cmd,
        provenance_cmd,
        policy_cmd,
        leads_cmd,
        video_cmd,
        serve_cmd,
        report_cmd,
        plugins_cmd,
        classifier_cmd,
        config_cmd,
        db_cmd,
        user_cmd,
    )
    for module in modules:
        module.register(app)


def main() -> None:
    _register()
    app()
