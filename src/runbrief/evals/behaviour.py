"""Agent behaviour problems, found in the normalized GenAI rows of each conversation.

Written from the failure each one names, with thresholds that are defaults, not truths
(override them in ``runbrief.toml`` ``[agents]``):

``tool_loop``
    The same tool called ``loop_min_repeats`` (3) or more times in one conversation with the
    same or nearly the same arguments (canonical JSON; the argument words overlapping by at
    least ``loop_similarity``, 0.75, as Jaccard): the agent is not making progress. Arguments
    that were not captured (content capture off) are unknown, not identical: calls without
    them never make a loop on their own, and a loop found says how many calls had none.
``retry_storm``
    ``retry_min_attempts`` (3) or more consecutive calls to one model or tool in a conversation,
    each following a failed one, less than ``retry_window_s`` (60 s) apart.
``token_growth``
    Input tokens of successive model calls in a conversation growing ``growth_factor`` (4x)
    or more from first to last over at least ``growth_min_steps`` (5) calls, rising in most
    steps: the context is snowballing (a history that is never trimmed).
``swallowed_tool_error``
    A tool call failed, the same tool never succeeded later in the conversation, and the
    agent step around it (or the trace root) still ended without error.
``step_over_budget``
    An agent step longer than ``step_max_ms`` (120 s) or using more than ``step_max_tokens``
    (100k) in its model calls; a model call over ``model_call_max_ms`` (60 s); a tool call over
    ``tool_call_max_ms`` (30 s); a conversation with more than ``max_model_calls`` (50) model calls.

Every problem names its conversation and cites its span IDs.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from runbrief import ids
from runbrief.evals import genai
from runbrief.evals.scope import Scope
from runbrief.store.duck import Store

if TYPE_CHECKING:
    from runbrief.evals.config import Config

__all__ = ["Thresholds", "detect", "detect_rows", "TYPES"]

TYPES = ("tool_loop", "retry_storm", "token_growth", "swallowed_tool_error", "step_over_budget")
MAX_EVIDENCE = 20
_WORD = re.compile(r"\w+")


@dataclass
class Thresholds:
    loop_min_repeats: int = 3
    loop_similarity: float = 0.75
    retry_min_attempts: int = 3
    retry_window_s: float = 60.0
    growth_factor: float = 4.0
    growth_min_steps: int = 5
    step_max_ms: float = 120_000.0
    step_max_tokens: int = 100_000
    model_call_max_ms: float = 60_000.0
    tool_call_max_ms: float = 30_000.0
    max_model_calls: int = 50

    @classmethod
    def from_config(cls, cfg: Config) -> Thresholds:
        section = cfg.section("agents")
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in section.items():
            if key not in known:
                raise cfg.error("agents", key, f"unknown threshold; known: {', '.join(known)}")
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise cfg.error("agents", key, f"expected a non-negative number, got {value!r}")
            values[key] = type(getattr(cls, key))(value)
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _spn(row: dict[str, Any]) -> str:
    return ids.make("spn", row["span_id"])


def _cite(rows: list[dict[str, Any]]) -> list[str]:
    out = [_spn(r) for r in rows]
    if len(out) > MAX_EVIDENCE:  # keep the first and the last ones: where it began and where it ended
        half = MAX_EVIDENCE // 2
        out = out[:half] + out[-half:]
    return out


def _problem(kind: str, conv: str, rows: list[dict[str, Any]], summary: str, **details: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "conversation": conv,
        "trace_ids": sorted({ids.make("trc", r["trace_id"]) for r in rows}),
        "span_ids": _cite(rows),
        "summary": summary,
        "details": details,
        "start_ns": min(r["start_ns"] for r in rows),
    }


def _tokens(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def _similar(a: frozenset[str], b: frozenset[str], threshold: float) -> bool:
    """Word-set Jaccard: reordered or reworded-by-one-word arguments match; a different value
    (page 2 vs page 3, another city) does not, so pagination is not a loop."""
    if a == b:
        return True
    if not a or not b:
        return False
    return len(a & b) / len(a | b) >= threshold


def _loops(conv: str, calls: list[dict[str, Any]], t: Thresholds) -> list[dict[str, Any]]:
    by_tool: dict[str, list[dict[str, Any]]] = {}
    for c in calls:
        if c["kind"] == "tool":
            by_tool.setdefault(c["tool_name"] or "?", []).append(c)
    out = []
    for tool, tcalls in by_tool.items():
        clusters: list[tuple[str, frozenset[str], list[dict[str, Any]]]] = []
        unknown = 0
        for c in tcalls[:1000]:
            text = genai.args_text(c["tool_args"])
            if not text:
                unknown += 1
                continue
            words = _tokens(text)
            for _, rep_words, members in clusters:
                if _similar(rep_words, words, t.loop_similarity):
                    members.append(c)
                    break
            else:
                clusters.append((text, words, [c]))
        for rep, _, members in clusters:
            if len(members) >= t.loop_min_repeats:
                exact = sum(genai.args_text(m["tool_args"]) == rep for m in members)
                out.append(_problem(
                    "tool_loop", conv, members,
                    f"tool {tool!r} called {len(members)} times with the same or nearly the same arguments",
                    tool=tool, calls=len(members), identical=exact, arguments=rep[:200],
                    failed=sum(bool(m["error"]) for m in members), unknown_arguments=unknown))
    return out


def _target(c: dict[str, Any]) -> str:
    return f"model {c['model']}" if c["kind"] == "model" else f"tool {c['tool_name']}"


def _retries(conv: str, calls: list[dict[str, Any]], t: Thresholds) -> list[dict[str, Any]]:
    out = []
    by_target: dict[str, list[dict[str, Any]]] = {}
    for c in calls:
        if c["kind"] in ("model", "tool"):
            by_target.setdefault(_target(c), []).append(c)
    window_ns = t.retry_window_s * 1e9
    for target, seq in by_target.items():
        run: list[dict[str, Any]] = []
        for c in seq + [None]:  # sentinel flushes the last run
            extends = (c is not None and run and run[-1]["error"]
                       and c["start_ns"] - run[-1]["end_ns"] <= window_ns)
            if extends:
                run.append(c)
                continue
            if len(run) >= t.retry_min_attempts:
                failed = sum(bool(r["error"]) for r in run)
                out.append(_problem(
                    "retry_storm", conv, run,
                    f"{target} attempted {len(run)} times in a row after failures ({failed} failed)",
                    target=target, attempts=len(run), failed=failed,
                    error_types=sorted({r["error_type"] for r in run if r["error_type"]})))
            run = [c] if c is not None else []
    return out


def _growth(conv: str, calls: list[dict[str, Any]], t: Thresholds) -> list[dict[str, Any]]:
    steps = [c for c in calls if c["kind"] == "model" and c["operation"] != "embeddings" and c["input_tokens"]]
    if len(steps) < max(2, t.growth_min_steps):
        return []
    tokens = [int(c["input_tokens"]) for c in steps]
    rises = sum(b > a for a, b in zip(tokens, tokens[1:], strict=False))
    factor = tokens[-1] / max(1, tokens[0])
    if factor >= t.growth_factor and rises >= 0.7 * (len(tokens) - 1):
        return [_problem(
            "token_growth", conv, steps,
            f"input tokens grew {factor:.1f}x over {len(steps)} model calls ({tokens[0]} → {tokens[-1]})",
            first_tokens=tokens[0], last_tokens=tokens[-1], factor=round(factor, 2), steps=len(steps),
            total_input_tokens=sum(tokens))]
    return []


def _enclosing_agent(c: dict[str, Any], agents: list[dict[str, Any]]) -> dict[str, Any] | None:
    best = None
    for a in agents:
        if a["trace_id"] == c["trace_id"] and a["start_ns"] <= c["start_ns"] and a["end_ns"] >= c["end_ns"] \
                and (best is None or a["start_ns"] >= best["start_ns"]):
            best = a
    return best


def _swallowed(conv: str, calls: list[dict[str, Any]], roots: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    agents = [c for c in calls if c["kind"] == "agent"]
    tools = [c for c in calls if c["kind"] == "tool"]
    for i, c in enumerate(tools):
        if not c["error"]:
            continue
        if any(not later["error"] and later["tool_name"] == c["tool_name"] for later in tools[i + 1:]):
            continue  # the agent retried and got through
        outer = _enclosing_agent(c, agents) or roots.get(c["trace_id"])
        if outer is None or outer["span_id"] == c["span_id"] or outer.get("status_code") == "ERROR":
            continue
        where = f"agent step {outer.get('agent_name') or outer.get('name')!r}"
        out.append(_problem(
            "swallowed_tool_error", conv, [c, outer],
            f"tool {c['tool_name']!r} failed ({c['error_type'] or 'error'}) and {where} still ended OK",
            tool=c["tool_name"], error_type=c["error_type"], error_message=(c["status_message"] or "")[:200],
            outer_span_id=_spn(outer)))
    return out


def _budgets(conv: str, calls: list[dict[str, Any]], t: Thresholds) -> list[dict[str, Any]]:
    out = []
    models = [c for c in calls if c["kind"] == "model"]
    for c in calls:
        limit = {"agent": t.step_max_ms, "model": t.model_call_max_ms, "tool": t.tool_call_max_ms}[c["kind"]]
        label = {"agent": f"agent step {c['agent_name']!r}", "model": f"model call {c['model']!r}",
                 "tool": f"tool call {c['tool_name']!r}"}[c["kind"]]
        if limit and c["duration_ms"] is not None and c["duration_ms"] > limit:
            out.append(_problem("step_over_budget", conv, [c], f"{label} took {c['duration_ms']:.0f} ms (budget {limit:.0f} ms)",
                                budget="duration_ms", value=round(c["duration_ms"], 3), limit=limit))
        if c["kind"] == "agent" and t.step_max_tokens:
            inner = [m for m in models if m["trace_id"] == c["trace_id"] and m["start_ns"] >= c["start_ns"]
                     and m["end_ns"] <= c["end_ns"]]
            used = sum((m["total_tokens"] or 0) for m in inner)
            if used > t.step_max_tokens:
                out.append(_problem("step_over_budget", conv, [c, *inner],
                                    f"{label} used {used} tokens (budget {t.step_max_tokens})",
                                    budget="tokens", value=used, limit=t.step_max_tokens))
    if t.max_model_calls and len(models) > t.max_model_calls:
        out.append(_problem("step_over_budget", conv, models,
                            f"conversation made {len(models)} model calls (budget {t.max_model_calls})",
                            budget="model_calls", value=len(models), limit=t.max_model_calls))
    return out


def detect_rows(rows: list[dict[str, Any]], t: Thresholds,
                roots: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Run every detector over normalized rows (time-ordered); roots: trace_id -> root span row."""
    by_conv: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_conv.setdefault(r["conversation"], []).append(r)
    out: list[dict[str, Any]] = []
    for conv, calls in by_conv.items():
        out += _loops(conv, calls, t)
        out += _retries(conv, calls, t)
        out += _growth(conv, calls, t)
        out += _swallowed(conv, calls, roots or {})
        out += _budgets(conv, calls, t)
    out.sort(key=lambda p: (TYPES.index(p["type"]), p["start_ns"]))
    for p in out:
        p.pop("start_ns")
    return out


def trace_roots(store: Store, trace_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not trace_ids:
        return {}
    rows = store.query(
        f"""SELECT trace_id, arg_min(span_id, start_ns) span_id, arg_min(name, start_ns) name,
                   arg_min(status_code, start_ns) status_code
            FROM spans WHERE trace_id IN ({', '.join('?' * len(trace_ids))}) AND parent_span_id IS NULL
            GROUP BY trace_id""",
        trace_ids,
    )
    return {r["trace_id"]: r for r in rows}


def detect(store: Store, scope: Scope, t: Thresholds) -> list[dict[str, Any]]:
    rows = genai.calls(store, scope)
    failed_tool_traces = sorted({r["trace_id"] for r in rows if r["kind"] == "tool" and r["error"]})
    return detect_rows(rows, t, trace_roots(store, failed_tool_traces))
