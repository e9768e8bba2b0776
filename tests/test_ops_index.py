"""ops.OP_HOMES, the index that lets one call import one area, is complete and right."""

from __future__ import annotations

import json
import subprocess
import sys

from runbrief import ops


def test_every_operation_is_indexed_at_its_module() -> None:
    declared = {op.name: op.fn.__module__ for op in ops.all_operations()}
    assert declared == ops.OP_HOMES


def test_one_operation_imports_one_area() -> None:
    probe = ("import json, sys; from runbrief import ops; ops.get('incidents'); "
             "print(json.dumps(sorted(m for m in ops.OP_MODULES if m in sys.modules)))")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert "runbrief.traces.ops" not in json.loads(r.stdout)
    assert "runbrief.analyze.incidents" in json.loads(r.stdout)
