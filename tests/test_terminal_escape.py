"""Telemetry printed to a terminal is text: no markup read, no control sequence acted on.

A real store, filled through the CLI from a file of real Apache lines (whose ``[error]``
and ``[client …]`` brackets look like rich markup) and hostile lines: a closing tag
``[/admin]`` (it crashed ``logs``), markup, ANSI and OSC escape sequences, a one-byte C1
CSI, a bell, a carriage return, bidi overrides and an emoji code. Every command that
prints telemetry must exit 0 and show those characters, escaped, not send them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runbrief.cli import main
from runbrief.cli._common import esc, visible

APACHE = Path(__file__).resolve().parent / "data" / "logs" / "loghub-more" / "Apache_300.log"
HOSTILE = [
    "[Sun Dec 04 07:18:00 2005] [error] [client 10.0.0.9] GET [/admin] denied",
    "[Sun Dec 04 07:18:01 2005] [error] markup [bold red]boom[/] and [link=https://evil.example]click[/link]",
    "[Sun Dec 04 07:18:02 2005] [error] screen \x1b[2J\x1b[H cleared, title \x1b]0;pwned\x07 set, \x1b[31mred\x1b[0m",
    "[Sun Dec 04 07:18:03 2005] [error] c1 csi \x9b31m and bell \x07 and cr \r overwritten",
    "[Sun Dec 04 07:18:04 2005] [error] bidi \u202eexe.txt\u202c and isolate \u2066x\u2069 :warning: done",
]
# What a terminal acts on or hides; none may reach stdout.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("term")
    log = tmp / "apache.log"
    log.write_text("\n".join(APACHE.read_text().splitlines()[:200] + HOSTILE) + "\n", encoding="utf-8")
    assert main(["ingest", str(log), "--store", str(tmp / "s")]) == 0
    return tmp / "s", log


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(list(argv))
    out = capsys.readouterr()
    assert code == 0, (argv, out.err[-2000:])
    return out.out


@pytest.mark.parametrize("argv", [
    ("logs", "--limit", "300"),
    ("logs", "--severity", "error", "--limit", "300"),
    ("patterns", "--limit", "200"),
    ("services",),
])
def test_commands_print_hostile_telemetry_as_text(store: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
                                                  argv: tuple[str, ...]) -> None:
    out = _run(capsys, *argv, "--store", str(store[0]))
    assert not RAW.search(out), repr(RAW.findall(out)[:5])
    if argv[0] == "logs":
        flat = out.replace("\n", "")
        for shown in ("[/admin]", "[bold red]boom[/]", "[link=https://evil.example]click[/link]", "\\x1b[2J",
                      "\\x1b]0;pwned\\x07", "\\x9b31m", "\\x0d", "\\u202e", ":warning:", "[client 10.0.0.9]"):
            assert shown in flat, shown


def test_parse_summary_prints_hostile_templates_as_text(store: tuple[Path, Path],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, "parse", "--summary", str(store[1]))
    assert not RAW.search(out) and "[bold red]boom[/]" in out.replace("\n", "") and "\\x1b[" in out


def test_deploy_fields_print_as_text(store: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    s = str(store[0])
    _run(capsys, "deploy", "mark", "--service", "[/x] api", "--version", "1.0\x1b[2J", "--commit", "abc[/]",
         "--store", s)
    out = _run(capsys, "deploy", "list", "--store", s)
    assert "[/x] api" in out and "1.0\\x1b[2J" in out and not RAW.search(out)


@pytest.mark.parametrize(("raw", "shown"), [
    ("a\x1b[31mb", "a\\x1b[31mb"), ("\x9b", "\\x9b"), ("x\ry", "x\\x0dy"), ("l1\nl2", "l1\\x0al2"), ("t\tt", "t\tt"),
    ("\u202e", "\\u202e"), ("\u200b", "\\u200b"), ("\U000e0041", "\\U000e0041"), ("é 日本", "é 日本"),
])
def test_visible_escapes_what_a_terminal_would_act_on(raw: str, shown: str) -> None:
    assert visible(raw) == shown
    assert esc("[/admin]") == "\\[/admin]"
