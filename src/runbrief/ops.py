"""The operation registry: every question runbrief answers, declared once.

An operation is a plain library function ``fn(store, **params) -> dict | list`` that
returns JSON-able data. The CLI, the HTTP API (``/api/op/<name>``), the MCP server and the
web page are thin views over these same functions, so they return the same shapes.
``read_only`` decides how a client opens the store when no server runs, and lets MCP
annotate (and switch off) tools that write.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runbrief.errors import UsageError

if TYPE_CHECKING:
    from runbrief.store.duck import Store

__all__ = ["Operation", "operation", "get", "all_operations", "run"]

# Modules that declare operations. Each area adds its own line.
OP_MODULES = [
    "runbrief.queries",
    "runbrief.distill.ops",
    "runbrief.traces.ops",
    "runbrief.store.retention",
    "runbrief.evals.ops",
    "runbrief.analyze.changes",
    "runbrief.analyze.baseline",
    "runbrief.ingest.deploys",
    "runbrief.ingest.kube",
    "runbrief.analyze.incidents",
    "runbrief.analyze.memory",
    "runbrief.analyze.verify",
    "runbrief.analyze.suspects",
    "runbrief.analyze.promote",
    "runbrief.analyze.guardrails",
    "runbrief.brief",
    "runbrief.tui.feed",
    "runbrief.server.web_ops",
]

# Where each operation is declared, so that one call imports one area: `runbrief incidents`
# need not import the trace planner, the miner's regexes and the eval engine (~0.7 s).
# An operation missing here is still found (every module is then loaded); tests/test_ops_index.py
# keeps the table complete and right.
OP_HOMES = {
    "agent_problems": "runbrief.evals.ops", "agents": "runbrief.evals.ops", "eval": "runbrief.evals.ops",
    "eval_scores": "runbrief.evals.ops", "gate": "runbrief.evals.ops",
    "baseline": "runbrief.analyze.baseline",
    "brief": "runbrief.brief",
    "changes": "runbrief.analyze.changes",
    "deploy_mark": "runbrief.ingest.deploys", "deploys": "runbrief.ingest.deploys",
    "detect_incidents": "runbrief.analyze.incidents", "incident": "runbrief.analyze.incidents",
    "incidents": "runbrief.analyze.incidents",
    "events": "runbrief.ingest.kube",
    "logs": "runbrief.queries", "services": "runbrief.queries", "show": "runbrief.queries",
    "stats": "runbrief.queries",
    "patterns": "runbrief.distill.ops",
    "perf": "runbrief.traces.ops", "trace_compare": "runbrief.traces.ops", "trace_diff": "runbrief.traces.ops",
    "trace_show": "runbrief.traces.ops", "trace_summary": "runbrief.traces.ops", "traces": "runbrief.traces.ops",
    "resolve": "runbrief.analyze.memory", "similar_incidents": "runbrief.analyze.memory",
    "retention": "runbrief.store.retention", "retention_preview": "runbrief.store.retention",
    "verify": "runbrief.analyze.verify", "suspects": "runbrief.analyze.suspects",
    "promote_check": "runbrief.analyze.promote", "gate_suggest": "runbrief.analyze.guardrails",
    "top": "runbrief.tui.feed", "tail": "runbrief.tui.feed",
    "web_llm_series": "runbrief.server.web_ops", "web_log_facets": "runbrief.server.web_ops",
    "web_pattern_series": "runbrief.server.web_ops", "web_service_series": "runbrief.server.web_ops",
    "web_trace": "runbrief.server.web_ops", "web_verdict": "runbrief.server.web_ops",
    "web_eval_runs": "runbrief.server.web_ops",
}

# The operations that write, known without importing them: `runbrief mcp` annotates (and in
# read-only mode leaves out) its writing tools before it answers `initialize`, and importing
# every area for that costs ~0.2 s of the 1 s budget. tests/test_ops_index.py keeps it right.
WRITE_OPS = frozenset({"deploy_mark", "detect_incidents", "eval", "gate", "resolve", "retention", "verify"})


def declared(name: str) -> bool:
    """Whether operation ``name`` exists, from the index alone (no area is imported)."""
    return name in OP_HOMES or name in _OPS


def writes(name: str) -> bool:
    """Whether operation ``name`` writes, from the index alone (no area is imported)."""
    op = _OPS.get(name)
    return (not op.read_only) if op is not None else name in WRITE_OPS


@dataclass(frozen=True)
class Operation:
    name: str
    fn: Callable[..., Any]
    read_only: bool
    summary: str

    def params(self) -> dict[str, inspect.Parameter]:
        sig = inspect.signature(self.fn)
        return {k: p for k, p in list(sig.parameters.items())[1:]}


_OPS: dict[str, Operation] = {}
_loaded = False


def operation(name: str, *, read_only: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        summary = (inspect.getdoc(fn) or "").split("\n\n", 1)[0].replace("\n", " ")
        _OPS[name] = Operation(name, fn, read_only, summary)
        return fn

    return register


def _load() -> None:
    global _loaded
    if not _loaded:
        for mod in OP_MODULES:
            importlib.import_module(mod)
        _loaded = True


def get(name: str) -> Operation:
    if name not in _OPS and name in OP_HOMES:
        importlib.import_module(OP_HOMES[name])
    if name not in _OPS:
        _load()
    try:
        return _OPS[name]
    except KeyError:
        raise UsageError(f"unknown operation {name!r}; known: {', '.join(sorted(_OPS))}") from None


def all_operations() -> list[Operation]:
    _load()
    return sorted(_OPS.values(), key=lambda o: o.name)


def _coerce(value: Any, param: inspect.Parameter) -> Any:
    """Coerce a query-string value to the parameter's annotated type."""
    if not isinstance(value, str):
        return value
    ann = str(param.annotation)
    if "bool" in ann:
        return value.lower() in ("1", "true", "yes", "on")
    if "int" in ann and "float" not in ann:
        try:
            return int(value)
        except ValueError:
            raise UsageError(f"parameter {param.name!r} must be an integer, got {value!r}") from None
    if "float" in ann:
        try:
            return float(value)
        except ValueError:
            raise UsageError(f"parameter {param.name!r} must be a number, got {value!r}") from None
    if "list" in ann:
        return [v for v in value.split(",") if v]
    return value


def run(store: Store, name: str, params: dict[str, Any] | None = None, *, coerce: bool = False) -> Any:
    """Call operation ``name`` on ``store``; unknown parameters are a usage error."""
    op = get(name)
    known = op.params()
    params = {k: v for k, v in (params or {}).items() if v is not None}
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise UsageError(f"{name}: unknown parameter(s) {', '.join(unknown)}; accepted: {', '.join(known)}")
    if coerce:
        params = {k: _coerce(v, known[k]) for k, v in params.items()}
    if store.settle is not None:
        store.settle()
    try:
        return op.fn(store, **params)
    except Exception as exc:  # a damaged or full store says so, not as a bare DuckDB error
        if not (isinstance(exc, OSError) or type(exc).__module__.lstrip("_").startswith("duckdb")):
            raise
        from runbrief.store.damage import classify

        err = classify(exc, store.path)
        if err is None:
            raise
        raise err from exc
