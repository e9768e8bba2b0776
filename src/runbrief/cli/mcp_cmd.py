"""Agent commands: `runbrief mcp` (stdio server), `runbrief mcp install`, `runbrief skills install`."""


import sys
from typing import Annotated

import typer

from runbrief.cli import app
from runbrief.cli._common import JsonOpt, StoreOpt, emit, err_console
from runbrief.errors import UsageError

mcp_app = typer.Typer(
    rich_markup_mode=None,
    name="mcp",
    help="Serve runbrief to coding agents over MCP (stdio), or install it in an agent client.",
    invoke_without_command=True,
    no_args_is_help=False,
)
skills_app = typer.Typer(rich_markup_mode=None, name="skills", help="Teach agents when and how to use runbrief.", no_args_is_help=True)
app.add_typer(mcp_app, name="mcp")
app.add_typer(skills_app, name="skills")

ReadOnlyOpt = Annotated[
    bool,
    typer.Option(
        "--read-only",
        help="Leave out the tools that write (record_fix, mark_deploy, evaluate). Also RUNBRIEF_MCP_READ_ONLY=1.",
    ),
]


@mcp_app.callback()
def mcp(
    ctx: typer.Context,
    store: StoreOpt = None,
    read_only: ReadOnlyOpt = False,
    repo: Annotated[
        str | None,
        typer.Option("--repo", help="The service's git repository for the suspects tool (default: the working "
                     "directory; a tool call never names one). Sets RUNBRIEF_REPO."),
    ] = None,
) -> None:
    """Run the MCP server on stdin/stdout (what an agent client starts).

    Operations go to `runbrief serve` when it owns the store, else to the store directly,
    opened only for the length of each call.
    """
    if ctx.invoked_subcommand is not None:
        return
    if repo:
        import os
        from pathlib import Path

        # The process's own configuration, read by `suspects` (runbrief.analyze.suspects.configured_repo).
        os.environ["RUNBRIEF_REPO"] = str(Path(repo).expanduser().resolve())
    if sys.stdin.isatty():
        err_console.print(
            "runbrief mcp speaks MCP on stdin/stdout and is started by an agent client; "
            "run `runbrief mcp install --client claude-code` to configure one. Waiting for a client (Ctrl-C quits)."
        )
    from runbrief.agent.server import build_server, client_runner, read_only_from_env, warm_up

    server = build_server(client_runner(store), read_only=read_only or read_only_from_env())
    warm_up()
    server.run("stdio")


@mcp_app.command("install")
def install(
    client: Annotated[str, typer.Option("--client", "-c", help="claude-code, cursor, codex or vscode.")],
    print_only: Annotated[bool, typer.Option("--print", help="Print the configuration instead of writing it.")] = False,
    path: Annotated[
        str | None, typer.Option("--path", help="Configuration file to write (default: the client's documented one).")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="Server name in the client's configuration.")] = "runbrief",
    command: Annotated[
        str | None, typer.Option("--command", help="Executable the client starts (default: this runbrief).")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", help="Connect over streamable HTTP to `runbrief serve` (e.g. http://127.0.0.1:4318/mcp) "
                     "instead of starting `runbrief mcp`."),
    ] = None,
    store: Annotated[
        str | None, typer.Option("--store", help="Store the server opens (passed as `runbrief mcp --store`).")
    ] = None,
    read_only: ReadOnlyOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Add runbrief to an agent client's MCP configuration, keeping every other server."""
    from runbrief.agent.install import CLIENTS
    from runbrief.agent.install import install as do_install

    if client not in CLIENTS:
        raise UsageError(f"unknown client {client!r}; use one of {', '.join(CLIENTS)}")
    if url and (store or read_only):
        raise UsageError("--store and --read-only apply to the stdio server; with --url configure `runbrief serve`")
    args = ["mcp"] + (["--store", store] if store else []) + (["--read-only"] if read_only else [])
    done = do_install(client, path=path, name=name, command=command, args=args, url=url, write=not print_only)
    if print_only and not as_json:
        sys.stdout.write(done.text)
        return
    result = {"client": done.client, "path": str(done.path), "action": done.action}
    if print_only:
        result["config"] = done.text
    emit(result, as_json, lambda con, r: con.print(f"{r['action']}: {r['path']} ({r['client']}, server {name!r})"))


@skills_app.command("install")
def skills_install(
    root: Annotated[str | None, typer.Option("--dir", help="Project directory (default: the current one).")] = None,
    agents_md: Annotated[
        str | None, typer.Option("--agents-md", help="AGENTS.md to update (default: <dir>/AGENTS.md).")
    ] = None,
    no_agents: Annotated[bool, typer.Option("--no-agents-md", help="Only write the Claude Code skill.")] = False,
    no_skill: Annotated[bool, typer.Option("--no-skill", help="Only update AGENTS.md.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write .claude/skills/runbrief/SKILL.md and a runbrief section in AGENTS.md (idempotent)."""
    from runbrief.agent.skills import install_skills

    if no_agents and no_skill:
        raise UsageError("--no-agents-md and --no-skill together leave nothing to write")
    written = install_skills(root, skill=not no_skill, agents_md=agents_md, agents=not no_agents)
    result = {"files": [{"path": str(w.path), "action": w.action} for w in written]}

    def human(con, r) -> None:  # noqa: ANN001
        for f in r["files"]:
            con.print(f"{f['action']}: {f['path']}")

    emit(result, as_json, human)
