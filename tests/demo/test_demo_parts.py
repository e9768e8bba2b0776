"""The demo's parts that need no process: the fast-forward clock, the traffic plan, the findings check."""

from __future__ import annotations

from pathlib import Path

from runbrief.demo.catalog import Catalog
from runbrief.demo.clock import MINUTE_NS, ClockMap, FastForward
from runbrief.demo.evidence import collect_ids
from runbrief.demo.findings import findings
from runbrief.demo.traffic import plan


def test_fast_forward_maps_each_burst_to_its_minute_and_keeps_durations(tmp_path: Path) -> None:
    now = 1_800_000_000 * 10**9 + 17 * 10**9  # 17 s into a minute
    ticks = iter([now, now + 10**9, now + 3 * 10**9, now + 4 * 10**9])  # bursts start 1 s, 3 s, 4 s in
    ff = FastForward(tmp_path / "clock.json", minutes=5, wall=lambda: next(ticks))
    assert ff.first_ns % MINUTE_NS == 0 and ff.minute_start(4) + MINUTE_NS <= now
    starts = [ff.begin_minute(i) for i in range(3)]
    assert starts == [ff.first_ns + i * MINUTE_NS for i in range(3)]
    walls = [w for w, _ in ff.pairs]
    clock = ClockMap(tmp_path / "clock.json")
    clock.reload()
    for i, wall in enumerate(walls):
        t = wall + 1_234_567  # a record 1.23 ms into burst i
        assert t + clock.offset(t) == starts[i] + 1_234_567
    # a span and its child in the same burst move together: the duration is kept
    a, b = walls[1] + 10, walls[1] + 5_000_000
    assert (b + clock.offset(b)) - (a + clock.offset(a)) == b - a
    # before the first minute: moved like the first minute, never left in the present
    assert clock.offset(walls[0] - 1) == clock.offset(walls[0])


def test_clock_map_without_file_moves_nothing(tmp_path: Path) -> None:
    clock = ClockMap(tmp_path / "missing.json")
    clock.reload()
    assert clock.offset(123) == 0


def test_traffic_plan_is_deterministic_and_ends_on_the_largest_cart() -> None:
    cat = Catalog(users=list(range(1, 51)), big_cart_user=50, cart_sizes={})
    a, b = plan(cat, 4, 20, seed=3), plan(cat, 4, 20, seed=3)
    assert a == b and [len(m) for m in a] == [20, 20, 20, 21]
    assert a[-1][-1].path == "/cart" and a[-1][-1].params == {"user": 50}
    flat = [r.path for m in a for r in m]
    assert {"/products", "/cart", "/checkout"} <= set(flat)
    assert plan(cat, 4, 20, seed=4) != a


def test_findings_cite_only_matching_evidence() -> None:
    results = {
        "trace_summary": {"root": {"route": "/cart"}, "problems": [
            {"type": "n_plus_one_db", "what": "SELECT id FROM products WHERE sku = ? COLLATE NOCASE",
             "span_ids": ["spn_00000000000000aa", "spn_00000000000000bb"]},
            {"type": "slow_db", "what": "SELECT 1", "span_ids": ["spn_00000000000000cc"]}]},
        "changes": {"items": [
            {"kind": "new", "template": "loyalty update failed", "evidence_id": "pat_1a",
             "evidence_ids": ["pat_1a", "log_7", "dep_1"], "example": {"id": "log_7", "body": "loyalty update failed"}},
            {"kind": "new", "template": "cart for user <*> has <*> items", "evidence_id": "pat_2b",
             "evidence_ids": ["pat_2b"]}]},
        "perf": {"problems": [{"route": "/checkout", "type": "n_plus_one_http", "examples": [
            {"what": "POST 127.0.0.1:1/reserve", "span_ids": ["spn_00000000000000dd"], "latest_trace_id": "trc_ab"}]}]},
    }
    rows = {r["key"]: r for r in findings(results)}
    assert rows["n_plus_one"]["evidence"] == ["spn_00000000000000aa", "spn_00000000000000bb"]
    assert rows["swallowed_error"]["evidence"] == ["dep_1", "log_7", "pat_1a"]
    assert rows["retry_storm"]["evidence"] == ["spn_00000000000000dd", "trc_ab"]
    assert not findings({})[0]["found"]


def test_collect_ids_finds_nested_ids_and_ignores_lookalikes() -> None:
    value = {"a": ["pat_3f2a", {"b": "spn_00ff"}], "c": "not_an_id", "d": "inc_3 with text", "e": ("log_12",)}
    assert collect_ids(value) == {"pat_3f2a", "spn_00ff", "log_12"}
