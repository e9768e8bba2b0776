"""Which change did it? The commits in a deploy's range ranked by how they touch the incident's code.

The code locations come from the incident's own evidence: its failing spans'
``code.filepath``/``code.function`` attributes, the application frames of their exception
stack traces and their routes. The commits are the deploy's range (the previous deploy's
commit to this one), read with the real ``git`` binary; each commit scores

    3 per changed file that is an evidence file   (paths compared by their tail, since a
                                                  container's /app/shop/cart.py is shop/cart.py)
    2 per evidence function a hunk header or a changed line names
    1 per evidence route a changed line contains

and carries the reasons. Without a repository the code locations are still listed.

Which repository: the CLI's ``--repo PATH`` in-process. A remote caller (HTTP API, MCP) names
none, since nothing a request names is read from disk; the process's own configuration
decides: ``RUNBRIEF_REPO`` (what ``runbrief mcp --repo PATH`` sets), else its working directory.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import orjson

from runbrief import ids, trust
from runbrief.ops import operation
from runbrief.store.duck import Store

__all__ = ["suspects", "locations", "configured_repo", "REPO_ENV"]

REPO_ENV = "RUNBRIEF_REPO"  # the repository this process was started for (`runbrief mcp --repo PATH`)

_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>[\w<>.]+)')
_LIBRARY = ("site-packages", "dist-packages", "/lib/python", "<frozen", "node_modules", "opentelemetry")
_MAX_COMMITS = 200


def _loads(v: Any) -> Any:
    return orjson.loads(v) if isinstance(v, str | bytes) else v


def locations(store: Store, inc: dict[str, Any]) -> list[dict[str, Any]]:
    """Application code locations in the incident's failing spans, most cited first."""
    rows = store.query(
        """SELECT span_id, route, name, attributes, events FROM spans WHERE service = ? AND status_code = 'ERROR'
           AND start_ts >= ? AND start_ts <= ? LIMIT 2000""",
        [inc["service"], inc["started_at"], inc["last_seen"]])
    found: dict[tuple[str, str | None], dict[str, Any]] = {}

    def add(file: str | None, func: str | None, route: str | None, span: str, via: str) -> None:
        if file and any(x in file for x in _LIBRARY):
            return
        if not file and not func:
            return
        loc = found.setdefault((file or "", func), {"file": file, "function": func, "routes": [], "count": 0,
                                                     "via": via, "evidence": []})
        loc["count"] += 1
        if route and route not in loc["routes"]:
            loc["routes"].append(route)
        if len(loc["evidence"]) < 3:
            loc["evidence"].append(ids.make("spn", span))

    for r in rows:
        attrs = _loads(r["attributes"]) or {}
        route = r["route"]
        add(attrs.get("code.filepath"), attrs.get("code.function"), route, r["span_id"], "code.* attributes")
        for ev in _loads(r["events"]) or []:
            st = str(((ev or {}).get("attributes") or {}).get("exception.stacktrace") or "")
            for m in _FRAME.finditer(st):
                add(m["file"], m["func"], route, r["span_id"], "stack frame")
    return sorted(found.values(), key=lambda d: (-d["count"], d["file"] or "", d["function"] or ""))


_REV = re.compile(r"[0-9A-Za-z][0-9A-Za-z._/@^~-]{0,250}")


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip() or f"git {' '.join(args)} failed")
    return out.stdout


def _tail_match(a: str, b: str) -> bool:
    a, b = a.replace("\\", "/").lstrip("./"), b.replace("\\", "/").lstrip("./")
    return a == b or a.endswith("/" + b) or b.endswith("/" + a)


def _score(diff: str, locs: list[dict[str, Any]]) -> tuple[int, list[str], list[dict[str, Any]]]:
    files: list[str] = []
    hunks: list[dict[str, Any]] = []
    cur = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            cur = line[4:].removeprefix("b/")
            if cur != "/dev/null":
                files.append(cur)
        elif line.startswith("@@") and cur:
            hunks.append({"file": cur, "header": line, "lines": []})
        elif hunks and line[:1] in "+-" and not line.startswith(("+++", "---")):
            hunks[-1]["lines"].append(line[1:])
    score, why, hit_hunks = 0, [], []
    for f in files:
        if any(loc["file"] and _tail_match(f, loc["file"]) for loc in locs):
            score += 3
            why.append(f"changes {f}, a file in the failing stack")
    for h in hunks:
        text = h["header"] + "\n" + "\n".join(h["lines"])
        hit = False
        for loc in locs:
            fn = (loc["function"] or "").rsplit(".", 1)[-1]
            if fn and re.search(rf"\b{re.escape(fn)}\b", text) and (not loc["file"] or _tail_match(h["file"], loc["file"])):
                score += 2
                why.append(f"changes {fn}() in {h['file']}")
                hit = True
            for route in loc["routes"]:
                if route and route in "\n".join(h["lines"]):
                    score += 1
                    why.append(f"touches route {route}")
                    hit = True
        if hit:
            hit_hunks.append({"file": h["file"], "header": h["header"]})
    return score, list(dict.fromkeys(why)), hit_hunks


def _range(store: Store, inc: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The deploy that introduced the incident (its own, else the last before it) and the one before that."""
    dep_id = inc.get("deploy_id")
    rows = store.query("SELECT * FROM deploys WHERE id = ?", [dep_id]) if dep_id is not None else []
    if not rows:
        rows = store.query("SELECT * FROM deploys WHERE service = ? AND ts <= ? ORDER BY ts DESC, id DESC LIMIT 1",
                           [inc["service"], inc["started_at"]])
    if not rows:
        return None, None
    dep = rows[0]
    prev = store.query("SELECT * FROM deploys WHERE service = ? AND (ts < ? OR (ts = ? AND id < ?)) AND "
                       "coalesce(\"commit\", '') <> '' ORDER BY ts DESC, id DESC LIMIT 1",
                       [dep["service"], dep["ts"], dep["ts"], dep["id"]])
    return dep, (prev[0] if prev else None)


def configured_repo() -> Path:
    """The repository of this process's own configuration: ``RUNBRIEF_REPO``, else the working directory."""
    return Path(os.environ.get(REPO_ENV) or ".").expanduser()


@operation("suspects")
def suspects(store: Store, id: str, repo: str | None = None, limit: int = 10) -> dict[str, Any]:  # noqa: A002
    """Commits in the incident's deploy range ranked by how they touch the code in its evidence.

    Each suspect has its score, the reasons (files, functions, routes) and the matching hunks;
    without a git repository the code locations from the evidence are still listed.
    """
    from runbrief.analyze.memory import _row

    if repo not in (None, "."):  # the server's own configuration is its own; a path a request names is not
        trust.refuse_file("`repo`", f"run `runbrief suspects --repo PATH` in-process, or start the server with "
                                    f"{REPO_ENV}=PATH (`runbrief mcp --repo PATH`) or in the repository")

    inc = _row(store, id)
    locs = locations(store, inc)
    out: dict[str, Any] = {"id": ids.make("inc", inc["id"]), "locations": locs, "suspects": [], "notes": []}
    dep, prev = _range(store, inc)
    path = Path(repo).expanduser() if repo not in (None, ".") else configured_repo()
    try:
        _git(path, "rev-parse", "--git-dir")
    except (RuntimeError, OSError):
        out["notes"].append(f"{path} is not a git repository: pass --repo PATH to rank commits; "
                            "the code locations from the evidence are listed")
        return out
    if dep is None or not dep["commit"]:
        out["notes"].append(f"no deploy of {inc['service']} with a commit before the incident: mark deploys with "
                            "--commit to rank the commits they shipped")
        return out
    out["deploy"] = ids.make("dep", dep["id"])
    # A deploy's commit came from a webhook or an API call: it names a revision, never an
    # option ("--output=…") or anything else git would act on.
    bad = [c for c in (dep["commit"], prev["commit"] if prev else None) if c and not _REV.fullmatch(c)]
    if bad:
        out["notes"].append(f"the deploy's commit {bad[0][:80]!r} is not a revision name; nothing was asked of git")
        return out
    rng = f"{prev['commit']}..{dep['commit']}" if prev else dep["commit"]
    out["range"] = rng
    if not prev:
        out["notes"].append(f"no earlier deploy with a commit: the last {_MAX_COMMITS} commits up to "
                            f"{dep['commit']} are ranked")
    try:
        shas = _git(path, "rev-list", f"--max-count={_MAX_COMMITS}", rng).split()
    except RuntimeError as exc:
        out["notes"].append(f"git could not read {rng} in {path}: {exc}")
        return out
    ranked = []
    for sha in shas:
        meta = _git(path, "show", "-s", "--format=%an%x00%s", sha).rstrip("\n").split("\x00")
        diff = _git(path, "show", "--format=", "-U0", "--no-color", "--no-renames", sha)
        score, why, hunks = _score(diff, locs)
        ranked.append({"commit": sha, "author": meta[0], "subject": meta[-1], "score": score, "why": why,
                       "hunks": hunks})
    ranked.sort(key=lambda c: -c["score"])  # stable: among equals, the newest first (rev-list order)
    out["suspects"] = ranked[:max(1, min(int(limit), 100))]
    out["evidence"] = [out["deploy"]] + [e for loc in locs for e in loc["evidence"]][:5]
    return out
