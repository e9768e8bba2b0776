"""Ctrl-C while DuckDB runs a query ends the command with 130 and no traceback.

DuckDB checks for signals itself during a query and turns the interrupt into its own
error (``RuntimeError: Query interrupted`` or ``duckdb.InterruptException``), so the
``KeyboardInterrupt`` a user meant never reaches the CLI's handler. Under load the demo
spends much of its time in queries; a Ctrl-C there printed a traceback and exited 1.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("duckdb")

CHILD = r"""
import sys
from runbrief.cli import app, main
from runbrief.store.duck import Store

@app.command("slow-query")
def slow_query(on: str) -> None:
    store = Store.open(sys.argv[1])
    con = store.cursor() if on == "reader" else store._con
    sys.stdout.write("started\n"); sys.stdout.flush()
    con.execute("select count(*) from range(100000000000) t(x) where x % 7 = 3").fetchall()

sys.exit(main(["slow-query", sys.argv[2]]))
"""


@pytest.mark.parametrize("on", ["writer", "reader"])
def test_ctrl_c_during_a_store_query_exits_130_at_once_without_a_traceback(tmp_path: Path, on: str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "store"), on],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"started\n"
        time.sleep(0.3)  # inside the query
        proc.send_signal(signal.SIGINT)  # once: DuckDB alone misses some presses
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err.decode()[-2000:]
    assert b"Traceback" not in err, err.decode()[-2000:]
    assert out == b"", out[-500:]


def test_the_store_never_draws_duckdbs_progress_bar(tmp_path: Path) -> None:
    """Past 2 s of a query DuckDB draws a bar on stdout, which would corrupt `--json`."""
    from runbrief.store.duck import Store

    store = Store.open(tmp_path / "store")
    try:
        for cur in (store._con, store.cursor()):  # the writer's connection and a reader's cursor
            [(on,)] = cur.execute("select current_setting('enable_progress_bar')").fetchall()
            assert on is False
    finally:
        store.close()
