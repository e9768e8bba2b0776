"""runbrief for coding agents: the MCP server, client configuration and skill files.

Named ``agent`` (not ``mcp``) so it never shadows the official ``mcp`` SDK it is built on.

    shaping.py   bound every answer to a token budget, fence untrusted text, note what was cut
    tools.py     the MCP tools: one thin, typed layer per runbrief operation
    server.py    the MCPServer and where its operations run (client or open store)
    prompts.py   resources (the brief, any evidence ID) and the two workflow prompts
    install.py   `runbrief mcp install`: each client's documented configuration file
    skills.py    `runbrief skills install`: SKILL.md and the AGENTS.md section (templates/)

The streamable HTTP endpoint inside `runbrief serve` is ``runbrief.server.mcp_http``.
"""

from __future__ import annotations

__all__ = ["build_server"]


def build_server(*args, **kwargs):  # noqa: ANN002, ANN003 - a lazy re-export keeps `import runbrief.agent` cheap
    from runbrief.agent.server import build_server as _build

    return _build(*args, **kwargs)
