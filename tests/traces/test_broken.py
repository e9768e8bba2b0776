"""Broken traces are analysed and reported as broken, never a crash."""

from __future__ import annotations

import pytest
from builders import db, span, tid, write

from runbrief import ops
from runbrief.store.duck import Store


def _all(store: Store, t: str) -> tuple[dict, dict, dict]:
    s = ops.run(store, "trace_summary", {"id": t})
    return s, ops.run(store, "trace_show", {"id": t}), {i["type"]: i for i in s["integrity"]}


def test_missing_root_and_orphans(store: Store) -> None:
    t = tid(101)
    a = span(t, "handler", 0, 50, parent="00000000000000aa")  # parent never arrived
    b = span(t, "worker", 250, 300, parent="00000000000000bb")
    write(store, [a, b, db(t, a.span_id, "SELECT 1", 10, 5)])
    s, show, issues = _all(store, t)
    assert set(issues) == {"orphan_spans", "missing_root"}
    assert set(issues["orphan_spans"]["span_ids"]) == {f"spn_{a.span_id}", f"spn_{b.span_id}"}
    assert s["root"] is None and s["duration_ms"] == pytest.approx(300)
    kinds = {k["kind"]: k["ms"] for k in s["time_by_kind"]}
    assert kinds["uninstrumented"] == pytest.approx(200)  # between the two orphans
    assert sum(kinds.values()) == pytest.approx(300)
    assert [r["depth"] for r in show["tree"]] == [0, 1, 0]
    # The time between the orphans is the missing root's, reported as uninstrumented time and as
    # the missing_root issue; it is not a gap inside a span (no span of ours was idle).
    assert [p for p in s["problems"] if p["type"] == "gap"] == []
    found = ops.run(store, "traces", {})["traces"][0]
    assert found["missing_root"] and found["root"] == "handler"


def test_duplicate_ids_cycle_negative_duration(store: Store) -> None:
    t = tid(102)
    root = span(t, "root", 0, 100)
    dup1 = span(t, "child", 10, 20, root.span_id, span_id="00000000000000d1")
    dup2 = span(t, "child-again", 30, 40, root.span_id, span_id="00000000000000d1")
    c1 = span(t, "loop-a", 50, 60, "00000000000000c2", span_id="00000000000000c1")
    c2 = span(t, "loop-b", 60, 70, "00000000000000c1", span_id="00000000000000c2")
    neg = span(t, "backwards", 90, 80, root.span_id)
    write(store, [root, dup1, dup2, c1, c2, neg])
    s, show, issues = _all(store, t)
    assert set(issues) == {"duplicate_span_ids", "parent_cycle", "negative_duration"}
    assert issues["duplicate_span_ids"]["span_ids"] == ["spn_00000000000000d1"]
    assert set(issues["parent_cycle"]["span_ids"]) == {"spn_00000000000000c1", "spn_00000000000000c2"}
    assert s["spans"] == 5 and len(show["tree"]) == 5
    assert sum(k["ms"] for k in s["time_by_kind"]) == pytest.approx(s["duration_ms"])


def test_clock_skew_is_corrected_and_reported(store: Store) -> None:
    t = tid(103)
    root = span(t, "GET /a", 0, 100, service="front", kind="SERVER")
    call = span(t, "GET", 10, 90, root.span_id, service="front", kind="CLIENT", http__request__method="GET",
                url__full="http://back/b")
    # the back end's clock runs 500 ms behind: its server span "starts" before the call
    remote = span(t, "GET /b", -485, -415, call.span_id, service="back", kind="SERVER")
    q = db(t, remote.span_id, "SELECT * FROM b", -480, 60, service="back")
    write(store, [root, call, remote, q])
    s, show, issues = _all(store, t)
    skew = issues["clock_skew"]
    assert skew["span_ids"] == [f"spn_{remote.span_id}"] and skew["shifts"][0]["shift_ms"] == pytest.approx(495)
    rows = {r["name"]: r for r in show["tree"]}
    assert rows["GET /b"]["offset_ms"] == pytest.approx(10) and rows["GET /b"]["clock_shift_ms"] == pytest.approx(495)
    assert rows["SELECT"]["offset_ms"] == pytest.approx(15)  # moved with its parent
    kinds = {k["kind"]: k["ms"] for k in s["time_by_kind"]}
    assert kinds["db"] == pytest.approx(60)
    assert "child_outside_parent" not in issues


def test_child_outside_parent_same_service_is_clamped(store: Store) -> None:
    t = tid(104)
    root = span(t, "job", 0, 100)
    late = span(t, "fire-and-forget", 80, 300, root.span_id)
    write(store, [root, late])
    s, _, issues = _all(store, t)
    assert issues["child_outside_parent"]["span_ids"] == [f"spn_{late.span_id}"]
    # the trace lasts as long as its root; the late child counts only inside it
    assert sum(k["ms"] for k in s["time_by_kind"]) == pytest.approx(s["duration_ms"])
    assert {c["name"]: c["on_path_ms"] for c in s["critical_path"]}["fire-and-forget"] == pytest.approx(20)


def test_a_big_trace_is_bounded(store: Store) -> None:
    t = tid(105)
    root = span(t, "GET /big", 0, 5000 * 0.2 + 10, kind="SERVER", http__route="/big")
    kids = [db(t, root.span_id, f"SELECT * FROM t{i % 7} WHERE id = {i}", 5 + i * 0.2, 0.15) for i in range(5000)]
    kids[1234].status_code = "ERROR"
    write(store, [root, *kids])
    show = ops.run(store, "trace_show", {"id": t, "budget": 50})
    assert len(show["tree"]) == 50 and show["omitted"]["spans"] == 4951
    assert f"spn_{kids[1234].span_id}" in {r["span_id"] for r in show["tree"]}
    s = ops.run(store, "trace_summary", {"id": t, "budget": 5})
    assert len(s["problems"]) <= 5 and all(len(p["span_ids"]) <= 10 for p in s["problems"])
    assert s["problems"][0]["type"] == "n_plus_one_db" and s["omitted"]["critical_path_spans"] > 0
    assert s["duration_ms"] == pytest.approx(5000 * 0.2 + 10)
