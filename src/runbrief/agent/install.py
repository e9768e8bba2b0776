"""`runbrief mcp install`: put runbrief into an agent client's documented MCP configuration.

Each client keeps its servers in its own file and shape:

    claude-code  ./.mcp.json             {"mcpServers": {"runbrief": {"type": "stdio", "command", "args"}}}
    cursor       ./.cursor/mcp.json      {"mcpServers": {"runbrief": {"command", "args"}}}
    vscode       ./.vscode/mcp.json      {"servers":    {"runbrief": {"type": "stdio", "command", "args"}}}
    codex        ~/.codex/config.toml    [mcp_servers.runbrief] command = …, args = […]
                 ($CODEX_HOME/config.toml when set)

With ``url`` the entry points at ``runbrief serve``'s streamable HTTP endpoint instead.
Installing is idempotent and touches only runbrief's own entry: other servers, other keys
and (in TOML) comments stay as they were. A file runbrief cannot parse is left alone with
an error that shows the entry to add by hand.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runbrief.errors import UsageError

__all__ = ["CLIENTS", "Installed", "install", "default_command", "entry_for", "snippet"]

CLIENTS = ("claude-code", "cursor", "codex", "vscode")


@dataclass(frozen=True)
class Installed:
    client: str
    path: Path
    action: str  # created | updated | unchanged | printed
    text: str  # the snippet (print) or the file's new content


def default_command() -> str:
    """``runbrief`` when that name on PATH is this installation, else this installation's path.

    This installation is the running ``runbrief`` script, or the one beside this Python
    (a virtualenv's ``bin/``): a client starts servers with its own PATH, so an entry
    that names a different or missing ``runbrief`` would not start.
    """
    me: Path | None = None
    argv0 = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name.startswith("runbrief") and argv0.is_file():
        me = argv0
    else:
        beside = Path(sys.executable).with_name("runbrief")
        me = beside.resolve() if beside.is_file() else None
    on_path = shutil.which("runbrief")
    if me is None:
        return on_path or "runbrief"
    if on_path and Path(on_path).resolve() == me:
        return "runbrief"
    return str(me)


def default_path(client: str, root: Path | None = None) -> Path:
    root = root or Path.cwd()
    if client == "claude-code":
        return root / ".mcp.json"
    if client == "cursor":
        return root / ".cursor" / "mcp.json"
    if client == "vscode":
        return root / ".vscode" / "mcp.json"
    if client == "codex":
        home = os.environ.get("CODEX_HOME")
        return (Path(home).expanduser() if home else Path.home() / ".codex") / "config.toml"
    raise UsageError(f"unknown client {client!r}; use one of {', '.join(CLIENTS)}")


def entry_for(client: str, command: str, args: list[str], url: str | None = None) -> dict[str, Any]:
    """The server entry in the client's own vocabulary."""
    if client not in CLIENTS:
        raise UsageError(f"unknown client {client!r}; use one of {', '.join(CLIENTS)}")
    if url:
        if client in ("claude-code", "vscode"):
            return {"type": "http", "url": url}
        return {"url": url}
    if client in ("claude-code", "vscode"):
        return {"type": "stdio", "command": command, "args": list(args)}
    return {"command": command, "args": list(args)}


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _toml_block(name: str, entry: dict[str, Any]) -> str:
    lines = [f"[mcp_servers.{name}]"]
    for key, value in entry.items():
        if isinstance(value, list):
            lines.append(f"{key} = [{', '.join(_toml_str(str(v)) for v in value)}]")
        else:
            lines.append(f"{key} = {_toml_str(str(value))}")
    return "\n".join(lines) + "\n"


def snippet(client: str, name: str, entry: dict[str, Any]) -> str:
    if client == "codex":
        return _toml_block(name, entry)
    key = "servers" if client == "vscode" else "mcpServers"
    return json.dumps({key: {name: entry}}, indent=2) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".runbrief-tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _merge_json(client: str, path: Path, name: str, entry: dict[str, Any]) -> tuple[str, str]:
    key = "servers" if client == "vscode" else "mcpServers"
    raw = path.read_text(encoding="utf-8") if path.exists() else ""
    if raw.strip():
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise UsageError(
                f"{path} is not plain JSON ({exc}; comments are not supported here), so runbrief left it "
                f"alone; add this entry by hand:\n{snippet(client, name, entry)}"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get(key, {}), dict):
            raise UsageError(f"{path} does not hold a JSON object with a {key!r} object; add by hand:\n"
                             f"{snippet(client, name, entry)}")
    else:
        data = {}
    servers = data.setdefault(key, {})
    if servers.get(name) == entry:
        return "unchanged", raw
    action = "updated" if raw.strip() else "created"
    servers[name] = entry
    return action, json.dumps(data, indent=2, ensure_ascii=False) + "\n"


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")


def _table_key(header: str) -> list[str]:
    return [part.strip().strip('"').strip("'") for part in header.split(".")]


def _merge_toml(path: Path, name: str, entry: dict[str, Any]) -> tuple[str, str]:
    raw = path.read_text(encoding="utf-8") if path.exists() else ""
    block = _toml_block(name, entry)
    try:
        current = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML ({exc}), so runbrief left it alone; add by hand:\n{block}") from None
    if current.get("mcp_servers", {}).get(name) == entry:
        return "unchanged", raw
    lines = raw.splitlines(keepends=True)
    start = end = None
    for i, line in enumerate(lines):
        m = _HEADER.match(line)
        if not m:
            continue
        key = _table_key(m.group(1))
        if start is None and key == ["mcp_servers", name]:
            start = i
        elif start is not None and key[:2] != ["mcp_servers", name]:
            end = i
            break
    if start is not None:
        end = len(lines) if end is None else end
        # keep blank lines and comments that precede the next table with it
        while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
            end -= 1
        gap = "\n" if end < len(lines) and lines[end].strip() else ""
        new = "".join(lines[:start]) + block + gap + "".join(lines[end:])
        action = "updated"
    else:
        sep = "" if not raw or raw.endswith("\n\n") else ("\n" if raw.endswith("\n") else "\n\n")
        new = raw + sep + block
        action = "updated" if raw.strip() else "created"
    try:
        check = tomllib.loads(new)
    except tomllib.TOMLDecodeError:
        check = {}
    if check.get("mcp_servers", {}).get(name) != entry:
        raise UsageError(
            f"{path} defines mcp_servers.{name} in a form runbrief cannot rewrite safely (inline table or "
            f"dotted keys?); replace that definition by hand with:\n{block}"
        )
    return action, new


def install(
    client: str,
    *,
    path: str | os.PathLike[str] | None = None,
    name: str = "runbrief",
    command: str | None = None,
    args: list[str] | None = None,
    url: str | None = None,
    write: bool = True,
) -> Installed:
    """Write (or, with ``write=False``, only render) runbrief's entry for ``client``."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", name):
        raise UsageError(f"server name {name!r} must start with a letter and use only letters, digits, _ and -")
    target = Path(path).expanduser() if path else default_path(client)
    entry = entry_for(client, command or default_command(), args if args is not None else ["mcp"], url)
    if not write:
        return Installed(client, target, "printed", snippet(client, name, entry))
    if target.is_dir():
        raise UsageError(f"{target} is a directory; pass the configuration file's path to --path")
    if client == "codex":
        action, text = _merge_toml(target, name, entry)
    else:
        action, text = _merge_json(client, target, name, entry)
    if action != "unchanged":
        _write_atomic(target, text)
    return Installed(client, target, action, text)
