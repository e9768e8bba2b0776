"""`runbrief parse` and `runbrief patterns` through the real CLI entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from runbrief.cli import main
from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.records import LogRecord, Resource
from runbrief.store.duck import Store

LINES = [
    "2024-03-01T12:00:00Z INFO [main] com.shop.Api: request 17 served in 12ms",
    "2024-03-01T12:00:01Z INFO [main] com.shop.Api: request 18 served in 9ms",
    "2024-03-01T12:00:02Z ERROR [pool-2] com.shop.Db: connection to 10.0.0.5:5432 refused",
    "2024-03-01T12:00:03Z INFO [main] com.shop.Api: request 19 served in 31ms",
    "2024-03-01T12:00:04Z ERROR [pool-2] com.shop.Db: connection to 10.0.0.6:5432 refused",
]


def run(args: list[str], capsys) -> tuple[int, str]:  # noqa: ANN001
    code = main(args)
    return code, capsys.readouterr().out


def test_parse_writes_one_json_object_per_line_in_order(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    f = tmp_path / "app.log"
    f.write_text("\n".join(LINES) + "\n")
    code, out = run(["parse", str(f)], capsys)
    assert code == 0
    objs = [orjson.loads(x) for x in out.splitlines()]
    assert [o["line"] for o in objs] == LINES
    assert objs[0]["template"] == "request <*> served in <*>"
    assert objs[0]["params"] == ["17", "12ms"]
    assert objs[2]["template"] == "connection to <*> refused" and objs[2]["params"] == ["10.0.0.5:5432"]
    assert objs[2]["level"] == "ERROR"
    assert len({o["pattern_id"] for o in objs}) == 2
    assert objs[0]["pattern_id"] == objs[1]["pattern_id"] == objs[3]["pattern_id"]


def test_parse_summary_and_stdin(tmp_path: Path) -> None:
    exe = [sys.executable, "-m", "runbrief"]
    proc = subprocess.run([*exe, "parse", "-", "--summary"], input="\n".join(LINES).encode(),
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode()
    assert "request <*> served in <*>" in text and "5 lines, 2 patterns" in text


def test_parse_survives_bad_input(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    f = tmp_path / "bad.log"
    junk = [b"", b"\x00\x00\x00", b"\xff\xfe\xfd invalid utf8 \xc3", b"a" * 1_000_000, bytes(range(256)),
            b"ok line 1", b"   ", b"\r"]
    f.write_bytes(b"\n".join(junk) + b"\n")
    code, out = run(["parse", str(f)], capsys)
    assert code == 0
    objs = [orjson.loads(x) for x in out.splitlines()]
    assert len(objs) == len(junk) + bytes(range(256)).count(b"\n")
    assert all("pattern_id" in o for o in objs)


def test_parse_missing_file_is_a_usage_error(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    assert main(["parse", str(tmp_path / "nope.log")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_patterns_command(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    store = tmp_path / "s"
    s = Store.open(store)
    res = Resource({"service.name": "api"})
    Pipeline(s).write(Batch(logs=[LogRecord(1_772_409_600 * 10**9 + i * 10**9, f"job {i} done", res)
                                  for i in range(40)]))
    s.close()
    code, out = run(["patterns", "--store", str(store), "--json"], capsys)
    assert code == 0
    data = orjson.loads(out)
    assert data["patterns"][0]["template"] == "job <*> done" and data["patterns"][0]["count"] == 40
    code, out = run(["patterns", "--store", str(store), "--service", "api"], capsys)
    assert code == 0 and "job <*> done" in out


_LAUNCH = "import sys; from runbrief.launch import main; sys.argv[0] = 'runbrief'; sys.exit(main())"


def test_console_script_parses_a_file_without_the_typer_app(tmp_path: Path) -> None:
    """`runbrief parse FILE` (the console script, ``runbrief.launch``) writes the bytes the
    Typer command writes, without importing typer; a missing file is exit 2, as in the CLI."""
    f = tmp_path / "app.log"
    f.write_bytes(("\n".join(LINES) + '\n"quoted" \\ back\x01slash\r\n').encode() + b"\xff tail")
    probe = _LAUNCH.replace("sys.exit(main())", "rc = main(); sys.stderr.write(str('typer' in sys.modules)); sys.exit(rc)")
    fast = subprocess.run([sys.executable, "-c", probe, "parse", str(f)], capture_output=True, timeout=60)
    typer_path = subprocess.run([sys.executable, "-c", "import sys; from runbrief.cli import main; sys.exit(main())",
                                 "parse", str(f)], capture_output=True, timeout=60, check=True)
    assert fast.returncode == 0 and fast.stderr == b"False"
    assert fast.stdout == typer_path.stdout and len(fast.stdout.splitlines()) == len(LINES) + 2
    missing = subprocess.run([sys.executable, "-c", _LAUNCH, "parse", str(tmp_path / "nope.log")], capture_output=True,
                             timeout=60)
    assert missing.returncode == 2 and missing.stderr.startswith(b"error: cannot read")
    help_ = subprocess.run([sys.executable, "-c", _LAUNCH, "parse", "--help"], capture_output=True, timeout=60)
    assert help_.returncode == 0 and b"Usage: runbrief parse" in help_.stdout
