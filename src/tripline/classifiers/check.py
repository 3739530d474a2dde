"""``tripline policy check``: open every configured classifier once, so a
missing or malformed model, an unsafe URL or a missing credential is found
before a scan, with the classifier's name."""

from __future__ import annotations

from tripline.classifiers.base import ClassifierConfigError
from tripline.classifiers.registry import open_classifier


class _NoSecrets:
    """Checks that a credential exists without decrypting it (no key needed)."""

    def __init__(self, engine):
        self.engine = engine

    def secret(self, name: str) -> dict:
        if self.engine is None:
            return {}
        from tripline.store.secrets import SecretStore

        if not SecretStore(self.engine, None).describe(name)["configured"]:
            raise LookupError(f"no stored credential named {name!r} (tripline classifier credential set {name} ...)")
        return {}

    def budget(self, classifier: str, limit):
        return None


def check_classifiers(policy, engine=None) -> dict[str, dict]:
    """{name: {"type", "model"}}; raises ClassifierConfigError on the first bad one."""
    out = {}
    for name, spec in policy.classifiers.items():
        clf = open_classifier(spec, _NoSecrets(engine))
        try:
            out[name] = {"type": spec.type, "model": clf.model, "credential": spec.credential if spec.remote else None}
        finally:
            clf.close()
    return out


__all__ = ["ClassifierConfigError", "check_classifiers"]
