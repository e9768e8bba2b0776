"""The CLI starts without loading the server, the store engine or the network client.

An agent runs `runbrief` many times while it works; each start used to import DuckDB,
pyarrow, httpx, uvicorn and the ingest pipeline (1.1 s before `--help` printed).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from runbrief import cli

HEAVY = ("duckdb", "pyarrow", "httpx", "uvicorn", "grpc", "rich", "runbrief.server", "runbrief.store.duck",
         "runbrief.ingest.pipeline")

_PROBE = """
import json, sys
from runbrief.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'duckdb', 'pyarrow', 'httpx', 'uvicorn', 'grpc', 'rich'}
               or m.startswith(('runbrief.server', 'runbrief.store.duck', 'runbrief.ingest.pipeline')))
sys.stderr.write(json.dumps(heavy))
"""


@pytest.mark.parametrize("args", [["--help"], ["incidents", "--help"], ["ingest", "--help"], ["serve", "--help"],
                                  ["gate", "--help"], ["--version"]])
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    r = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip(), r.stderr
    loaded = json.loads(r.stderr.strip().splitlines()[-1])
    assert loaded == [], f"`runbrief {' '.join(args)}` imported {loaded}"


def test_command_table_matches_what_modules_register() -> None:
    """COMMANDS (used to load one area per call) names the module of every command there is."""
    app = cli.load_commands()
    found = {}
    for info in app.registered_commands:
        name = info.name or info.callback.__name__.replace("_", "-")
        found[name] = info.callback.__module__
    for group in app.registered_groups:
        found[group.name] = group.typer_instance.registered_commands[0].callback.__module__
    assert {k: f"runbrief.cli.{v}" for k, v in cli.COMMANDS.items()} == found


def test_one_command_loads_only_its_area() -> None:
    probe = ("import sys; from runbrief.cli import load_commands; app = load_commands(['incidents', '--json']); "
             "import json; print(json.dumps(sorted(m for m in sys.modules if m.startswith('runbrief.cli.'))))")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(r.stdout) == ["runbrief.cli._common", "runbrief.cli.incidents"]


def test_ingest_format_names_match_the_reader() -> None:
    from runbrief.cli.ingest import FORMATS
    from runbrief.ingest.logfiles import FORMATS as READER_FORMATS

    assert FORMATS == READER_FORMATS


def test_unknown_format_is_a_usage_error(tmp_path) -> None:
    f = tmp_path / "a.log"
    f.write_text("hello\n")
    assert cli.main(["ingest", str(f), "--format", "xml", "--store", str(tmp_path / "s")]) == 2
    assert not (tmp_path / "s").exists()


def test_json_through_a_server_loads_neither_rich_nor_duckdb(tmp_path) -> None:
    """The agent's commonest call: `--json` while `runbrief serve` holds the store."""
    from runbrief.testing import ServerProcess

    probe = _PROBE
    with ServerProcess(tmp_path / "s", grpc=False, jobs=False):
        for args in (["changes", "--json"], ["services", "--json"], ["incidents", "--json"]):
            r = subprocess.run([sys.executable, "-c", probe, *args, "--store", str(tmp_path / "s")],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0 and json.loads(r.stdout) is not None, r.stderr
            assert json.loads(r.stderr.strip().splitlines()[-1]) == [], args
