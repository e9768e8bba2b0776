"""What a new user hits first: the version, and errors in JSON when JSON was asked for."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from runbrief.cli import _error, main
from runbrief.errors import UsageError


def test_version_prints_the_installed_version() -> None:
    from importlib.metadata import version

    out = subprocess.run([sys.executable, "-m", "runbrief", "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"runbrief {version('runbrief')}"


def test_json_errors_are_an_object_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    _error(UsageError("unknown format 'xml'"), ["ingest", "--json"])
    err = json.loads(capsys.readouterr().err)
    assert err == {"error": {"type": "UsageError", "message": "unknown format 'xml'"}}
    _error(UsageError("unknown format 'xml'"), ["ingest"])
    assert capsys.readouterr().err == "error: unknown format 'xml'\n"


def test_unknown_command_is_a_usage_error() -> None:
    assert main(["no-such-command"]) == 2


def test_a_read_only_command_on_a_missing_store_exits_2_and_creates_nothing(tmp_path, capsys) -> None:
    missing = tmp_path / "does" / "not" / "exist"
    assert main(["incidents", "--store", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "runbrief ingest" in err
    assert not missing.exists()


def test_a_real_command_with_json_reports_its_error_as_json(tmp_path, capsys) -> None:
    missing = tmp_path / "none"
    assert main(["incidents", "--store", str(missing), "--json"]) == 2
    err = json.loads(capsys.readouterr().err)
    assert err["error"]["type"] == "UsageError" and str(missing) in err["error"]["message"]
