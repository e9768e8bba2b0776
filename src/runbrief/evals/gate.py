"""Checks, the gate and evaluation runs: score the traces of a run, store the scores with
the traces, and decide pass or fail.

A check is one table of ``[[gate.check]]`` in ``runbrief.toml`` (docs/gate.md) or one
``--evaluator``/``--assert`` on the command line. ``run_checks`` runs every check even when
one is broken: a broken check has ``status = "error"`` and the others still report.
The gate's verdict: ``pass`` (exit 0) when every check holds, ``fail`` (exit 1) when one
does not, ``error`` (exit 2) when a check could not be evaluated (a config problem).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from runbrief import ids, trust
from runbrief.errors import Forbidden, UsageError
from runbrief.evals import builtins, evaluators
from runbrief.evals.behaviour import Thresholds
from runbrief.evals.config import Config
from runbrief.evals.evaluators import EvalContext, EvaluatorError, Result
from runbrief.evals.expr import ExprError, parse
from runbrief.evals.scope import Scope, parse_resource
from runbrief.store.duck import Store

__all__ = ["Check", "checks_from_config", "checks_from_cli", "scope_from_config", "run_checks", "save", "EXIT"]

EXIT = {"pass": 0, "fail": 1, "error": 2}
_RESERVED = {"name", "evaluator", "assert", "per_trace"}
_SCOPE_KEYS = {"since": str, "until": str, "service": str, "deploy": str, "trace_ids": list, "resource": dict,
               "conversation": str, "junit": str, "check": list}


@dataclass
class Check:
    name: str
    evaluator: str
    params: dict[str, Any] = field(default_factory=dict)
    per_trace: bool = False
    problem: str | None = None  # set when the check cannot run (reported, others still run)
    # From a config this process read itself: may name code and files (runbrief.trust).
    trusted: bool = False


def _validate(cfg: Config | None, check: Check, index: int | None) -> None:
    """Built-in parameters are checked up front, so a typo is reported with its line."""
    def err(key: str | None, message: str) -> UsageError:
        if cfg is None:
            return UsageError(f"evaluator {check.evaluator}: {(key + ': ') if key else ''}{message}")
        return cfg.error("gate.check", key, message, index)

    schema = builtins.SCHEMAS.get(check.evaluator)
    if schema is None:
        return
    for key, value in check.params.items():
        if key not in schema:
            raise err(key, f"unknown parameter for {check.evaluator}; accepted: {', '.join(schema)}")
        types = schema[key]
        if isinstance(value, bool) or not isinstance(value, types):
            want = "a number" if types == builtins.NUM else ("a string" if types == (str,) else "a list")
            raise err(key, f"expected {want}, got {value!r}")
    for group in builtins.REQUIRED.get(check.evaluator, []):
        if not any(check.params.get(k) is not None for k in group):
            raise err(None, f"{check.evaluator} needs {' or '.join(group)}")
    if check.evaluator == "assert":
        try:
            parse(check.params["expr"])
        except ExprError as exc:
            raise err("assert" if cfg else "expr", str(exc)) from None


def checks_from_config(cfg: Config) -> list[Check]:
    gate = cfg.section("gate")
    for key in gate:
        if key not in _SCOPE_KEYS:
            raise cfg.error("gate", key, f"unknown key; accepted: {', '.join(_SCOPE_KEYS)}")
    raw = gate.get("check", [])
    if not isinstance(raw, list) or not raw:
        raise cfg.error("gate", None, "no checks: add [[gate.check]] tables (see docs/gate.md)")
    out = []
    for i, table in enumerate(raw):
        if not isinstance(table, dict):
            raise cfg.error("gate", "check", "each check must be a table [[gate.check]]")
        params = {k: v for k, v in table.items() if k not in _RESERVED}
        ev = table.get("evaluator")
        if "assert" in table:
            if not isinstance(table["assert"], str):
                raise cfg.error("gate.check", "assert", "expected a string expression", i)
            ev = ev or "assert"
            params["expr"] = table["assert"]
        if not isinstance(ev, str) or not ev:
            raise cfg.error("gate.check", "evaluator", "each check needs evaluator = \"…\" or assert = \"…\"", i)
        per_trace = table.get("per_trace", False)
        if not isinstance(per_trace, bool):
            raise cfg.error("gate.check", "per_trace", "expected true or false", i)
        name = table.get("name") or (params["expr"] if ev == "assert" else ev)
        check = Check(str(name), ev, params, per_trace, trusted=cfg.trusted)
        _validate(cfg, check, i)
        out.append(check)
    return out


def scope_from_config(cfg: Config, **overrides: Any) -> Scope:
    """The run's traces: command-line options win over ``[gate]`` keys."""
    gate = cfg.section("gate")
    for key, typ in _SCOPE_KEYS.items():
        if key in gate and not isinstance(gate[key], typ):
            raise cfg.error("gate", key, f"expected a {typ.__name__}")
    merged = {k: gate.get(k) for k in ("since", "until", "service", "deploy", "trace_ids", "resource", "conversation")}
    merged.update({k: v for k, v in overrides.items() if v})
    return Scope(since=merged["since"], until=merged["until"], service=merged["service"], deploy=merged["deploy"],
                 trace_ids=list(merged["trace_ids"] or []), resource=parse_resource(merged["resource"]),
                 conversation=merged["conversation"])


def _parse_value(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def checks_from_cli(specs: list[str], assertions: list[str], plan: str | None) -> list[Check]:
    """``name``, ``name:key=value,key=value`` (built-ins), ``pkg.mod:fn``, ``file.py:fn``, entry point."""
    out = []
    for spec in specs:
        name, sep, rest = spec.partition(":")
        if sep and name in evaluators.BUILTINS:
            params = {}
            for part in filter(None, rest.split(",")):
                k, eq, v = part.partition("=")
                if not eq:
                    raise UsageError(f"evaluator {spec!r}: parameters look like name:key=value,key=value")
                params[k.strip()] = _parse_value(v.strip())
            check = Check(spec, name, params)
        else:
            check = Check(spec, spec, {})
        _validate(None, check, None)
        out.append(check)
    for text in assertions:
        check = Check(text, "assert", {"expr": text})
        _validate(None, check, None)
        out.append(check)
    if plan:
        out.append(Check(f"plan {plan}", "plan_adherence", {"plan": plan}))
    return out


def _row(check: Check, res: Result, trace_id: str | None = None) -> dict[str, Any]:
    status = "error" if res.error else ("fail" if res.passed is False else "pass")
    if trace_id is not None and not res.applicable and status != "error":
        status = "skip"  # nothing in this trace for the check to judge
    out = {"name": check.name, "evaluator": check.evaluator, "status": status, "passed": res.passed,
           "score": None if res.score is None else round(float(res.score), 6), "detail": res.detail,
           "evidence": res.evidence, "error": res.error}
    if trace_id is not None:
        out["trace_id"] = ids.make("trc", trace_id)
    return out


def run_checks(store: Store, cfg: Config, checks: list[Check], scope: Scope, *, per_trace: bool = False
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Run every check; returns (one row per check, per-trace score rows, traces scored)."""
    thresholds = Thresholds.from_config(cfg)
    data = evaluators.load_data(store, scope, cfg.prices, thresholds)
    results: list[dict[str, Any]] = []
    per_trace_rows: list[dict[str, Any]] = []
    for check in checks:
        with trust.local() if check.trusted else contextlib.nullcontext():
            results_, rows_ = _run_check(store, cfg, check, data, thresholds, per_trace)
        results.append(results_)
        per_trace_rows += rows_
    return results, per_trace_rows, len(data.traces)


def _run_check(store: Store, cfg: Config, check: Check, data: Any, thresholds: Thresholds, per_trace: bool
               ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One check's row (and its per-trace rows); a broken check is a row with an error."""
    try:
        kind, fn = evaluators.resolve(check.evaluator, cfg.base_dir)
    except (EvaluatorError, Forbidden) as exc:
        return _row(check, Result(None, error=str(exc))), []
    ctx = EvalContext(store, data, check.params, cfg.prices, thresholds, cfg.base_dir)
    if not (per_trace or check.per_trace) or not data.traces:
        row = _row(check, evaluators.run_one(fn, ctx, check.evaluator))
        if not data.traces and row["status"] == "pass" and kind == "builtin" and check.evaluator != "assert":
            row.update(status="fail", passed=False, detail="no traces in scope: nothing to evaluate")
        return row, []
    rows = [_row(check, evaluators.run_one(fn, ctx.for_trace(t["trace_id"]), check.evaluator), t["trace_id"])
            for t in data.traces]
    failed = [r for r in rows if r["status"] == "fail"]
    errors = [r for r in rows if r["status"] == "error"]
    skipped = [r for r in rows if r["status"] == "skip"]
    judged = len(rows) - len(skipped)
    scores = [r["score"] for r in rows if r["score"] is not None and r["status"] != "skip"]
    detail = f"{judged - len(failed) - len(errors)} of {judged} traces pass" + (
        f" ({len(skipped)} had nothing to judge)" if skipped else "")
    if failed:
        detail += f"; first failure: {failed[0]['detail']}"
    elif not judged:
        detail = f"nothing to judge in any of the {len(rows)} traces: {rows[0]['detail']}"
    agg = Result(None if errors else bool(judged) and not failed, sum(scores) / len(scores) if scores else None,
                 detail, [e for r in failed[:5] for e in [r["trace_id"], *r["evidence"][:3]]],
                 errors[0]["error"] if errors else None)
    row = _row(check, agg)
    row["traces_passed"] = judged - len(failed) - len(errors)
    row["traces_failed"] = len(failed)
    row["traces_skipped"] = len(skipped)
    return row, rows


def verdict(results: list[dict[str, Any]]) -> str:
    if any(r["status"] == "error" for r in results):
        return "error"
    return "fail" if any(r["status"] == "fail" for r in results) else "pass"


def save(store: Store, kind: str, scope_info: dict[str, Any], config_path: str | None,
         results: list[dict[str, Any]], per_trace_rows: list[dict[str, Any]], status: str) -> str:
    """Store the run and its scores (per trace where scored per trace, else for the run)."""
    run_id = uuid.uuid4().hex[:16]
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [(r, r.get("trace_id")) for r in per_trace_rows] + [(r, None) for r in results]
    with store.write() as con:
        con.execute("INSERT INTO eval_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [run_id, now, kind, orjson.dumps(scope_info, default=str).decode(), config_path, status,
                     len(results), sum(r["status"] != "pass" for r in results)])
        if rows:
            import pyarrow as pa

            tbl = pa.table({
                "run_id": [run_id] * len(rows),
                "ts": pa.array([now] * len(rows), pa.timestamp("us")),
                "check_name": [r["name"] for r, _ in rows],
                "evaluator": [r["evaluator"] for r, _ in rows],
                "trace_id": [t.removeprefix("trc_") if t else None for _, t in rows],
                "status": [r["status"] for r, _ in rows],
                "score": pa.array([r["score"] for r, _ in rows], pa.float64()),
                "detail": [r["detail"] for r, _ in rows],
                "evidence": [orjson.dumps(r["evidence"]).decode() for r, _ in rows],
                "error": [r["error"] for r, _ in rows],
            })
            con.register("_rb_eval_scores", tbl)
            try:
                con.execute("INSERT INTO eval_scores SELECT run_id, ts, check_name, evaluator, trace_id, status, "
                            "score, detail, evidence::JSON, error FROM _rb_eval_scores")
            finally:
                con.unregister("_rb_eval_scores")
    return run_id


def elapsed_ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)
