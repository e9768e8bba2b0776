"""Evaluators: functions that score the traces of a run, built in or written by the user.

An evaluator is a plain function ``fn(ctx: EvalContext) -> result`` where the result is a
``bool`` (pass/fail), a number (a score, compared with the check's ``min``/``max`` when it
has them), a ``dict`` with ``passed``/``score``/``detail``/``evidence``, or a ``Result``.
``ctx`` holds the run's spans, its normalized GenAI calls, one row per trace, the check's
parameters and the store (read-only use).

Where evaluators come from, in order: a built-in name (``latency``, ``assert``,
``error_free``, ``no_loops``, ``token_budget``, ``cost_budget``, ``tool_success_rate``,
``plan_adherence``); ``pkg.module:function`` or ``path/to/file.py:function`` (relative
to the config file); a name registered in the entry point group ``runbrief.evaluators``.
An evaluator that cannot be found, imported or run yields a ``Result`` with ``error`` set;
the other checks still run.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import orjson

from runbrief import ids, trust
from runbrief.evals import behaviour, genai
from runbrief.evals.expr import EvalData
from runbrief.evals.prices import PriceTable
from runbrief.evals.scope import Scope
from runbrief.store.duck import Store

__all__ = ["Row", "Result", "EvalContext", "BUILTINS", "builtin", "resolve", "run_one", "load_data", "EvaluatorError"]

ENTRY_POINT_GROUP = "runbrief.evaluators"
MAX_SPANS = 500_000


class EvaluatorError(Exception):
    """An evaluator that cannot be found or loaded; becomes the check's ``error``."""


@dataclass
class Result:
    passed: bool | None
    score: float | None = None
    detail: str = ""
    evidence: list[str] = field(default_factory=list)
    error: str | None = None
    applicable: bool = True  # False: nothing to judge here (a per-trace score then skips the trace)


@dataclass
class EvalContext:
    store: Store
    data: EvalData
    params: dict[str, Any]
    prices: PriceTable
    thresholds: behaviour.Thresholds
    base_dir: Path

    @property
    def spans(self) -> list[dict[str, Any]]:
        return self.data.spans

    @property
    def calls(self) -> list[dict[str, Any]]:
        return self.data.calls

    @property
    def traces(self) -> list[dict[str, Any]]:
        return self.data.traces

    def problems(self) -> list[dict[str, Any]]:
        return self.data.problems()

    def for_trace(self, trace_id: str) -> EvalContext:
        """The same context narrowed to one trace (``eval`` scores traces one by one)."""
        d = self.data
        sub = EvalData([s for s in d.spans if s["trace_id"] == trace_id],
                       [c for c in d.calls if c["trace_id"] == trace_id],
                       [t for t in d.traces if t["trace_id"] == trace_id],
                       lambda: [p for p in d.problems() if ids.make("trc", trace_id) in p["trace_ids"]])
        return EvalContext(self.store, sub, self.params, self.prices, self.thresholds, self.base_dir)


# ------------------------------------------------------------------ data
class Row(dict):
    """A span row whose attribute JSON is parsed on first use: most checks never read it,
    and parsing every span's JSON dominated a gate over a large run."""

    __slots__ = ()

    def __missing__(self, key: str) -> Any:
        if key != "attributes":
            raise KeyError(key)
        raw = dict.get(self, "_raw")
        value = orjson.loads(raw) if raw else {}
        self["attributes"] = value
        return value

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


def load_data(store: Store, scope: Scope, prices: PriceTable, thresholds: behaviour.Thresholds) -> EvalData:
    """Every span of every trace in scope, their GenAI calls (with cost) and per-trace totals."""
    cond, args = scope.trace_where(store, "s")
    spans = [Row(r) for r in store.query(
        f"""SELECT trace_id, span_id, parent_span_id, service, name, kind, route, status_code, status_message,
                   duration_ms, start_ns, end_ns, 'spn_' || span_id AS id, status_code = 'ERROR' AS error,
                   attributes::VARCHAR AS _raw
            FROM spans s WHERE {cond} ORDER BY start_ns LIMIT ?""", [*args, MAX_SPANS])]
    raw = {s["span_id"]: dict.get(s, "_raw") for s in spans}
    sql = f"SELECT * FROM ({genai.normalized_sql(cond, genai.source(store))}) ORDER BY start_ns, span_id"
    calls = [Row(r) for r in store.query(sql, args)]
    if scope.conversation:
        calls = [c for c in calls if c["conversation"] == scope.conversation]
    for c in calls:
        c["id"] = ids.make("spn", c["span_id"])
        # The same cache-aware price as ``runbrief agents`` (genai.materialized): cached input
        # tokens are billed at their own rates, so a gate's budget agrees with the report.
        c["cost"] = (prices.cost(c["model"], c["input_tokens"], c["output_tokens"], c["cache_read_tokens"],
                                 c["cache_write_tokens"]) if c["kind"] == "model" else None)
        c["_raw"] = raw.get(c["span_id"])
    traces = {r["trace_id"]: r for r in store.query(
        f"""SELECT trace_id, 'trc_' || trace_id AS id, min(start_ns) start_ns, max(end_ns) end_ns,
                   (max(end_ns) - min(start_ns)) / 1e6 AS duration_ms, bool_or(status_code = 'ERROR') AS error,
                   count(*) AS spans, coalesce(arg_min(name, start_ns) FILTER (WHERE parent_span_id IS NULL),
                   arg_min(name, start_ns)) AS name,
                   arg_min(route, start_ns) FILTER (WHERE parent_span_id IS NULL) AS route,
                   arg_min(service, start_ns) AS service, 0 AS total_tokens, 0.0::DOUBLE AS cost
            FROM spans s WHERE {cond} GROUP BY trace_id ORDER BY start_ns""", args)}
    for c in calls:
        t = traces.get(c["trace_id"])
        if t and c["kind"] == "model":
            t["total_tokens"] += c["total_tokens"] or 0
            t["cost"] += c["cost"] or 0.0

    def problems() -> list[dict[str, Any]]:
        failed = sorted({c["trace_id"] for c in calls if c["kind"] == "tool" and c["error"]})
        return behaviour.detect_rows(calls, thresholds, behaviour.trace_roots(store, failed))

    return EvalData(spans, calls, list(traces.values()), problems)


# ------------------------------------------------------------------ registry
Evaluator = Callable[[EvalContext], Any]
BUILTINS: dict[str, Evaluator] = {}


def builtin(name: str) -> Callable[[Evaluator], Evaluator]:
    def register(fn: Evaluator) -> Evaluator:
        BUILTINS[name] = fn
        return fn
    return register


def _import_file(path: Path, base_dir: Path) -> Any:
    p = path if path.is_absolute() else (base_dir / path)
    if not p.is_file():
        raise EvaluatorError(f"no such file {p}")
    mod_name = f"_runbrief_eval_{abs(hash(str(p.resolve())))}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, p)
    if spec is None or spec.loader is None:
        raise EvaluatorError(f"cannot import {p}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[mod_name]
        raise EvaluatorError(f"importing {p} failed: {type(exc).__name__}: {exc}") from exc
    return module


def _import_module(name: str, base_dir: Path) -> Any:
    added = str(base_dir) not in sys.path
    if added:
        sys.path.insert(0, str(base_dir))
    try:
        return importlib.import_module(name)
    except Exception as exc:
        raise EvaluatorError(f"importing module {name!r} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        if added:
            sys.path.remove(str(base_dir))


def resolve(spec: str, base_dir: Path) -> tuple[str, Evaluator]:
    """Find the evaluator named ``spec``; returns (kind, fn). Raises EvaluatorError."""
    if spec in BUILTINS:
        return "builtin", BUILTINS[spec]
    if ":" in spec:
        target, _, attr = spec.rpartition(":")
        if not target or not attr:
            raise EvaluatorError(f"{spec!r}: write module.path:function or path/to/file.py:function")
        trust.refuse_code(spec)  # a request never names code to import (runbrief.trust)
        if target.endswith(".py") or "/" in target or "\\" in target:
            module = _import_file(Path(target), base_dir)
        else:
            module = _import_module(target, base_dir)
        fn = getattr(module, attr, None)
        if not callable(fn):
            raise EvaluatorError(f"{spec!r}: {target} has no function {attr!r}")
        return "custom", fn
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == spec:
            try:
                fn = ep.load()
            except Exception as exc:
                raise EvaluatorError(f"entry point {spec!r} ({ep.value}) failed to load: {exc}") from exc
            return "entry_point", fn
    known = ", ".join(sorted(BUILTINS))
    raise EvaluatorError(f"unknown evaluator {spec!r}; built-ins are {known}, or give module:function, "
                         f"path/file.py:function, or an entry point in the group {ENTRY_POINT_GROUP!r}")


def _coerce(value: Any, params: dict[str, Any]) -> Result:
    """Turn whatever an evaluator returned into a Result."""
    if isinstance(value, Result):
        return value
    if isinstance(value, bool):
        return Result(value, 1.0 if value else 0.0)
    if isinstance(value, int | float):
        score = float(value)
        lo, hi = params.get("min"), params.get("max")
        passed: bool | None = None
        if lo is not None or hi is not None:
            passed = (lo is None or score >= lo) and (hi is None or score <= hi)
        bounds = " and ".join(x for x in (lo is not None and f">= {lo}", hi is not None and f"<= {hi}") if x)
        return Result(passed, score, f"score {score:.4g}" + (f" (want {bounds})" if bounds else ""))
    if isinstance(value, dict):
        score = value.get("score")
        res = _coerce(score, params) if score is not None and "passed" not in value else Result(value.get("passed"), score)
        res.detail = str(value.get("detail", res.detail))
        res.evidence = [str(e) for e in value.get("evidence", [])]
        return res
    raise TypeError(f"returned {type(value).__name__}; return a bool, a number, a dict or a Result")


def run_one(fn: Evaluator, ctx: EvalContext, label: str) -> Result:
    """Run one evaluator; an exception becomes an error Result naming where it happened."""
    try:
        return _coerce(fn(ctx), ctx.params)
    except Exception as exc:
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
        return Result(None, error=f"evaluator {label} raised {type(exc).__name__}: {exc}{where}")


# The built-ins register themselves on import.
from runbrief.evals import builtins as _builtins  # noqa: E402,F401
