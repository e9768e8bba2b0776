"""`runbrief mcp install` and `runbrief skills install`: real files, idempotent, nothing clobbered."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_client import RUNBRIEF, run
from mcp_data import Facts

from runbrief.agent.skills import END, START
from runbrief.cli import main

CLIENT_FILES = {
    "claude-code": (".mcp.json", "mcpServers"),
    "cursor": (".cursor/mcp.json", "mcpServers"),
    "vscode": (".vscode/mcp.json", "servers"),
}


def cli(*argv: str) -> int:
    return main(list(argv))


@pytest.mark.parametrize("client", sorted(CLIENT_FILES))
def test_json_clients_keep_other_servers_and_are_idempotent(client: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rel, key = CLIENT_FILES[client]
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    other = {"command": "npx", "args": ["-y", "other-server"]}
    extra = {"inputs": [{"id": "k", "type": "promptString"}]} if client == "vscode" else {"note": "mine"}
    path.write_text(json.dumps({key: {"other": other}, **extra}, indent=4))

    assert cli("mcp", "install", "--client", client, "--store", "data/.runbrief", "--command", "runbrief") == 0
    first = path.read_text()
    data = json.loads(first)
    entry = data[key]["runbrief"]
    assert entry["command"] == "runbrief" and entry["args"] == ["mcp", "--store", "data/.runbrief"]
    if client in ("claude-code", "vscode"):
        assert entry["type"] == "stdio"
    assert data[key]["other"] == other and all(data[k] == v for k, v in extra.items())

    assert cli("mcp", "install", "--client", client, "--store", "data/.runbrief", "--command", "runbrief") == 0
    assert path.read_text() == first  # unchanged on a second run

    assert cli("mcp", "install", "--client", client, "--url", "http://127.0.0.1:4318/mcp") == 0
    updated = json.loads(path.read_text())[key]
    assert updated["runbrief"]["url"] == "http://127.0.0.1:4318/mcp" and updated["other"] == other


CODEX = """# my codex settings
model = "o4"

[mcp_servers.docs]
command = "docs-mcp"  # keep this comment

[mcp_servers.runbrief]
command = "old-runbrief"
args = ["mcp"]

[mcp_servers.runbrief.env]
RUNBRIEF_STORE = "/old"

# profiles below
[profiles.fast]
model = "o4-mini"
"""


def test_codex_toml_replaces_only_runbrief(tmp_path: Path) -> None:
    path = tmp_path / "codex" / "config.toml"
    path.parent.mkdir()
    path.write_text(CODEX)
    assert cli("mcp", "install", "--client", "codex", "--path", str(path), "--command", "/opt/rb/runbrief",
               "--read-only") == 0
    text = path.read_text()
    data = tomllib.loads(text)
    assert data["mcp_servers"]["runbrief"] == {"command": "/opt/rb/runbrief", "args": ["mcp", "--read-only"]}
    assert data["mcp_servers"]["docs"] == {"command": "docs-mcp"}
    assert data["profiles"]["fast"]["model"] == "o4-mini" and data["model"] == "o4"
    for kept in ("# my codex settings", "# keep this comment", "# profiles below"):
        assert kept in text
    assert "old-runbrief" not in text and "/old" not in text
    assert cli("mcp", "install", "--client", "codex", "--path", str(path), "--command", "/opt/rb/runbrief",
               "--read-only") == 0
    assert path.read_text() == text

    fresh = tmp_path / "new" / "config.toml"
    assert cli("mcp", "install", "--client", "codex", "--path", str(fresh), "--command", "runbrief") == 0
    assert tomllib.loads(fresh.read_text()) == {"mcp_servers": {"runbrief": {"command": "runbrief", "args": ["mcp"]}}}


def test_codex_default_path_follows_codex_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "ch"))
    assert cli("mcp", "install", "--client", "codex", "--command", "runbrief", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"client": "codex", "path": str(tmp_path / "ch" / "config.toml"), "action": "created"}


def test_print_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli("mcp", "install", "--client", "claude-code", "--print", "--command", "runbrief") == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {"mcpServers": {"runbrief": {"type": "stdio", "command": "runbrief", "args": ["mcp"]}}}
    assert not (tmp_path / ".mcp.json").exists()
    assert cli("mcp", "install", "--client", "codex", "--print", "--command", "runbrief") == 0
    assert tomllib.loads(capsys.readouterr().out)["mcp_servers"]["runbrief"]["command"] == "runbrief"


def test_bad_input_is_refused_with_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    broken = tmp_path / ".mcp.json"
    broken.write_text('{"mcpServers": {// a comment\n}}')
    assert cli("mcp", "install", "--client", "claude-code") == 2
    err = capsys.readouterr().err
    assert "not plain JSON" in err and '"runbrief"' in err  # says what to add by hand
    assert broken.read_text() == '{"mcpServers": {// a comment\n}}'
    assert cli("mcp", "install", "--client", "emacs") == 2
    assert "claude-code, cursor, codex, vscode" in capsys.readouterr().err
    inline = tmp_path / "config.toml"
    inline.write_text('mcp_servers = { runbrief = { command = "x" } }\n')
    assert cli("mcp", "install", "--client", "codex", "--path", str(inline)) == 2
    assert "by hand" in capsys.readouterr().err
    assert inline.read_text() == 'mcp_servers = { runbrief = { command = "x" } }\n'


def test_installed_entry_starts_a_working_server(facts: Facts, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """What `install` writes is what a client runs: start it the way Claude Code would."""
    monkeypatch.chdir(tmp_path)
    assert cli("mcp", "install", "--client", "claude-code", "--store", str(facts.path), "--read-only") == 0
    entry = json.loads((tmp_path / ".mcp.json").read_text())["mcpServers"]["runbrief"]
    assert Path(entry["command"]).name == "runbrief"

    async def scenario() -> Any:
        params = StdioServerParameters(command=entry["command"], args=entry["args"], cwd=str(tmp_path))
        async with stdio_client(params) as (r, w), ClientSession(r, w) as s:
            await s.initialize()
            return await s.call_tool("list_services", {})

    result = run(scenario)
    assert not result.is_error and "hdfs" in result.content[0].text
    assert Path(entry["command"]).resolve() == Path(RUNBRIEF).resolve()


def test_skills_install_writes_skill_and_agents_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    agents = tmp_path / "AGENTS.md"
    agents.write_text("# Agents\n\nRun `make test` before committing.\n")
    assert cli("skills", "install", "--dir", str(tmp_path), "--json") == 0
    actions = {Path(f["path"]).name: f["action"] for f in json.loads(capsys.readouterr().out)["files"]}
    assert actions == {"SKILL.md": "created", "AGENTS.md": "updated"}
    skill = (tmp_path / ".claude" / "skills" / "runbrief" / "SKILL.md").read_text()
    front = skill.split("---")[1]
    assert "name: runbrief" in front and "description:" in front
    for lesson in ("what_changed", "before and after", "gate passes", "evidence ID", "untrusted-data"):
        assert lesson in skill, lesson
    text = agents.read_text()
    assert text.startswith("# Agents\n\nRun `make test` before committing.\n")
    assert text.count(START) == 1 and text.count(END) == 1
    assert "runbrief brief --json" in text

    assert cli("skills", "install", "--dir", str(tmp_path), "--json") == 0
    again = {Path(f["path"]).name: f["action"] for f in json.loads(capsys.readouterr().out)["files"]}
    assert again == {"SKILL.md": "unchanged", "AGENTS.md": "unchanged"}
    assert agents.read_text() == text

    # an edited (outdated) section is replaced in place; what follows it stays
    agents.write_text(text.replace("runbrief brief --json", "old advice") + "\n## Later section\n")
    assert cli("skills", "install", "--dir", str(tmp_path)) == 0
    final = agents.read_text()
    assert "old advice" not in final and "runbrief brief --json" in final and final.endswith("## Later section\n")

    half = tmp_path / "other" / "AGENTS.md"
    half.parent.mkdir()
    half.write_text(f"{START}\nno end marker\n")
    assert cli("skills", "install", "--dir", str(half.parent), "--no-skill") == 2
    assert half.read_text() == f"{START}\nno end marker\n"
