"""`runbrief mcp` over stdio, driven by the official MCP client against a real store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp_client import EVIDENCE, payload, run, stdio_session, text_of
from mcp_data import SECRET, Facts

from runbrief import ops, tokens
from runbrief.agent.shaping import fence, unfence
from runbrief.agent.tools import TOOLS

GATE_TOML = """
[[gate.check]]
evaluator = "error_free"
"""


def tool_args(facts: Facts, tmp: Path) -> dict[str, dict[str, Any]]:
    """Valid arguments over the real data, per tool."""
    gate = tmp / "runbrief.toml"
    gate.write_text(GATE_TOML)
    return {
        "brief": {"budget": 1500},
        "list_services": {},
        "what_changed": {"service": "hdfs"},
        "list_incidents": {"all": True},
        "get_incident": {"id": "inc_1"},
        "similar_incidents": {"id": "inc_1"},
        "record_fix": {"id": "inc_1", "fix": "raised the pool size", "outcome": "worked"},
        "verify_fix": {"id": "inc_1", "deploy": "dep_1"},
        "suspects": {"id": "inc_1"},
        "promote_check": {"service": "hdfs"},
        "gate_suggest": {"service": "shop", "since": "2h"},
        "search_logs": {"service": "hdfs", "severity": "warn", "limit": 10},
        "top_patterns": {"service": "hdfs", "limit": 5},
        "find_traces": {"route": "/cart"},
        "summarize_trace": {"latest": True, "route": "/cart", "items": 5},
        "show_trace": {"id": f"trc_{facts.cart_trace}", "spans": 10},
        "compare_traces": {"a": f"trc_{facts.cart_trace}", "b": f"trc_{facts.checkout_trace}"},
        "perf_problems": {"service": "shop"},
        "compare_trace_to_plan": {"id": f"trc_{facts.cart_trace}", "plan": facts.plan_path.read_text()},
        "evaluate": {"trace_id": f"trc_{facts.checkout_trace}", "evaluators": ["error_free"]},
        "gate": {"config": gate.read_text(), "service": "shop", "since": "2h"},
        "agent_metrics": {"service": "agent-app"},
        "agent_problems": {"service": "agent-app"},
        "show": {"id": "dep_1"},
        "list_deploys": {"service": "hdfs"},
        "k8s_events": {"warnings_only": True},
        "mark_deploy": {"service": "shop", "version": "2.0.1", "commit": "def5678"},
    }


def check_answer(name: str, data: Any, text: str, facts: Facts) -> None:
    """What each answer must contain, from the data put in the store."""
    if name == "list_services":
        assert [unfence(s["service"]) for s in data["services"]] == facts.services
    elif name == "search_logs":
        bodies = [row["body"] for row in data["logs"]]
        assert bodies and all(b.startswith("<untrusted-data") and b.endswith("</untrusted-data>") for b in bodies)
        # the line written to steer an agent is withheld, flagged, and named by its ID
        flagged = [row for row in data["logs"] if 'flag="reads-as-instruction"' in row["body"]]
        assert len(flagged) == 1 and f"inspect {flagged[0]['id']}" in flagged[0]["body"]
        assert "Ignore all previous instructions" not in text and "withheld" in text
        assert "hunter2" not in text and "[REDACTED:" in text
    elif name == "what_changed":
        assert data["deploy"]["evidence_id"] == "dep_1"
    elif name == "find_traces":
        assert f"trc_{facts.cart_trace}" in text
    elif name == "summarize_trace":
        assert data["trace_id"] == f"trc_{facts.cart_trace}"
        kinds = {p["type"]: p for p in data["problems"]}
        assert "n_plus_one_db" in kinds and kinds["n_plus_one_db"]["span_ids"]
    elif name == "perf_problems":
        assert "n_plus_one_db" in text
    elif name == "show_trace":
        assert f"trc_{facts.cart_trace}" in text and "spn_" in text
    elif name == "evaluate":
        assert data["status"] == "fail"
    elif name == "gate":
        assert data["status"] == "fail" and data["failed"] >= 1
    elif name == "agent_metrics":
        # model names are telemetry: fenced as data, the value itself inside
        model = next(m for m in data["models"] if m["model"] == "<untrusted-data>gpt-4o</untrusted-data>")
        assert model["calls"] == 5 and model["input_tokens"] == 9000
    elif name == "top_patterns":
        rows = data["patterns"]
        assert 1 <= len(rows) <= 5 and all(r["pattern_id"].startswith("pat_") for r in rows)
        assert all(r["template"].startswith("<untrusted-data>") for r in rows)
        assert rows[0]["count"] >= rows[-1]["count"]
    elif name == "get_incident":
        assert data["id"] == "inc_1" and data["claims"] and all(c["evidence"] for c in data["claims"])
    elif name == "list_incidents":
        assert [i["id"] for i in data] == ["inc_1"]
    elif name == "record_fix":
        assert "inc_1" in text
    elif name == "gate_suggest":
        assert "[[gate.check]]" in unfence(data["toml"]) or data["notes"]
    elif name == "promote_check":
        assert unfence(data["verdict"]) in ("safe", "not_safe")
        assert unfence(data["candidate"]["environment"]) == "staging"
    elif name == "verify_fix":
        assert data["id"] == "inc_1" and data["deploy"] == "dep_1" and unfence(data["verdict"]) in (
            "fixed", "not_fixed", "regressed", "too_early")
    elif name == "brief":
        assert text.startswith("# runbrief brief") and "untrusted-data" in text
    elif name == "list_deploys":
        assert "dep_1" in text and "abc1234" in text
    elif name == "show":
        assert data["id"] == "dep_1" and data["service"] == fence("hdfs")
    elif name == "mark_deploy":
        assert "dep_" in text


def test_tools_have_descriptions_schemas_and_annotations(facts: Facts) -> None:
    async def scenario() -> Any:
        async with stdio_session(facts.path) as s:
            return (await s.list_tools()).tools

    tools = run(scenario)
    assert {t.name for t in tools} == {t.name for t in TOOLS}
    for t in tools:
        assert t.description and len(t.description) > 60, t.name
        schema = t.input_schema
        assert schema["type"] == "object", t.name
        for prop, spec in schema.get("properties", {}).items():
            assert spec.get("description"), f"{t.name}.{prop} has no description"
        assert t.annotations is not None and t.annotations.read_only_hint is not None, t.name
        assert t.annotations.open_world_hint is False
    by_name = {t.name: t for t in tools}
    assert by_name["search_logs"].annotations.read_only_hint is True
    for writer in ("record_fix", "mark_deploy", "evaluate"):
        assert by_name[writer].annotations.read_only_hint is False
    assert set(by_name["search_logs"].input_schema["properties"]["severity"]["anyOf"][0]["enum"]) >= {"warn", "error"}
    assert by_name["show"].input_schema["required"] == ["id"]


def test_every_tool_answers_from_real_data(facts: Facts, store_copy: Path, tmp_path: Path) -> None:
    """Each tool whose operation exists answers, bounded and cited; the others say why not."""
    known = {o.name for o in ops.all_operations()}
    args = tool_args(facts, tmp_path)
    assert set(args) == {t.name for t in TOOLS}

    async def scenario() -> dict[str, Any]:
        out = {}
        async with stdio_session(store_copy) as s:
            for spec in TOOLS:
                out[spec.name] = await s.call_tool(spec.name, args[spec.name])
        return out

    results = run(scenario, deadline=120)
    answered = 0
    for spec in TOOLS:
        res, text = results[spec.name], text_of(results[spec.name])
        if spec.op not in known:
            assert res.is_error and f"no `{spec.op}` operation" in text, (spec.name, text)
            continue
        assert not res.is_error, (spec.name, text)
        assert tokens.count(res.content[0].text) <= args[spec.name].get("budget", spec.default_budget)
        data = None if spec.text_field else payload(res)
        check_answer(spec.name, data, text, facts)
        answered += 1
    assert answered >= 14


def test_cited_ids_resolve_through_show(facts: Facts) -> None:
    """Every evidence ID an answer cites opens with `show` (a sample of each kind)."""

    async def scenario() -> tuple[set[str], dict[str, Any]]:
        async with stdio_session(facts.path) as s:
            cited: set[str] = set()
            for name, a in [("search_logs", {"service": "hdfs", "limit": 5}),
                            ("summarize_trace", {"latest": True, "route": "/cart"}),
                            ("what_changed", {"service": "hdfs"}),
                            ("agent_metrics", {"service": "agent-app"})]:
                cited |= set(EVIDENCE.findall(text_of(await s.call_tool(name, a))))
            sample: dict[str, str] = {}
            for eid in sorted(cited):
                sample.setdefault(eid.split("_")[0], eid)
            return cited, {eid: await s.call_tool("show", {"id": eid}) for eid in sample.values()}

    cited, shown = run(scenario)
    assert {e.split("_")[0] for e in cited} >= {"log", "trc", "spn", "dep"}
    for eid, res in shown.items():
        assert payload(res)["id"] == eid


def test_bad_arguments_are_clear_tool_errors(facts: Facts) -> None:
    cases = [
        ("search_logs", {"limit": "many"}, ["search_logs", "limit", "integer", "'many'"]),
        ("search_logs", {"severity": "loud"}, ["severity", "'loud'"]),
        ("search_logs", {"since": "yesterday-ish"}, ["yesterday-ish", "duration"]),
        ("show", {}, ["show", "id", "required"]),
        ("show", {"id": "nonsense"}, ["not an evidence ID"]),
        ("show", {"id": "log_987654"}, ["not found", "log_987654"]),
        ("summarize_trace", {}, ["give a trace `id`"]),
        ("summarize_trace", {"id": "trc_00", "latest": True}, ["not both"]),
        ("summarize_trace", {"id": "trc_" + "ab" * 16}, ["summarize_trace"]),
        ("search_logs", {"budget": 10}, ["budget", "200"]),
        ("find_traces", {"status": "purple"}, ["status", "'purple'"]),
        ("no_such_tool", {}, ["no_such_tool"]),
    ]

    async def scenario() -> tuple[list[Any], Any]:
        async with stdio_session(facts.path) as s:
            results = [await s.call_tool(name, a) for name, a, _ in cases]
            return results, await s.call_tool("list_services", {})  # the server is still fine

    results, after = run(scenario)
    for (name, a, needles), res in zip(cases, results, strict=True):
        text = text_of(res)
        assert res.is_error, (name, a, text)
        for needle in needles:
            assert needle in text, (name, a, needle, text)
        assert "errors.pydantic.dev" not in text and "Traceback" not in text
    assert not after.is_error


def test_budget_bounds_every_answer_and_says_what_was_left_out(facts: Facts) -> None:
    async def scenario() -> tuple[Any, Any]:
        async with stdio_session(facts.path) as s:
            small = await s.call_tool("search_logs", {"service": "hdfs", "limit": 500, "budget": 400})
            large = await s.call_tool("search_logs", {"service": "hdfs", "limit": 20, "budget": 20000})
            return small, large

    small, large = run(scenario)
    data = payload(small)
    assert tokens.count(small.content[0].text) <= 400
    assert 1 <= len(data["logs"]) < 500
    note = small.content[1].text
    assert "Left out to fit the budget of 400 tokens" in note and "logs:" in note
    assert all(row["id"].startswith("log_") for row in data["logs"])  # what is kept still cites its ID
    assert len(payload(large)["logs"]) == 20 and "Left out" not in text_of(large)


def test_resources_and_prompts(facts: Facts) -> None:
    async def scenario() -> dict[str, Any]:
        async with stdio_session(facts.path) as s:
            out: dict[str, Any] = {
                "resources": (await s.list_resources()).resources,
                "templates": (await s.list_resource_templates()).resource_templates,
                "prompts": (await s.list_prompts()).prompts,
                "evidence": await s.read_resource("runbrief://evidence/dep_1"),
                "investigate": await s.get_prompt("investigate_trace", {"route": "/cart"}),
                "deploy": await s.get_prompt("did_my_deploy_fix_it", {"service": "shop", "incident": "inc_2"}),
            }
            try:
                out["brief"] = await s.read_resource("runbrief://brief")
            except Exception as exc:  # noqa: BLE001 - an MCP error while `brief` has not landed
                out["brief"] = exc
            return out

    got = run(scenario)
    assert [str(r.uri) for r in got["resources"]] == ["runbrief://brief"]
    assert [t.uri_template for t in got["templates"]] == ["runbrief://evidence/{id}"]
    assert json.loads(got["evidence"].contents[0].text.split("\n\n")[0])["id"] == "dep_1"
    assert {p.name for p in got["prompts"]} == {"investigate_trace", "did_my_deploy_fix_it"}
    investigate = got["investigate"].messages[0].content.text
    assert "summarize_trace" in investigate and 'route="/cart"' in investigate
    deploy = got["deploy"].messages[0].content.text
    assert "what_changed" in deploy and 'id="inc_2"' in deploy and "gate" in deploy
    if "brief" in {o.name for o in ops.all_operations()}:
        assert "inc_" in got["brief"].contents[0].text or "items" in got["brief"].contents[0].text
    else:
        assert "no `brief` operation" in str(got["brief"])


@pytest.mark.parametrize("how", ["flag", "env"])
def test_read_only_leaves_out_writes(facts: Facts, how: str) -> None:
    extra = ("--read-only",) if how == "flag" else ()
    env = {"RUNBRIEF_MCP_READ_ONLY": "1"} if how == "env" else None

    async def scenario() -> tuple[list[Any], Any]:
        async with stdio_session(facts.path, *extra, env=env) as s:
            tools = (await s.list_tools()).tools
            return tools, await s.call_tool("mark_deploy", {"service": "x", "version": "1"})

    tools, refused = run(scenario)
    names = {t.name: t for t in tools}
    assert "record_fix" not in names and "mark_deploy" not in names
    assert all(t.annotations.read_only_hint for t in tools)
    assert "evaluate" in names and "nothing is saved" in names["evaluate"].description
    assert refused.is_error and "mark_deploy" in text_of(refused)


def test_secret_never_reaches_the_agent(facts: Facts) -> None:
    assert "hunter2" in SECRET

    async def scenario() -> Any:
        async with stdio_session(facts.path) as s:
            return await s.call_tool("search_logs", {"contains": "upload failed"})

    text = text_of(run(scenario))
    assert "upload failed" in text and "hunter2" not in text
