"""The trace commands: --json is the operation's result unchanged; the terminal view is readable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbrief import ops
from runbrief.cli import main
from runbrief.store.duck import Store


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _op(path: Path, name: str, params: dict) -> dict:
    with Store.open(path) as s:
        return json.loads(json.dumps(ops.run(s, name, params)))


def test_json_is_the_op_result(shop_data, capsys) -> None:
    st = str(shop_data.path)
    cart = shop_data.ids["cart"]
    cases = [
        (["traces", "--route", "/cart"], "traces", {"route": "/cart"}),
        (["trace", "show", cart, "--budget", "5"], "trace_show", {"id": cart, "budget": 5}),
        (["trace", "summary", "--latest", "--route", "/cart"], "trace_summary", {"latest": True, "route": "/cart"}),
        (["perf", "--service", "shop"], "perf", {"service": "shop"}),
        (["trace", "diff", "--route", "/cart", "--deploy", "dep_1"], "trace_diff", {"route": "/cart", "deploy": "dep_1"}),
    ]
    for args, name, params in cases:
        code, out, err = _run(capsys, *args, "--store", st, "--json")
        assert code == 0, err
        assert json.loads(out) == _op(shop_data.path, name, params), args


def test_terminal_views(shop_data, capsys, tmp_path: Path) -> None:
    st = str(shop_data.path)
    code, out, _ = _run(capsys, "traces", "--store", st)
    assert code == 0 and f"trc_{shop_data.ids['report']}" in out and "GET /" in out
    code, out, _ = _run(capsys, "trace", "show", shop_data.ids["cart"], "--store", st)
    assert code == 0 and "load_cart" in out and "loading cart 1 with 12 lines" in out and "log_" in out
    code, out, _ = _run(capsys, "trace", "summary", shop_data.ids["checkout"], "--store", st)
    assert code == 0 and "consecutive_http" in out and "swallowed_error" in out and "by service" in out
    code, out, _ = _run(capsys, "perf", "--store", st)
    assert code == 0 and "n_plus_one_db" in out and "/cart" in out
    plan = tmp_path / "plan.md"
    plan.write_text("1. Handle `GET /cart`\n2. Apply `apply_discounts()`\n")
    code, out, _ = _run(capsys, "trace", "compare", shop_data.ids["cart"], "--plan", str(plan), "--store", st)
    assert code == 0 and "missing" in out and "line 2" in out
    code, out, _ = _run(capsys, "trace", "diff", shop_data.ids["cart_joined"], shop_data.ids["cart"], "--store", st)
    assert code == 0 and "new problems" in out and "n_plus_one_db" in out


def test_errors_map_to_exit_codes(shop_data, capsys, tmp_path: Path) -> None:
    st = str(shop_data.path)
    code, _, err = _run(capsys, "trace", "show", "trc_" + "ab" * 16, "--store", st)
    assert code == 1 and "no trace trc_" in err
    empty = tmp_path / "empty.md"
    empty.write_text("# nothing to do\n")
    code, _, err = _run(capsys, "trace", "compare", shop_data.ids["cart"], "--plan", str(empty), "--store", st)
    assert code == 2 and "A step is a markdown list item" in err
    code, _, err = _run(capsys, "trace", "summary", "--store", st)
    assert code == 2 and "--latest --route /cart" in err
