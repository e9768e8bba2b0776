"""Issue 19: ``runbrief agents`` in the terminal (not --json) shows what the GenAI metrics
count when spans are absent or sampled: a metrics-only app must not read "0 model calls …
cost -". Run through the real CLI in a subprocess over a real store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from evals_otel import Recorder, genai_chat
from test_genai_issue19 import _write_metrics

from runbrief.store.duck import Store


def _agents(store_dir: Path) -> str:
    env = {**os.environ, "COLUMNS": "160", "RUNBRIEF_STORE": str(store_dir)}
    env.pop("RUNBRIEF_SERVER", None)
    run = subprocess.run([sys.executable, "-m", "runbrief", "agents"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout


def _row(out: str, *cells: str) -> bool:
    """A table row holding these cells in order (rich pads and frames them)."""
    pattern = r"\W+".join(re.escape(c) for c in cells)
    return any(re.search(pattern, line) for line in out.splitlines())


def test_metrics_only_app_text_output(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    s = Store.open(store_dir)
    _write_metrics(s, [(100, 20), (300, 40)], agent_runs=2)
    s.close()
    out = _agents(store_dir)
    cost = (400 * 2.5 + 60 * 10.0) / 1e6  # $0.0016
    assert out.startswith("2 model calls"), out
    assert "tokens 400 in / 60 out" in out and f"cost ${cost:.4f}" in out
    assert "0 model calls" not in out and "cost -" not in out
    assert f"from GenAI metrics (no spans): 2 model calls, tokens 400 in / 60 out, cost ${cost:.4f}" in out
    assert "GenAI metrics (per model and operation)" in out
    assert _row(out, "gpt-4o", "chat", "2", "400", "60", f"${cost:.4f}", "500"), out
    # The agent runs' durations are their own operation, never model calls with a cost.
    assert _row(out, "invoke_agent", "2"), out
    agent_line = next(line for line in out.splitlines() if "invoke_agent" in line)
    assert "$" not in agent_line and "4000" in agent_line


def test_sampled_spans_text_output(tmp_path: Path) -> None:
    """Two calls in the metrics, one kept as a span: the totals count two, one from metrics."""
    store_dir = tmp_path / "store"
    s = Store.open(store_dir)
    _write_metrics(s, [(100, 20), (300, 40)])
    rec = Recorder()
    with rec.span("chat gpt-4o", genai_chat("gpt-4o", 100, 20), at=0, ms=500):
        pass
    rec.write(s)
    s.close()
    out = _agents(store_dir)
    assert out.startswith("2 model calls"), out
    assert "from GenAI metrics (no spans): 1 model calls, tokens 300 in / 40 out" in out
    assert _row(out, "gpt-4o", "1", "100", "20"), out  # the span table: the one span
