"""A small expression language for assertions over the traces of a run.

    span("startup").duration < 800ms
    p95(route("/cart").duration) <= 300ms and count(span("db *")) < 50
    errors() == 0
    tokens() < 50k and cost() < $0.25
    tool("search").success_rate >= 0.9
    problems("tool_loop") == 0

Grammar (docs/gate.md has the reference)::

    expr    := and ("or" and)*          and := not ("and" not)*      not := "not" not | cmp
    cmp     := sum (("<"|"<="|">"|">="|"=="|"!=") sum)?
    sum     := term (("+"|"-") term)*   term := unary (("*"|"/") unary)*
    unary   := "-" unary | postfix      postfix := atom ("." NAME ("(" args ")")?)*
    atom    := NUMBER UNIT? | "$" NUMBER | STRING | NAME "(" args ")" | "true" | "false" | "(" expr ")"

Units: ``us ms s min h`` (durations, in ms) and ``k M`` (counts). Selections (``span``,
``route``, ``service``, ``spans``, ``traces``, ``model``, ``tool``, ``agent``, ``models``,
``tools``, ``agents``) yield rows; a field (``.duration``, ``.tokens``, ``.cost``, ``.error``…)
yields one value per row. Comparing per-row values requires every row to hold and cites
the rows that do not; an empty selection fails ("nothing matched"), so a renamed span
cannot pass a check by disappearing.

Parsed by hand into a tuple tree and evaluated over plain data: an expression is never
handed to Python's ``eval``.
"""

from __future__ import annotations

import fnmatch
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runbrief.errors import UsageError

__all__ = ["ExprError", "parse", "evaluate", "Sel", "Vec", "Num", "Outcome", "EvalData"]


class ExprError(UsageError):
    pass


_TOKEN = re.compile(r"""\s*(?:
    (?P<num>\$?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?P<unit>us|ms|min|s|h|k|M)?(?![A-Za-z_])
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|==|!=|<|>|\(|\)|,|\.|\+|-|\*|/)
)""", re.X)
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60_000.0, "h": 3_600_000.0, "k": 1e3, "M": 1e6}
_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}
_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
MAX_CITED = 10


def _tokens(text: str) -> list[tuple[str, Any, int]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExprError(f"cannot read {text[pos:].strip()[:20]!r} at column {pos + 1} of {text!r}")
        col = m.start() + len(m.group(0)) - len(m.group(0).lstrip()) + 1
        if m.group("num"):
            raw = m.group("num").lstrip("$")
            out.append(("num", float(raw) * _UNITS.get(m.group("unit") or "", 1.0), col))
        elif m.group("str"):
            out.append(("str", re.sub(r"\\(.)", r"\1", m.group("str")[1:-1]), col))
        elif m.group("name"):
            out.append(("name", m.group("name"), col))
        else:
            out.append(("op", m.group("op"), col))
        pos = m.end()
    out.append(("end", None, len(text) + 1))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.toks, self.i = text, _tokens(text), 0

    def peek(self) -> tuple[str, Any, int]:
        return self.toks[self.i]

    def take(self, kind: str, value: Any = None) -> bool:
        k, v, _ = self.peek()
        if k == kind and (value is None or v == value):
            self.i += 1
            return True
        return False

    def expect(self, kind: str, value: Any = None) -> Any:
        k, v, col = self.peek()
        if not self.take(kind, value):
            want = value or kind
            got = "the end" if k == "end" else repr(v)
            raise ExprError(f"expected {want!r} at column {col} of {self.text!r}, found {got}")
        return v

    def parse(self) -> tuple:
        node = self.or_()
        if self.peek()[0] != "end":
            _, v, col = self.peek()
            raise ExprError(f"unexpected {v!r} at column {col} of {self.text!r}")
        return node

    def or_(self) -> tuple:
        node = self.and_()
        while self.take("name", "or"):
            node = ("or", node, self.and_())
        return node

    def and_(self) -> tuple:
        node = self.not_()
        while self.take("name", "and"):
            node = ("and", node, self.not_())
        return node

    def not_(self) -> tuple:
        if self.take("name", "not"):
            return ("not", self.not_())
        return self.cmp()

    def cmp(self) -> tuple:
        node = self.sum()
        k, v, _ = self.peek()
        if k == "op" and v in _CMP:
            self.i += 1
            node = ("cmp", v, node, self.sum())
        return node

    def sum(self) -> tuple:
        node = self.term()
        while self.peek()[0] == "op" and self.peek()[1] in "+-":
            op = self.expect("op")
            node = ("arith", op, node, self.term())
        return node

    def term(self) -> tuple:
        node = self.unary()
        while self.peek()[0] == "op" and self.peek()[1] in "*/":
            op = self.expect("op")
            node = ("arith", op, node, self.unary())
        return node

    def unary(self) -> tuple:
        if self.take("op", "-"):
            return ("arith", "-", ("num", 0.0), self.unary())
        return self.postfix()

    def postfix(self) -> tuple:
        node = self.atom()
        while self.take("op", "."):
            name = self.expect("name")
            node = ("method", name, node, self.args()) if self.peek()[:2] == ("op", "(") else ("field", name, node)
        return node

    def args(self) -> list[tuple]:
        self.expect("op", "(")
        out: list[tuple] = []
        if not self.take("op", ")"):
            out.append(self.or_())
            while self.take("op", ","):
                out.append(self.or_())
            self.expect("op", ")")
        return out

    def atom(self) -> tuple:
        k, v, col = self.peek()
        if k == "num":
            self.i += 1
            return ("num", v)
        if k == "str":
            self.i += 1
            return ("str", v)
        if self.take("op", "("):
            node = self.or_()
            self.expect("op", ")")
            return node
        if k == "name":
            self.i += 1
            if v in ("true", "false"):
                return ("bool", v == "true")
            if self.peek()[:2] != ("op", "("):
                raise ExprError(f"{v!r} at column {col} must be called, e.g. {v}(...); see docs/gate.md")
            return ("call", v, self.args())
        raise ExprError(f"unexpected {'the end' if k == 'end' else repr(v)} at column {col} of {self.text!r}")


def parse(text: str) -> tuple:
    if not text or not text.strip():
        raise ExprError("empty assertion; write e.g. span(\"startup\").duration < 800ms")
    return _Parser(text).parse()


# ------------------------------------------------------------------ values
@dataclass
class Sel:
    """A selection of rows: spans, GenAI calls or traces (each row has ``id`` and fields)."""
    rows: list[dict[str, Any]]
    label: str


@dataclass
class Vec:
    items: list[tuple[float | None, str]]  # (value, evidence ID)
    label: str


@dataclass
class Num:
    value: float | None
    evidence: list[str] = field(default_factory=list)
    label: str = ""


@dataclass
class Outcome:
    ok: bool
    detail: str
    evidence: list[str]
    value: float | None = None
    applicable: bool = True  # False when nothing matched: a per-trace score skips such a trace


class EvalData:
    """What an expression can see. Built by ``evaluators``; selections are functions of it."""

    def __init__(self, spans: list[dict[str, Any]], calls: list[dict[str, Any]], traces: list[dict[str, Any]],
                 problems: Callable[[], list[dict[str, Any]]]) -> None:
        self.spans, self.calls, self.traces = spans, calls, traces
        self._problems = problems
        self._problem_cache: list[dict[str, Any]] | None = None

    def problems(self) -> list[dict[str, Any]]:
        if self._problem_cache is None:
            self._problem_cache = self._problems()
        return self._problem_cache


def _glob(rows: list[dict[str, Any]], key: str, pattern: str) -> list[dict[str, Any]]:
    return [r for r in rows if r.get(key) is not None and fnmatch.fnmatchcase(str(r[key]), pattern)]


_SELECTORS: dict[str, Callable[[EvalData, list[Any]], list[dict[str, Any]]]] = {
    "span": lambda d, a: _glob(d.spans, "name", a[0]),
    "route": lambda d, a: _glob(d.spans, "route", a[0]),
    "service": lambda d, a: _glob(d.spans, "service", a[0]),
    "spans": lambda d, a: d.spans,
    "traces": lambda d, a: d.traces,
    "model": lambda d, a: _glob([c for c in d.calls if c["kind"] == "model"], "model", a[0]),
    "tool": lambda d, a: _glob([c for c in d.calls if c["kind"] == "tool"], "tool_name", a[0]),
    "agent": lambda d, a: _glob([c for c in d.calls if c["kind"] == "agent"], "agent_name", a[0]),
    "models": lambda d, a: [c for c in d.calls if c["kind"] == "model"],
    "tools": lambda d, a: [c for c in d.calls if c["kind"] == "tool"],
    "agents": lambda d, a: [c for c in d.calls if c["kind"] == "agent"],
}
_SEL_ARGS = {"span": 1, "route": 1, "service": 1, "model": 1, "tool": 1, "agent": 1}
FIELDS = {"duration": "duration_ms", "tokens": "total_tokens", "input_tokens": "input_tokens",
          "output_tokens": "output_tokens", "cost": "cost", "error": "error"}


def _pct(q: float) -> Callable[[list[float]], float]:
    def f(vals: list[float]) -> float:
        s = sorted(vals)
        k = (len(s) - 1) * q
        lo, hi = math.floor(k), math.ceil(k)
        return s[lo] + (s[hi] - s[lo]) * (k - lo)
    return f


_AGG: dict[str, Callable[[list[float]], float]] = {
    "max": max, "min": min, "sum": sum, "avg": lambda v: sum(v) / len(v), "mean": lambda v: sum(v) / len(v),
    "p50": _pct(0.5), "p90": _pct(0.9), "p95": _pct(0.95), "p99": _pct(0.99)}


def _show(node: tuple) -> str:
    kind = node[0]
    if kind == "num":
        return f"{node[1]:g}"
    if kind == "str":
        return repr(node[1]).replace("'", '"')
    if kind == "bool":
        return "true" if node[1] else "false"
    if kind == "call":
        return f"{node[1]}({', '.join(_show(a) for a in node[2])})"
    if kind == "field":
        return f"{_show(node[2])}.{node[1]}"
    if kind == "method":
        return f"{_show(node[2])}.{node[1]}({', '.join(_show(a) for a in node[3])})"
    if kind in ("cmp", "arith"):
        return f"{_show(node[2])} {node[1]} {_show(node[3])}"
    if kind == "not":
        return f"not {_show(node[1])}"
    return f"({_show(node[1])} {kind} {_show(node[2])})"


def _fmt(v: float | None) -> str:
    return "none" if v is None else f"{v:.6g}"


def _attr(row: dict[str, Any], key: str) -> Any:
    try:
        attrs = row["attributes"] or {}
    except KeyError:
        return None
    return attrs.get(key)


class _Evaluator:
    def __init__(self, data: EvalData) -> None:
        self.data = data

    def fail(self, node: tuple, message: str) -> ExprError:
        return ExprError(f"{_show(node)}: {message} (see docs/gate.md)")

    def run(self, node: tuple) -> Any:
        return getattr(self, "_" + node[0])(node)

    def outcome(self, node: tuple) -> Outcome:
        v = self.run(node)
        if isinstance(v, Outcome):
            return v
        if isinstance(v, bool):
            return Outcome(v, "true" if v else "false", [])
        raise self.fail(node, "an assertion must be a comparison, e.g. count(span(\"x\")) > 0")

    # literals
    def _num(self, node: tuple) -> Num:
        return Num(node[1], [], _show(node))

    def _str(self, node: tuple) -> str:
        return node[1]

    def _bool(self, node: tuple) -> bool:
        return node[1]

    # logic
    def _and(self, node: tuple) -> Outcome:
        a, b = self.outcome(node[1]), self.outcome(node[2])
        parts = [o for o in (a, b) if not o.ok] or [a, b]
        return Outcome(a.ok and b.ok, "; ".join(o.detail for o in parts), [e for o in parts for e in o.evidence],
                       applicable=a.applicable or b.applicable)

    def _or(self, node: tuple) -> Outcome:
        a, b = self.outcome(node[1]), self.outcome(node[2])
        parts = [o for o in (a, b) if o.ok] or [a, b]
        return Outcome(a.ok or b.ok, "; ".join(o.detail for o in parts), [e for o in parts for e in o.evidence],
                       applicable=a.applicable or b.applicable)

    def _not(self, node: tuple) -> Outcome:
        a = self.outcome(node[1])
        return Outcome(not a.ok, f"not ({a.detail})", a.evidence, applicable=a.applicable)

    # arithmetic: numbers, or per-row values with a number
    def _arith(self, node: tuple) -> Num | Vec:
        fn = _ARITH[node[1]]
        a, b = self.run(node[2]), self.run(node[3])

        def ap(x: float | None, y: float | None) -> float | None:
            if x is None or y is None:
                return None
            try:
                return fn(x, y)
            except ZeroDivisionError:
                return None

        if isinstance(a, Num) and isinstance(b, Num):
            return Num(ap(a.value, b.value), a.evidence + b.evidence, _show(node))
        if isinstance(a, Vec) and isinstance(b, Num):
            return Vec([(ap(v, b.value), e) for v, e in a.items], _show(node))
        if isinstance(a, Num) and isinstance(b, Vec):
            return Vec([(ap(a.value, v), e) for v, e in b.items], _show(node))
        raise self.fail(node, "arithmetic needs numbers, or per-row values and a number")

    # comparison
    def _cmp(self, node: tuple) -> Outcome:
        op, a, b = node[1], self.run(node[2]), self.run(node[3])
        fn = _CMP[op]
        label = _show(node)
        if isinstance(a, Sel) or isinstance(b, Sel):
            raise self.fail(node, "compare a field of a selection (.duration, .tokens, .cost, .count)")
        if isinstance(a, Num) and isinstance(b, Num):
            if a.value is None or b.value is None:
                return Outcome(False, f"{label}: no value (nothing matched)", a.evidence + b.evidence,
                               applicable=False)
            ok = fn(a.value, b.value)
            return Outcome(ok, f"{a.label} = {_fmt(a.value)}", (a.evidence + b.evidence)[:MAX_CITED], a.value)
        if isinstance(a, Vec) and isinstance(b, Num) or isinstance(a, Num) and isinstance(b, Vec):
            vec, num, flip = (a, b, False) if isinstance(a, Vec) else (b, a, True)
            if num.value is None:
                return Outcome(False, f"{label}: no value to compare with", num.evidence)
            items = [(v, e) for v, e in vec.items if v is not None]
            if not items:
                return Outcome(False, f"{vec.label}: nothing matched", [], applicable=False)

            def holds(v: float) -> bool:
                return fn(num.value, v) if flip else fn(v, num.value)

            bad = [(v, e) for v, e in items if not holds(v)]
            high = (op in ("<", "<=")) != flip  # for "<" the worst is the largest value
            worst = (max if high else min)(v for v, _ in (bad or items))
            if bad:
                bad.sort(key=lambda t: t[0], reverse=high)
                return Outcome(False, f"{len(bad)} of {len(items)} in {vec.label} fail (worst {_fmt(worst)})",
                               [e for _, e in bad[:MAX_CITED]], worst)
            return Outcome(True, f"all {len(items)} in {vec.label} hold (worst {_fmt(worst)})",
                           [e for _, e in sorted(items, key=lambda t: t[0], reverse=high)[:3]], worst)
        if isinstance(a, str) or isinstance(b, str) or isinstance(a, bool) or isinstance(b, bool):
            ok = fn(a, b) if op in ("==", "!=") else False
            return Outcome(ok, label, [])
        raise self.fail(node, "cannot compare these")

    # selections, fields and functions
    def _field(self, node: tuple) -> Any:
        name, base = node[1], self.run(node[2])
        if not isinstance(base, Sel):
            raise self.fail(node, f".{name} applies to a selection such as span(\"x\")")
        rows = base.rows
        if name in FIELDS:
            key = FIELDS[name]
            return Vec([(None if r.get(key) is None else float(r[key]), r["id"]) for r in rows], _show(node))
        if name == "count":
            return Num(float(len(rows)), [r["id"] for r in rows[:MAX_CITED]], _show(node))
        if name == "errors":
            return Sel([r for r in rows if r.get("error")], _show(node))
        if name in ("error_rate", "success_rate"):
            if not rows:
                return Num(None, [], _show(node))
            errs = [r for r in rows if r.get("error")]
            rate = len(errs) / len(rows)
            return Num(rate if name == "error_rate" else 1 - rate, [r["id"] for r in errs[:MAX_CITED]], _show(node))
        raise self.fail(node, f"unknown field .{name}; use one of {', '.join([*FIELDS, 'count', 'errors', 'error_rate', 'success_rate'])}")

    def _method(self, node: tuple) -> Sel:
        name, base, args = node[1], self.run(node[2]), [self.run(a) for a in node[3]]
        if name != "where" or not isinstance(base, Sel) or len(args) != 2 or not isinstance(args[0], str):
            raise self.fail(node, "the only method is .where(\"attribute.key\", value) on a selection")
        want = args[1].value if isinstance(args[1], Num) else args[1]
        rows = [r for r in base.rows if _matches(_attr(r, args[0]), want)]
        return Sel(rows, _show(node))

    def _call(self, node: tuple) -> Any:
        name, raw_args = node[1], node[2]
        args = [self.run(a) for a in raw_args]
        if name in _SELECTORS:
            want = _SEL_ARGS.get(name, 0)
            if len(args) != want or not all(isinstance(a, str) for a in args):
                sig = f'{name}("pattern")' if want else f"{name}()"
                raise self.fail(node, f"{name} takes {'one quoted pattern' if want else 'no arguments'}: {sig}")
            return Sel(_SELECTORS[name](self.data, args), _show(node))
        if name in _AGG or name == "count":
            if len(args) != 1:
                raise self.fail(node, f"{name} takes one argument")
            arg = args[0]
            if isinstance(arg, Sel):
                if name == "count":
                    return Num(float(len(arg.rows)), [r["id"] for r in arg.rows[:MAX_CITED]], _show(node))
                arg = Vec([(r.get("duration_ms"), r["id"]) for r in arg.rows], arg.label + ".duration")
            if not isinstance(arg, Vec):
                raise self.fail(node, f"{name} needs a selection or its field, e.g. {name}(span(\"x\").duration)")
            items = [(v, e) for v, e in arg.items if v is not None]
            if name == "count":
                return Num(float(len(items)), [e for _, e in items[:MAX_CITED]], _show(node))
            if not items:
                return Num(None, [], _show(node))
            value = _AGG[name]([v for v, _ in items])
            top = sorted(items, key=lambda t: t[0], reverse=name != "min")
            cited = [e for v, e in top if name in ("sum", "avg", "mean") or (v >= value if name != "min" else v <= value)]
            return Num(value, cited[:MAX_CITED], _show(node))
        if name in ("errors", "tokens", "cost", "problems", "error_rate", "success_rate"):
            return self._global(node, name, args)
        raise self.fail(node, f"unknown function {name}(); see docs/gate.md for the list")

    def _global(self, node: tuple, name: str, args: list[Any]) -> Num:
        d, label = self.data, _show(node)
        if name == "errors":
            errs = [s for s in d.spans if s.get("error")]
            return Num(float(len(errs)), [s["id"] for s in errs[:MAX_CITED]], label)
        if name in ("tokens", "cost"):
            models = [c for c in d.calls if c["kind"] == "model"]
            key = "total_tokens" if name == "tokens" else "cost"
            vals = [(c[key], c["id"]) for c in models if c.get(key) is not None]
            top = sorted(vals, key=lambda t: t[0], reverse=True)
            return Num(float(sum(v for v, _ in vals)), [e for _, e in top[:MAX_CITED]], label)
        if name == "problems":
            kinds = [a for a in args if isinstance(a, str)]
            found = [p for p in d.problems() if not kinds or p["type"] in kinds]
            return Num(float(len(found)), [e for p in found for e in p["span_ids"][:3]][:MAX_CITED], label)
        if not args or not isinstance(args[0], Sel):
            raise self.fail(node, f"{name} takes a selection, e.g. {name}(tools())")
        return self._field(("field", name, node[2][0]))


def _matches(have: Any, want: Any) -> bool:
    if have is None:
        return False
    if isinstance(want, str):
        return fnmatch.fnmatchcase(str(have), want)
    try:
        return float(have) == float(want)
    except (TypeError, ValueError):
        return False


def evaluate(text: str, data: EvalData) -> Outcome:
    """Parse and evaluate one assertion (raises ExprError on a malformed one)."""
    node = parse(text)
    return _Evaluator(data).outcome(node)
