"""What a classifier needs from outside the pure core: its credential (the
named-secret store) and its daily budget counter (the database)."""

from __future__ import annotations

from sqlalchemy import Engine

from tripline.classifiers.guards import DailyBudget


class Runtime:
    def __init__(self, engine: Engine | None, keys=None):
        self.engine, self._keys = engine, keys

    def _engine(self) -> Engine:
        if self.engine is None:
            # Batch workers get no store: they use the database every CLI
            # command defaults to ($TRIPLINE_DB, or the state folder's).
            from tripline import config
            from tripline.store.engine import make_engine

            self.engine = make_engine(config.db_url(None, config.home_dir(None)))
        return self.engine

    def keys(self):
        if self._keys is None:
            from tripline.vault import key_provider_from_env

            try:
                self._keys = key_provider_from_env()
            except Exception as exc:  # noqa: BLE001 - KeyError_ and OSError alike
                raise LookupError(f"cannot decrypt classifier credentials: {exc}") from None
        return self._keys

    def secret(self, name: str) -> dict:
        from tripline.store.secrets import SecretStore

        return SecretStore(self._engine(), self.keys()).get(name)

    def budget(self, classifier: str, limit: int | None) -> DailyBudget:
        from tripline.store.secret_models import ClassifierUsage

        return DailyBudget(self._engine(), ClassifierUsage.__table__, classifier, limit)


def open_stage(policy, engine: Engine | None = None, keys=None):
    """The policy's classifier stage, or None when it configures none (then
    no classifier is built and nothing is called)."""
    if not getattr(policy, "classifiers", None):
        return None
    from tripline.classifiers.stage import ClassifierStage

    return ClassifierStage(policy, Runtime(engine, keys))


def with_classifier_input(options, stage):
    """Scan options whose workers keep what ``stage`` needs of each image."""
    if stage is None:
        return options
    from dataclasses import replace

    return replace(options, classifier_input=stage.input_spec)


def run_classifiers(stage, records: list[dict], context: dict | None = None) -> None:
    """The pipeline's one call: classify ``records`` in place (a no-op
    without a stage, except that kept inputs are always dropped)."""
    if stage is not None:
        stage.run(records, context)
    else:
        from tripline.classifiers.stage import drop_inputs

        drop_inputs(records)
