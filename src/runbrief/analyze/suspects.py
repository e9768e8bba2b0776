"""Which change did it? The commits in a deploy's range ranked by how they touch the incident's code.

The code locations come from the incident's own evidence: its failing spans'
``code.filepath``/``code.function`` attributes, the application frames of their exception
stack traces (Python, JVM and Node frames; library frames are context, never suspects) and
their routes. The commits are the deploy's range (the previous deploy's
commit to this one), read with the real ``git`` binary; each commit scores

    3 per changed file that is an evidence file   (paths compared by their tail, since a
                                                  container's /app/shop/cart.py is shop/cart.py)
    2 per evidence function a hunk header or a changed line names (git's own hunk-header
                                                  drivers name the enclosing Java/Kotlin/Python method)
    2 per hunk covering the line a failing frame points at
    1 per evidence route a changed line contains

and carries the reasons. Without a repository the code locations are still listed.

Which repository: the CLI's ``--repo PATH`` in-process. A remote caller (HTTP API, MCP) names
none, since nothing a request names is read from disk; the process's own configuration
decides: ``RUNBRIEF_REPO`` (what ``runbrief mcp --repo PATH`` sets), else its working directory.
"""

from __future__ import annotations

import functools
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
# Java/Kotlin/Scala: `at com.shop.cart.CartService.total(CartService.java:42)`, maybe with a
# module prefix (`app//com.shop…`, `java.base/java.lang…`) and a jar suffix after it.
_JAVA = re.compile(r"\bat (?:[\w.-]+(?:@[\w.-]+)?/{1,2})?(?P<qual>[\w$]+(?:\.[\w$<>]+)+)"
                   r"\((?P<file>[\w$-]+\.(?:java|kt|scala|groovy)):(?P<line>\d+)\)")
# Node: `at fn (/app/src/x.ts:10:5)`, `at /app/src/x.js:10:5`, `at async fn (file:///app/x.mjs:3:1)`.
_NODE = re.compile(r"\bat (?:async )?(?:(?P<func>[^()\n]+?) \()?(?:file://)?(?P<file>[^\s()]+?\."
                   r"(?:js|mjs|cjs|ts|mts|cts|jsx|tsx)):(?P<line>\d+)(?::\d+)?\)?(?=\s|$)")
_LIBRARY = ("site-packages", "dist-packages", "/lib/python", "<frozen", "node_modules", "opentelemetry")
# JVM frameworks and drivers whose frames are context (the standard library's are in
# diagnose._LIBRARY_MODULES): the fix lives in the application frame that called them.
_JVM_LIBRARY = ("org.springframework.", "org.apache.", "org.hibernate.", "org.eclipse.", "com.sun.", "io.netty.",
                "reactor.", "com.fasterxml.", "kotlinx.", "ch.qos.", "org.slf4j.", "com.zaxxer.", "org.postgresql.",
                "com.mysql.", "org.junit.", "io.micrometer.", "okhttp3.", "retrofit2.", "feign.", "io.grpc.",
                "io.undertow.", "org.glassfish.", "jakarta.", "com.google.", "org.jboss.", "io.vertx.",
                "io.quarkus.", "io.micronaut.", "akka.", "groovy.", "org.codehaus.")
_MAX_COMMITS = 200


def _loads(v: Any) -> Any:
    return orjson.loads(v) if isinstance(v, str | bytes) else v


def _is_library(file: str | None, func: str | None = None) -> bool:
    """Library frames are context, not suspects: the rule incidents' location hints use, plus JVM frameworks."""
    from runbrief.analyze.diagnose import _is_library as is_lib

    if file and any(x in file.replace("\\", "/") for x in _LIBRARY):
        return True
    return is_lib(file, func) or bool(func and func.startswith(_JVM_LIBRARY))


def frames(text: str) -> list[dict[str, Any]]:
    """The application's own frames in a stack trace (Python, JVM or Node), innermost first.

    Each is ``{file, function, line, match}``: ``match`` is the path compared with the
    repository's files by its tail. A JVM frame names a class, not a file, so its file is the
    package's path under ``src/main/<lang>`` (Maven and Gradle's layout) and its ``match`` the
    package path alone (any source root ends with it). A Node frame's path is the
    container's (/app/src/x.ts); its tail is the repository's.
    """
    out: list[dict[str, Any]] = []
    py = list(_FRAME.finditer(text))
    for m in reversed(py):  # Python prints the innermost frame last
        if not _is_library(m["file"], m["func"]):
            out.append({"file": m["file"], "function": m["func"], "line": int(m["line"]), "match": m["file"]})
    for m in _JAVA.finditer(text):
        parts = m["qual"].split(".")
        if len(parts) < 2 or _is_library(None, m["qual"]):
            continue
        method, cls, pkg = parts[-1], parts[-2], parts[:-2]
        ext = m["file"].rsplit(".", 1)[-1]
        lang = {"kt": "kotlin", "scala": "scala", "groovy": "groovy"}.get(ext, "java")
        rel = "/".join([*pkg, m["file"]])
        out.append({"file": f"src/main/{lang}/{rel}", "function": f"{cls.split('$')[0]}.{method}",
                    "line": int(m["line"]), "match": rel})
    for m in _NODE.finditer(text):
        file = m["file"].replace("\\", "/")
        # Node's own modules print as bare names (events.js:98) or node:internal/…; the
        # application's frames carry a path.
        if "/" not in file or file.startswith(("node:", "internal/")) or _is_library(file):
            continue
        func = (m["func"] or "").strip()
        func = re.sub(r"\s*\[as [^\]]*\]$", "", func).removeprefix("new ").removeprefix("async ").strip()
        func = None if not func or "<anonymous>" in func else func
        out.append({"file": file, "function": func, "line": int(m["line"]), "match": file})
    return out


def locations(store: Store, inc: dict[str, Any]) -> list[dict[str, Any]]:
    """Application code locations in the incident's failing spans, most cited first."""
    rows = store.query(
        """SELECT span_id, route, name, attributes, events FROM spans WHERE service = ? AND status_code = 'ERROR'
           AND start_ts >= ? AND start_ts <= ? LIMIT 2000""",
        [inc["service"], inc["started_at"], inc["last_seen"]])
    found: dict[tuple[str, str | None], dict[str, Any]] = {}

    def add(file: str | None, func: str | None, route: str | None, span: str, via: str,
            match: str | None = None, line: int | None = None) -> None:
        if _is_library(file, func) or (not file and not func):
            return
        loc = found.setdefault((file or "", func), {"file": file, "function": func, "routes": [], "count": 0,
                                                     "via": via, "evidence": []})
        if match and match != file:
            loc["match"] = match
        if line is not None:
            loc.setdefault("line", line)
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
            for f in frames(st):
                add(f["file"], f["function"], route, r["span_id"], "stack frame", f["match"], f["line"])
    return sorted(found.values(), key=lambda d: (-d["count"], d["file"] or "", d["function"] or ""))


_REV = re.compile(r"[0-9A-Za-z][0-9A-Za-z._/@^~-]{0,250}")


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip() or f"git {' '.join(args)} failed")
    return out.stdout


# git's own hunk-header drivers, so `@@ … @@ public String total(…)` names the enclosing
# method in languages whose functions are indented (the default header is the class line).
_DRIVERS = {"java": "java", "kt": "kotlin", "py": "python", "go": "golang", "rs": "rust", "rb": "ruby",
            "php": "php", "cs": "csharp", "cpp": "cpp", "cc": "cpp", "c": "cpp", "h": "cpp"}


@functools.cache
def _attributes() -> str:
    """A gitattributes file naming the drivers (a repository's own .gitattributes still wins)."""
    import tempfile

    fd, name = tempfile.mkstemp(prefix="runbrief-gitattributes-")
    with os.fdopen(fd, "w") as f:
        f.writelines(f"*.{ext} diff={drv}\n" for ext, drv in _DRIVERS.items())
    return name


def _tail_match(a: str, b: str) -> bool:
    a, b = a.replace("\\", "/").lstrip("./"), b.replace("\\", "/").lstrip("./")
    return a == b or a.endswith("/" + b) or b.endswith("/" + a)


_HUNK = re.compile(r"@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


def _where(loc: dict[str, Any]) -> str:
    """The path a location is compared with the repository's files by (a JVM frame's package path)."""
    return str(loc.get("match") or loc.get("file") or "")


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
            m = _HUNK.match(line)
            start, n = (int(m[1]), int(m[2] or 1)) if m else (0, 0)
            hunks.append({"file": cur, "header": line, "lines": [], "new": (start, start + max(n, 1))})
        elif hunks and line[:1] in "+-" and not line.startswith(("+++", "---")):
            hunks[-1]["lines"].append(line[1:])
    score, why, hit_hunks = 0, [], []
    for f in files:
        if any(_where(loc) and _tail_match(f, _where(loc)) for loc in locs):
            score += 3
            why.append(f"changes {f}, a file in the failing stack")
    for h in hunks:
        text = h["header"] + "\n" + "\n".join(h["lines"])
        hit = False
        for loc in locs:
            fn = (loc["function"] or "").rsplit(".", 1)[-1]
            if fn and re.search(rf"\b{re.escape(fn)}\b", text) and (not _where(loc) or _tail_match(h["file"], _where(loc))):
                score += 2
                why.append(f"changes {fn}() in {h['file']}")
                hit = True
            line = loc.get("line")
            if (line and h["new"][0] <= line < h["new"][1] and _where(loc)
                    and _tail_match(h["file"], _where(loc))):
                score += 2
                why.append(f"changes line {line} of {h['file']}, where the failing frame points")
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
        out["notes"].append("no deploy of the incident's service with a commit before it: mark deploys with "
                            "--commit to rank the commits they shipped")
        return out
    out["deploy"] = ids.make("dep", dep["id"])
    # A deploy's commit came from a webhook or an API call: it names a revision, never an
    # option ("--output=…") or anything else git would act on.
    bad = [c for c in (dep["commit"], prev["commit"] if prev else None) if c and not _REV.fullmatch(c)]
    if bad:
        # `notes` is runbrief's own wording (shown unfenced): the commit itself is telemetry
        out["notes"].append("the deploy's commit is not a revision name; nothing was asked of git")
        out["commit"] = bad[0][:80]
        return out
    rng = f"{prev['commit']}..{dep['commit']}" if prev else dep["commit"]
    out["range"] = rng
    if not prev:
        out["notes"].append(f"no earlier deploy with a commit: the last {_MAX_COMMITS} commits up to the "
                            "deploy's are ranked")
    try:
        # One git process for the whole range: each commit's header, then its zero-context diff.
        log = _git(path, "-c", f"core.attributesFile={_attributes()}", "log", f"--max-count={_MAX_COMMITS}",
                   "--no-color", "--no-renames", "--no-merges", "-U0", "-p", "--format=%x01%H%x00%an%x00%s", rng)
    except RuntimeError as exc:
        out["notes"].append(f"git could not read the deploy's range in {path}")
        out["git_error"] = str(exc)[:500]
        return out
    ranked = []
    for chunk in log.split("\x01")[1:]:
        head, _, diff = chunk.partition("\n")
        sha, author, subject = (head.split("\x00") + ["", ""])[:3]
        score, why, hunks = _score(diff, locs)
        ranked.append({"commit": sha, "author": author, "subject": subject, "score": score, "why": why,
                       "hunks": hunks})
    ranked.sort(key=lambda c: -c["score"])  # stable: among equals, the newest first (rev-list order)
    out["suspects"] = ranked[:max(1, min(int(limit), 100))]
    out["evidence"] = [out["deploy"]] + [e for loc in locs for e in loc["evidence"]][:5]
    return out
