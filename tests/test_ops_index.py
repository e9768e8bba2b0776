"""ops.OP_HOMES, the index that lets one call import one area, is complete and right."""

from __future__ import annotations

import json
import subprocess
import sys

from runbrief import ops


def test_every_operation_is_indexed_at_its_module() -> None:
    declared = {op.name: op.fn.__module__ for op in ops.all_operations()}
    assert declared == ops.OP_HOMES


def test_the_write_index_names_exactly_the_operations_that_write() -> None:
    assert {op.name for op in ops.all_operations() if not op.read_only} == ops.WRITE_OPS


def test_one_operation_imports_one_area() -> None:
    probe = ("import json, sys; from runbrief import ops; ops.get('incidents'); "
             "print(json.dumps(sorted(m for m in ops.OP_MODULES if m in sys.modules)))")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert "runbrief.traces.ops" not in json.loads(r.stdout)
    assert "runbrief.analyze.incidents" in json.loads(r.stdout)


def test_every_evidence_kind_has_its_resolver_home() -> None:
    from runbrief import ids

    ops.all_operations()  # imports every area, so every resolver is registered
    homes = {prefix: fn.__module__ for prefix, fn in ids._RESOLVERS.items()}
    assert homes == ids.RESOLVER_HOMES
    assert set(ids.RESOLVER_HOMES) == set(ids.KINDS)


def test_an_id_resolves_in_a_process_that_imported_only_one_operation(tmp_path) -> None:
    probe = (
        "import sys; from runbrief import ids, ops; from runbrief.store.duck import Store; "
        "from runbrief.errors import NotFound\n"
        f"s = Store.open({str(tmp_path / 's.duckdb')!r}); ops.get('incidents')\n"
        "try:\n    ids.resolve(s, 'pat_0123456789abcdef')\n"
        "except NotFound as e:\n    print(e)\n"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert "no pattern with ID" in r.stdout, r.stdout + r.stderr


def test_the_mcp_server_is_built_without_importing_an_area() -> None:
    """`runbrief mcp` must answer `initialize` within 1 s: building its tools imports no store or area."""
    probe = ("import json, sys; from runbrief import ops; from runbrief.agent.server import build_server; "
             "build_server(lambda name, params: None); "
             "print(json.dumps([m for m in [*ops.OP_MODULES, 'duckdb', 'pyarrow'] if m in sys.modules]))")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(r.stdout) == []
