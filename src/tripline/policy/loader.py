"""Load and validate a policy file (TOML).

Everything that can be wrong with a policy is found here, at load time:
unknown sections or keys, unknown signals, fields, sets, lexicons or text
rules, operators that do not fit a field's type, missing priorities,
duplicate names. Each error names the file, the rule and the field.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from tripline.classifiers.config import ClassifierSpec, SpecError, parse_classifiers
from tripline.policy.errors import PolicyError
from tripline.policy.expr import Compiler, Node
from tripline.policy.schema import ACTIONS, GATE_VERDICTS, PRIORITIES, SIGNALS
from tripline.text import KINDS, Lexicon, LexiconError, TextRule, TextRules, parse_terms

DEFAULT_POLICY = "default_policy.toml"

_TOP = {"policy", "sets", "lexicons", "text_rules", "rule", "gate", "classifiers"}
_META = {"name", "version", "description"}
_RULE = {"name", "when", "action", "priority", "report", "by", "reason"}
_GATE = {"name", "when", "verdict", "reason"}
_LEXICON = {"terms", "file"}
_TEXT_RULE = {"any", "all", "near", "within"}


@dataclass(frozen=True)
class Rule:
    name: str
    when: str
    node: Node = field(repr=False, compare=False)
    action: str
    priority: str | None
    report: bool
    by: int
    reason: str


@dataclass(frozen=True)
class GateRule:
    name: str
    when: str
    node: Node = field(repr=False, compare=False)
    verdict: str
    reason: str


@dataclass
class Policy:
    name: str
    version: str
    sha256: str
    source: str  # file path, or a label for policies loaded from text
    description: str
    sets: dict[str, list]
    text_rules: TextRules
    rules: list[Rule]
    gate: list[GateRule]
    # [classifiers.NAME] (tripline.classifiers); none configured means no call.
    classifiers: dict[str, ClassifierSpec] = field(default_factory=dict)

    @property
    def meta(self) -> dict:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}


def load_policy(path: str | Path) -> Policy:
    """Load a policy file; lexicon ``file = ...`` paths are relative to it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    return load_policy_bytes(data, source=str(path), base_dir=path.parent)


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The policy that ships with Tripline (``policy/default_policy.toml``)."""
    ref = resources.files("tripline.policy").joinpath(DEFAULT_POLICY)
    return load_policy_bytes(ref.read_bytes(), source=f"tripline:{DEFAULT_POLICY}", base_dir=None)


def load_policy_bytes(data: bytes, *, source: str = "<policy>", base_dir: Path | None = None) -> Policy:
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PolicyError(f"not UTF-8 ({exc.reason} at byte {exc.start})", file=source) from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"not valid TOML: {exc}", file=source) from None
    try:
        return _build(doc, data, source, base_dir)
    except PolicyError as exc:
        raise exc.located(file=source) from None


def _unknown(table: dict, allowed: set, what: str, **where) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise PolicyError(
            f"unknown key(s) {', '.join(map(repr, extra))} in {what}; allowed: {', '.join(sorted(allowed))}", **where
        )


def _get(
    table: dict, key: str, kind: type | tuple, what: str, *, required: bool = False, default: Any = None, **where
) -> Any:
    if key not in table:
        if required:
            raise PolicyError(f"{what} is required", field=key, **where)
        return default
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise PolicyError(f"must be {names}, got {type(value).__name__} {value!r}", field=key, **where)
    return value


def _build(doc: dict, raw: bytes, source: str, base_dir: Path | None) -> Policy:
    _unknown(doc, _TOP, "the policy (sections)")
    meta = _get(doc, "policy", dict, "[policy] section", required=True)
    _unknown(meta, _META, "[policy]")
    name = _get(meta, "name", str, "policy name", required=True)
    version = _get(meta, "version", str, "policy version", required=True)
    description = _get(meta, "description", str, "description", default="")

    sets = _get(doc, "sets", dict, "[sets]", default={})
    for set_name, values in sets.items():
        if not isinstance(values, list) or not all(
            isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values
        ):
            raise PolicyError("a set is a list of strings or numbers", field=f"sets.{set_name}")

    digest = hashlib.sha256(raw)
    lexicons = _lexicons(_get(doc, "lexicons", dict, "[lexicons]", default={}), base_dir, digest)
    text_rules = _text_rules(_get(doc, "text_rules", dict, "[text_rules]", default={}), lexicons)
    try:
        classifiers = parse_classifiers(doc.get("classifiers", {}), base_dir, digest)
    except SpecError as exc:
        raise PolicyError(str(exc), field=exc.field) from None

    enums = {("text", "rule"): tuple(r.name for r in text_rules.rules)}
    rules = _rules(_get(doc, "rule", list, "[[rule]]", default=[]), Compiler(sets, enums))
    gate_signals = {n: s for n, s in SIGNALS.items() if s.gate}
    gate = _gate(_get(doc, "gate", list, "[[gate]]", default=[]), Compiler(sets, enums, gate_signals))
    return Policy(name, version, digest.hexdigest(), source, description, sets, text_rules, rules, gate, classifiers)


def _lexicons(table: dict, base_dir: Path | None, digest) -> dict[str, Lexicon]:
    out = {}
    for name in sorted(table):
        spec = table[name]
        where = {"field": f"lexicons.{name}"}
        if not isinstance(spec, dict):
            raise PolicyError('a lexicon is a table with terms = [...] or file = "..."', **where)
        _unknown(spec, _LEXICON, f"lexicon {name!r}", **where)
        if ("terms" in spec) == ("file" in spec):
            raise PolicyError('give exactly one of terms = [...] or file = "..."', **where)
        try:
            if "terms" in spec:
                terms = spec["terms"]
                if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
                    raise PolicyError("terms must be a list of strings", **where)
            else:
                terms = _read_terms(spec["file"], base_dir, digest, where)
            out[name] = Lexicon(name, tuple(terms))
        except LexiconError as exc:
            raise PolicyError(str(exc), **where) from None
    return out


def _read_terms(file: Any, base_dir: Path | None, digest, where: dict) -> list[str]:
    if not isinstance(file, str):
        raise PolicyError("file must be a path string", **where)
    if base_dir is None:
        raise PolicyError("lexicon files need a policy loaded from a file", **where)
    path = base_dir / file
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read lexicon file {path}: {exc.strerror or exc}", **where) from None
    # The decision's policy hash covers the term lists it was made with.
    digest.update(b"\0lexicon\0" + file.encode() + b"\0" + data)
    try:
        return parse_terms(data.decode("utf-8"), source=str(path))
    except UnicodeDecodeError as exc:
        raise PolicyError(f"lexicon file {path} is not UTF-8 ({exc.reason})", **where) from None


def _text_rules(table: dict, lexicons: dict[str, Lexicon]) -> TextRules:
    rules = []
    for name in sorted(table):
        spec = table[name]
        where = {"field": f"text_rules.{name}"}
        if not isinstance(spec, dict):
            raise PolicyError("a text rule is a table: any/all/near = [lexicons], within = N for near", **where)
        _unknown(spec, _TEXT_RULE, f"text rule {name!r}", **where)
        kinds = [k for k in KINDS if k in spec]
        if len(kinds) != 1:
            raise PolicyError("give exactly one of any, all, near", **where)
        kind = kinds[0]
        names = spec[kind]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise PolicyError(f"{kind} must be a non-empty list of lexicon names", **where)
        missing = [n for n in names if n not in lexicons]
        if missing:
            raise PolicyError(
                f"unknown lexicon(s) {', '.join(map(repr, missing))}; lexicons: "
                f"{', '.join(sorted(lexicons)) or 'none defined'}",
                **where,
            )
        within = spec.get("within")
        if kind == "near":
            if len(names) < 2:
                raise PolicyError("near needs at least two lexicons", **where)
            if not isinstance(within, int) or isinstance(within, bool) or within < 1:
                raise PolicyError("near needs within = N, a whole number of tokens >= 1", **where)
        elif within is not None:
            raise PolicyError("within only applies to near", **where)
        rules.append(TextRule(name, kind, tuple(names), within))
    return TextRules(lexicons, rules)


def _common(spec: Any, index: int, section: str, allowed: set, names: set, compiler: Compiler) -> tuple[str, Node, str]:
    if not isinstance(spec, dict):
        raise PolicyError(f"each [[{section}]] must be a table", field=f"{section}[{index}]")
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise PolicyError("name is required (a non-empty string)", field=f"{section}[{index}].name")
    where = {"rule": name}
    _unknown(spec, allowed, f"[[{section}]]", **where)
    if name in names:
        raise PolicyError("duplicate rule name", **where)
    names.add(name)
    when = _get(spec, "when", str, "when", required=True, **where)
    reason = _get(spec, "reason", str, "reason", required=True, **where)
    if not reason.strip():
        raise PolicyError("reason must say why the rule exists", field="reason", **where)
    try:
        node = compiler.compile(when)
    except PolicyError as exc:
        raise exc.located(rule=name, field="when") from None
    return name, node, reason.strip()


def _rules(specs: list, compiler: Compiler) -> list[Rule]:
    out, names = [], set()
    for i, spec in enumerate(specs):
        name, node, reason = _common(spec, i, "rule", _RULE, names, compiler)
        where = {"rule": name}
        action = _get(spec, "action", str, "action", required=True, **where)
        if action not in ACTIONS:
            raise PolicyError(f"unknown action {action!r}; actions: {', '.join(ACTIONS)}", field="action", **where)
        priority = _get(spec, "priority", str, "priority", **where)
        report = _get(spec, "report", bool, "report", default=False, **where)
        by = _get(spec, "by", int, "by", default=None, **where)
        if action in ("block", "review"):
            if priority not in PRIORITIES:
                raise PolicyError(
                    f"{action} needs priority = one of {', '.join(PRIORITIES)}"
                    + (f", got {priority!r}" if priority is not None else ""),
                    field="priority",
                    **where,
                )
        elif priority is not None:
            raise PolicyError(f"{action} rules take no priority", field="priority", **where)
        if report and action not in ("block", "review"):
            raise PolicyError("only block and review rules can queue a report", field="report", **where)
        if action == "escalate":
            by = 1 if by is None else by
            if not 1 <= by <= len(PRIORITIES) - 1:
                raise PolicyError(f"by must be between 1 and {len(PRIORITIES) - 1}", field="by", **where)
        elif by is not None:
            raise PolicyError("by only applies to escalate rules", field="by", **where)
        out.append(Rule(name, spec["when"], node, action, priority, report, by or 0, reason))
    return out


def _gate(specs: list, compiler: Compiler) -> list[GateRule]:
    out, names = [], set()
    for i, spec in enumerate(specs):
        name, node, reason = _common(spec, i, "gate", _GATE, names, compiler)
        verdict = _get(spec, "verdict", str, "verdict", required=True, rule=name)
        if verdict not in GATE_VERDICTS:
            raise PolicyError(
                f"unknown verdict {verdict!r}; verdicts: {', '.join(GATE_VERDICTS)}", rule=name, field="verdict"
            )
        out.append(GateRule(name, spec["when"], node, verdict, reason))
    return out
