"""The condition language of policy rules: parse, type-check, compile.

    match(bank in verified_banks and not suppressed and distance <= 31)
      and not provenance(synthetic != "none")

A top-level atom names a signal and is true when at least one of its facts
satisfies the condition in parentheses (or, without parentheses, when the
signal has any fact). Conditions inside compare a fact's fields with
literals or named sets: ``== != < <= > >=``, ``in`` / ``not in`` a set name
or a ``[...]`` list, and a bare boolean field. ``and``, ``or``, ``not`` and
parentheses combine both levels.

Everything is checked against ``schema.SIGNALS`` while parsing, and each
expression compiles to closures so evaluating a rule does no parsing or
lookups by name.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from tripline.policy.errors import PolicyError
from tripline.policy.schema import (
    BOOL,
    ENUM,
    HASH,
    INT,
    NUMERIC,
    SIGNALS,
    STR,
    Signal,
)

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<punc>[()\[\],])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false"}

Fact = dict
Because = list[str]


@dataclass(frozen=True)
class Tok:
    kind: str
    text: str
    pos: int


def _lex(src: str) -> list[Tok]:
    out, pos = [], 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m:
            raise _err(src, pos, f"unexpected character {src[pos]!r}")
        if m.lastgroup != "ws":
            kind = m.lastgroup
            if (kind == "name" and m.group() in _KEYWORDS) or kind == "punc":
                kind = m.group()
            out.append(Tok(kind, m.group(), pos))
        pos = m.end()
    out.append(Tok("end", "", len(src)))
    return out


def _err(src: str, pos: int, message: str) -> PolicyError:
    return PolicyError(f"{message} at column {pos + 1}\n    {src}\n    {' ' * pos}^")


def hash_eq(a: str, b: str) -> bool:
    a, b = a.lower(), b.lower()
    if a == b:
        return True
    return min(len(a), len(b)) >= 8 and (a.startswith(b) or b.startswith(a))


class Compiler:
    """Parses one ``when`` expression against the schema.

    ``sets`` maps set names to their values; ``enums`` adds the known values
    of enum fields the policy itself defines (``text.rule``); ``signals``
    limits which signals may appear (the prompt gate sees only a few).
    """

    def __init__(
        self, sets: dict[str, list], enums: dict[tuple[str, str], tuple[str, ...]], signals: dict[str, Signal] = SIGNALS
    ):
        self.sets = sets
        self.enums = enums
        self.signals = signals

    def compile(self, src: str) -> Node:
        self.src = src
        self.toks = _lex(src)
        self.i = 0
        node = self._or(self._top_atom)
        if self._peek().kind != "end":
            raise self._error(f"unexpected {self._peek().text!r}")
        return node

    # -- token helpers -------------------------------------------------
    def _peek(self) -> Tok:
        return self.toks[self.i]

    def _next(self) -> Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def _expect(self, kind: str, what: str) -> Tok:
        tok = self._peek()
        if tok.kind != kind:
            raise self._error(f"expected {what}, found {tok.text or 'end of expression'!r}")
        return self._next()

    def _error(self, message: str, tok: Tok | None = None) -> PolicyError:
        return _err(self.src, (tok or self._peek()).pos, message)

    # -- boolean structure, shared by both levels ----------------------
    def _or(self, atom):
        start = self._peek().pos
        parts = [self._and(atom)]
        while self._peek().kind == "or":
            self._next()
            parts.append(self._and(atom))
        return parts[0] if len(parts) == 1 else Or(parts, self._text(start))

    def _and(self, atom):
        start = self._peek().pos
        parts = [self._not(atom)]
        while self._peek().kind == "and":
            self._next()
            parts.append(self._not(atom))
        return parts[0] if len(parts) == 1 else And(parts, self._text(start))

    def _not(self, atom):
        if self._peek().kind == "not":
            start = self._next().pos
            inner = self._not(atom)
            return Not(inner, self._text(start))
        if self._peek().kind == "(":
            self._next()
            node = self._or(atom)
            self._expect(")", "')'")
            return node
        return atom()

    def _text(self, start: int) -> str:
        end = self.toks[self.i - 1]
        return self.src[start : end.pos + len(end.text)].strip()

    # -- top level: signal atoms ---------------------------------------
    def _top_atom(self) -> Node:
        tok = self._peek()
        if tok.kind != "name":
            raise self._error(
                f"expected a signal name ({', '.join(self.signals)}), found {tok.text or 'end of expression'!r}"
            )
        self._next()
        signal = self.signals.get(tok.text)
        if signal is None:
            hint = " (not available to prompt-gate rules)" if tok.text in SIGNALS else ""
            raise self._error(f"unknown signal {tok.text!r}{hint}; known signals: {', '.join(self.signals)}", tok)
        if self._peek().kind != "(":
            return Exists(signal, None, tok.text)
        self._next()
        start = self._peek().pos
        self.signal = signal
        pred = self._or(self._field_atom)
        cond = self.src[start : self._peek().pos].strip()
        self._expect(")", "')' closing the condition")
        return Exists(signal, pred, cond)

    # -- inside a signal: field comparisons ----------------------------
    def _field_atom(self) -> Pred:
        tok = self._peek()
        if tok.kind != "name":
            raise self._error(f"expected a field of {self.signal.name}, found {tok.text or 'end of expression'!r}")
        self._next()
        spec = self.signal.fields.get(tok.text)
        if spec is None:
            raise self._error(
                f"unknown field {tok.text!r} for signal {self.signal.name}; fields: {', '.join(self.signal.fields)}",
                tok,
            )
        name = tok.text
        ftype = spec.type
        known = self.enums.get((self.signal.name, name), spec.values) if ftype == ENUM else ()
        nxt = self._peek()
        if nxt.kind == "op":
            self._next()
            vtok = self._peek()
            value = self._literal()
            if nxt.text in ("<", "<=", ">", ">=") and ftype not in NUMERIC:
                raise self._error(f"{nxt.text} needs a number field; {self.signal.name}.{name} is {ftype}", nxt)
            self._check_value(name, ftype, known, value, vtok)
            if spec.fold:
                value = value.lower()
            return Compare(name, nxt.text, value, ftype)
        negate = False
        if nxt.kind == "not" and self.toks[self.i + 1].kind == "in":
            self._next()
            negate = True
        if self._peek().kind == "in":
            self._next()
            vtok = self._peek()
            values = self._set()
            for v in values:
                self._check_value(name, ftype, known, v, vtok)
            if spec.fold:
                values = [v.lower() for v in values]
            return In(name, tuple(values), ftype, negate)
        if negate:
            raise self._error("expected 'in' after 'not'")
        if ftype != BOOL:
            raise self._error(f"{self.signal.name}.{name} is {ftype}, not bool: compare it with a value", tok)
        return Compare(name, "==", True, BOOL)

    def _literal(self) -> Any:
        tok = self._next()
        if tok.kind == "str":
            return bytes(tok.text[1:-1], "utf-8").decode("unicode_escape") if "\\" in tok.text else tok.text[1:-1]
        if tok.kind == "num":
            return float(tok.text) if "." in tok.text else int(tok.text)
        if tok.kind in ("true", "false"):
            return tok.kind == "true"
        if tok.kind == "name":
            raise self._error(f"expected a value; to test a set write 'in {tok.text}'", tok)
        raise self._error(f"expected a value, found {tok.text or 'end of expression'!r}", tok)

    def _set(self) -> list:
        tok = self._peek()
        if tok.kind == "name":
            self._next()
            if tok.text not in self.sets:
                raise self._error(
                    f"unknown set {tok.text!r}; sets: {', '.join(sorted(self.sets)) or 'none defined'}", tok
                )
            return list(self.sets[tok.text])
        self._expect("[", "a set name or a [list]")
        values = []
        if self._peek().kind != "]":
            values.append(self._literal())
            while self._peek().kind == ",":
                self._next()
                values.append(self._literal())
        self._expect("]", "']'")
        return values

    def _check_value(self, name: str, ftype: str, known: tuple, value: Any, tok: Tok) -> None:
        where = f"{self.signal.name}.{name}"
        if ftype in (STR, HASH, ENUM) and not isinstance(value, str):
            raise self._error(f"{where} is {ftype}; {value!r} is not a string", tok)
        if ftype in NUMERIC and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise self._error(f"{where} is {ftype}; {value!r} is not a number", tok)
        if ftype == INT and isinstance(value, float):
            raise self._error(f"{where} is int; {value!r} is not an integer", tok)
        if ftype == BOOL and not isinstance(value, bool):
            raise self._error(f"{where} is bool; {value!r} is not true/false", tok)
        if ftype == ENUM and value not in known:
            raise self._error(f"{where} is never {value!r}; known values: {', '.join(known) or 'none'}", tok)


# -- compiled nodes -------------------------------------------------------
class Pred:
    def __call__(self, fact: Fact) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def fields(self) -> set[str]:
        return set()


class Compare(Pred):
    _OPS: ClassVar[dict] = {
        "==": operator.eq,
        "!=": operator.ne,
        "<": operator.lt,
        "<=": operator.le,
        ">": operator.gt,
        ">=": operator.ge,
    }

    def __init__(self, name: str, op: str, value: Any, ftype: str):
        self.name, self.op, self.value = name, op, value
        if ftype == HASH:

            def eq(a, b):
                return hash_eq(a, b)

            self.fn = eq if op == "==" else (lambda a, b: not eq(a, b))
        else:
            self.fn = self._OPS[op]

    def __call__(self, fact: Fact) -> bool:
        v = fact.get(self.name)
        return v is not None and self.fn(v, self.value)

    def fields(self) -> set[str]:
        return {self.name}


class In(Pred):
    def __init__(self, name: str, values: tuple, ftype: str, negate: bool):
        self.name, self.negate, self.ftype = name, negate, ftype
        self.values = frozenset(v.lower() for v in values) if ftype == HASH else frozenset(values)

    def __call__(self, fact: Fact) -> bool:
        v = fact.get(self.name)
        if v is None:
            return False
        if self.ftype == HASH:
            found = any(hash_eq(v, h) for h in self.values)
        else:
            found = v in self.values
        return found != self.negate

    def fields(self) -> set[str]:
        return {self.name}


class Node:
    src: str

    def evaluate(self, signals: dict[str, tuple[Fact, ...]]) -> tuple[bool, Because]:  # pragma: no cover
        raise NotImplementedError

    def signals_used(self) -> set[str]:
        return set()


class Exists(Node):
    MAX_WITNESSES = 5

    def __init__(self, signal: Signal, pred: Pred | None, cond: str):
        self.signal, self.pred, self.cond = signal, pred, cond
        self.src = f"{signal.name}({cond})" if pred is not None else signal.name
        shown = list(signal.label) + sorted((pred.fields() if pred else set()) - set(signal.label))
        self._shown = tuple(shown)

    def _describe(self, fact: Fact) -> str:
        parts = ", ".join(f"{k}={fact.get(k)!r}" for k in self._shown)
        return f"{self.signal.name}({parts})"

    def evaluate(self, signals):
        facts = signals.get(self.signal.name, ())
        witnesses = [f for f in facts if self.pred is None or self.pred(f)]
        if not witnesses:
            return False, []
        shown = [self._describe(f) for f in witnesses[: self.MAX_WITNESSES]]
        more = len(witnesses) - len(shown)
        tail = f" (+{more} more)" if more > 0 else ""
        what = f" satisfies {self.cond}" if self.pred is not None else " present"
        return True, [f"{'; '.join(shown)}{tail}{what}"]

    def signals_used(self):
        return {self.signal.name}


class Not(Node):
    def __init__(self, inner, src: str):
        self.inner, self.src = inner, src

    def evaluate(self, signals):
        ok, _ = self.inner.evaluate(signals)
        if ok:
            return False, []
        return True, [f"no {self.inner.src}" if isinstance(self.inner, Exists) else f"not ({self.inner.src})"]

    def signals_used(self):
        return self.inner.signals_used()

    def __call__(self, fact):  # a Not inside a signal condition
        return not self.inner(fact)

    def fields(self):
        return self.inner.fields()


class And(Node):
    def __init__(self, parts, src: str):
        self.parts, self.src = parts, src

    def evaluate(self, signals):
        because: Because = []
        for part in self.parts:
            ok, why = part.evaluate(signals)
            if not ok:
                return False, []
            because.extend(why)
        return True, because

    def signals_used(self):
        return set().union(*(p.signals_used() for p in self.parts))

    def __call__(self, fact):
        return all(p(fact) for p in self.parts)

    def fields(self):
        return set().union(*(p.fields() for p in self.parts))


class Or(Node):
    def __init__(self, parts, src: str):
        self.parts, self.src = parts, src

    def evaluate(self, signals):
        # Every true branch is reported, so the explanation does not depend
        # on which branch happens to be written first.
        because: Because = []
        fired = False
        for part in self.parts:
            ok, why = part.evaluate(signals)
            if ok:
                fired = True
                because.extend(why)
        return fired, because

    def signals_used(self):
        return set().union(*(p.signals_used() for p in self.parts))

    def __call__(self, fact):
        return any(p(fact) for p in self.parts)

    def fields(self):
        return set().union(*(p.fields() for p in self.parts))
