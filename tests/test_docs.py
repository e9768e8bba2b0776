"""The docs are kept true by these tests: what the code offers, the docs must name.

- every CLI command and subcommand (walked from the Typer app) is in README.md or has its
  section in docs/cli.md, and every option of it is in that section;
- docs/cli.md and the operations table of docs/api.md are what scripts/gen_cli_docs.py
  generates now (a new option or parameter means: re-run the script);
- every operation (``ops.all_operations()``) and every HTTP route is in docs/api.md;
- every MCP tool the server offers is in docs/agents.md, with a description and a schema;
- every setting (``settings.SETTINGS``) and every ``RUNBRIEF_*`` variable the code reads is
  in README.md or docs/.

Each walks the code itself (not the generator), so a generator bug cannot hide a gap.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path
from typing import Any

import anyio
import pytest
import typer

from runbrief import ops, settings
from runbrief.cli import load_commands

app = load_commands()

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _all_docs() -> str:
    return _text(README) + "\n".join(_text(p) for p in sorted(DOCS.glob("*.md")))


def _commands() -> list[tuple[str, Any]]:
    """(``runbrief x y``, command) for every command and subcommand, from the parser's tree."""
    root = typer.main.get_command(app)
    found: list[tuple[str, Any]] = []

    def walk(cmd: Any, path: list[str], parent: Any | None) -> None:
        ctx = cmd.context_class(cmd, info_name=path[-1], parent=parent)
        if len(path) > 1:
            found.append((" ".join(path), cmd))
        if hasattr(cmd, "list_commands"):  # a group (click's, or the one Typer vendors)
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if sub is not None and not getattr(sub, "hidden", False):
                    walk(sub, [*path, name], ctx)

    walk(root, ["runbrief"], None)
    return found


def _cli_sections() -> dict[str, str]:
    """docs/cli.md split at its ``## `runbrief …` `` / ``### `runbrief …` `` headings."""
    text = _text(DOCS / "cli.md")
    parts = re.split(r"^#{2,4} `(runbrief[^`]*)`\s*$", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _mentions(text: str, phrase: str) -> bool:
    return re.search(re.escape(phrase) + r"(?![\w-])", text) is not None


def test_readme_starts_with_the_two_commands() -> None:
    block = re.search(r"```sh\n(.*?)```", _text(README), re.S)
    assert block is not None
    assert block.group(1).splitlines()[:2] == [
        "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' -c constraints.txt && .venv/bin/runbrief demo",
        ".venv/bin/python -m pytest -q",
    ]


def test_every_command_is_documented() -> None:
    commands = _commands()
    assert len(commands) > 10, "the walk found too few commands: has the CLI tree changed shape?"
    sections = _cli_sections()
    readme = _text(README)
    missing = [path for path, _ in commands if path not in sections and not _mentions(readme, path)]
    assert not missing, (
        f"commands not in README.md nor docs/cli.md: {missing}; run .venv/bin/python scripts/gen_cli_docs.py"
    )


def test_every_option_is_in_its_command_section() -> None:
    sections = _cli_sections()
    missing = []
    for path, cmd in _commands():
        section = sections.get(path, "")
        for param in cmd.params:
            if getattr(param, "hidden", False):
                continue
            if param.param_type_name == "argument":
                names = [param.name.upper()]
            else:
                names = [*param.opts, *param.secondary_opts]
            missing += [f"{path} {n}" for n in names if f"`{n}`" not in section]
    assert not missing, f"options not in docs/cli.md: {missing}; run .venv/bin/python scripts/gen_cli_docs.py"


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_cli_docs", ROOT / "scripts" / "gen_cli_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_reference_is_current() -> None:
    gen = _generator()
    assert _text(DOCS / "cli.md") == gen.render_cli(), (
        "docs/cli.md is stale: run .venv/bin/python scripts/gen_cli_docs.py"
    )
    api = _text(DOCS / "api.md")
    assert api == gen.render_api(api), "docs/api.md's operations table is stale: run scripts/gen_cli_docs.py"


def test_every_operation_and_parameter_is_in_api_md() -> None:
    api = _text(DOCS / "api.md")
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([a-z_]+)` \|.*$", api, re.M)}
    problems = []
    for op in ops.all_operations():
        row = rows.get(op.name)
        if row is None:
            problems.append(f"operation {op.name} has no row in docs/api.md")
            continue
        problems += [f"{op.name}: parameter {p}" for p in op.params() if f"`{p}`" not in row]
    assert not problems, f"{problems}; run .venv/bin/python scripts/gen_cli_docs.py"


def test_every_route_is_in_api_md() -> None:
    from runbrief.server.routes import ROUTE_MODULES

    api = _text(DOCS / "api.md")
    paths = [r.path for mod in ROUTE_MODULES for r in importlib.import_module(mod).routes]
    assert "/api/health" in paths
    shown = {p: "`" + re.sub(r"{(\w+)}", r"<\1>", p) + "`" for p in paths}  # /api/op/{name} → /api/op/<name>
    missing = [p for p, s in shown.items() if s not in api]
    assert not missing, f"HTTP routes not in docs/api.md: {missing}"


def _mcp_tools() -> list[Any]:
    from runbrief.agent.server import build_server

    def runner(name: str, params: dict[str, Any]) -> Any:
        raise AssertionError("listing tools runs no operation")

    server = build_server(runner)

    async def tools() -> list[Any]:
        return list(await server.list_tools())

    return anyio.run(tools)


def test_every_mcp_tool_is_in_agents_md() -> None:
    tools = _mcp_tools()
    assert len(tools) > 5
    agents = _text(DOCS / "agents.md")
    missing = [t.name for t in tools if f"`{t.name}`" not in agents]
    assert not missing, f"MCP tools not in docs/agents.md: {missing}"
    bare = [t.name for t in tools if not (t.description or "").strip() or not t.input_schema.get("type")]
    assert not bare, f"MCP tools without a description or an input schema: {bare}"


def test_every_setting_is_documented() -> None:
    docs = _all_docs()
    assert settings.SETTINGS
    missing = [s.env for s in settings.SETTINGS.values() if not _mentions(docs, s.env)]
    assert not missing, f"settings not in README.md or docs/: {missing}"


def test_every_runbrief_variable_the_code_reads_is_documented() -> None:
    read = set()
    for path in (ROOT / "src" / "runbrief").rglob("*.py"):
        read |= set(re.findall(r"\bRUNBRIEF_[A-Z][A-Z0-9_]*[A-Z0-9]\b", _text(path)))
    assert "RUNBRIEF_STORE" in read
    docs = _all_docs()
    missing = sorted(v for v in read if not _mentions(docs, v))
    assert not missing, f"environment variables read by the code but not in README.md or docs/: {missing}"


@pytest.mark.parametrize("doc", ["README.md", "docs/cli.md", "docs/api.md", "CHANGELOG.md"])
def test_relative_links_resolve(doc: str) -> None:
    path = ROOT / doc
    broken = []
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", _text(path)):
        if "://" in target:
            continue
        if not (path.parent / target).exists():
            broken.append(target)
    assert not broken, f"{doc}: links to missing files: {broken}"
