"""Load the plug-ins named by ``tripline.plugins`` entry points, once, lazily.

Nothing is imported until something asks for a registry (a bank import, a
scan, ``tripline plugins``), so ``tripline --help`` pays nothing. A plug-in
that fails to import, returns something that is not a Plugin, or clashes with
a name already taken is recorded in ``failed`` and skipped: a broken
third-party package never stops the service or the CLI.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points

from tripline.signals.types import SignalType

from .manifest import ImportFormat, Plugin, ProvenanceSource, ReportDestinationType

GROUP = "tripline.plugins"
BUILTIN = "builtin"


@dataclass(frozen=True)
class Loaded:
    plugin: Plugin
    entry_point: str  # "name = module:attr"
    package: str  # the distribution that declared it
    version: str


@dataclass(frozen=True)
class Failed:
    entry_point: str
    package: str
    error: str


@dataclass
class Registry:
    loaded: list[Loaded] = field(default_factory=list)
    failed: list[Failed] = field(default_factory=list)
    signal_types: tuple[SignalType, ...] = ()
    import_formats: dict[str, ImportFormat] = field(default_factory=dict)
    provenance_sources: tuple[ProvenanceSource, ...] = ()
    classifiers: dict = field(default_factory=dict)
    exchanges: dict = field(default_factory=dict)
    action_destinations: dict = field(default_factory=dict)
    report_destinations: dict[str, ReportDestinationType] = field(default_factory=dict)

    def add(self, plugin: Plugin) -> None:
        """Take every name ``plugin`` adds, or none of them (a clash rejects the plug-in)."""
        taken = {n for t in self.signal_types for n in t.names}
        clashes = [n for t in plugin.signal_types for n in t.names if n in taken]
        clashes += [f.name for f in plugin.import_formats if f.name in self.import_formats]
        clashes += [s.name for s in plugin.provenance_sources if s.name in {x.name for x in self.provenance_sources}]
        clashes += [d.name for d in plugin.report_destinations if d.name in self.report_destinations]
        for kind in ("classifiers", "exchanges", "action_destinations"):
            clashes += [n for n in getattr(plugin, kind) if n in getattr(self, kind)]
        if clashes:
            raise ValueError(f"names already registered by another plug-in: {', '.join(sorted(set(clashes)))}")
        self.signal_types += plugin.signal_types
        self.import_formats.update({f.name: f for f in plugin.import_formats})
        self.provenance_sources += plugin.provenance_sources
        self.report_destinations.update({d.name: d for d in plugin.report_destinations})
        for kind in ("classifiers", "exchanges", "action_destinations"):
            getattr(self, kind).update(getattr(plugin, kind))

    def to_dict(self) -> dict:
        return {
            "loaded": [
                {
                    "name": x.plugin.name,
                    "package": x.package,
                    "version": x.version,
                    "entry_point": x.entry_point,
                    "description": x.plugin.description,
                    "provides": x.plugin.provides(),
                }
                for x in self.loaded
            ],
            "failed": [{"entry_point": f.entry_point, "package": f.package, "error": f.error} for f in self.failed],
        }


def _package(ep: EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    return (dist.name, dist.version) if dist is not None else ("?", "?")


def _load_one(ep: EntryPoint) -> Plugin:
    obj = ep.load()
    if callable(obj) and not isinstance(obj, Plugin):
        obj = obj()
    if not isinstance(obj, Plugin):
        raise TypeError(f"entry point gave {type(obj).__name__}, not a tripline.plugins.Plugin")
    return obj


def build(eps: Iterable[EntryPoint]) -> Registry:
    """A registry from these entry points; the built-in one first, so a
    third-party plug-in can never take over a built-in name."""
    reg = Registry()
    eps = sorted(eps, key=lambda e: (e.name != BUILTIN, e.name, e.value))
    if not any(e.name == BUILTIN for e in eps):
        # Running from a source tree that was never installed: the built-ins
        # must still be there.
        eps.insert(0, EntryPoint(BUILTIN, "tripline.plugins.builtin:plugin", GROUP))
    for ep in eps:
        package, version = _package(ep)
        label = f"{ep.name} = {ep.value}"
        try:
            plugin = _load_one(ep)
            reg.add(plugin)
        except Exception as exc:  # noqa: BLE001 - contained by design, see the module docstring
            reg.failed.append(Failed(label, package, f"{type(exc).__name__}: {exc}"))
            continue
        if package == "?" and ep.name == BUILTIN:
            package, version = "tripline", ""
        reg.loaded.append(Loaded(plugin, label, package, version))
    return reg


_lock = threading.Lock()
_registry: Registry | None = None


def registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    global _registry
    if _registry is None:
        with _lock:
            if _registry is None:
                _registry = build(entry_points(group=GROUP))
    return _registry


def reset() -> None:
    """Forget the loaded registry (tests that install or fake a plug-in)."""
    global _registry
    with _lock:
        _registry = None
