"""Run an operation where the store is: through the server when one owns it, else locally.

DuckDB lets one process hold the store file, so while ``runbrief serve`` runs the CLI and
the MCP server must ask it over HTTP; when none runs they open the store themselves.
The server writes its address to ``<store dir>/server.json``; ``RUNBRIEF_URL`` overrides.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbrief import ops, trust
from runbrief.errors import Forbidden, NotFound, RunbriefError, StoreError, UsageError
from runbrief.store.paths import resolve_store_path, store_dir

if TYPE_CHECKING:  # imported where used: the CLI must start without loading DuckDB
    from runbrief.store.duck import Store

__all__ = ["call", "server_url", "write_address", "clear_address", "open_store", "pid_alive"]

ADDRESS_FILE = "server.json"


def pid_alive(pid: int) -> bool:
    """Is process ``pid`` running? A zombie counts as dead: it only awaits its parent."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return True  # no /proc: trust the signal check


def write_address(db_path: Path, url: str, token: str | None = None, local_secret: str | None = None) -> None:
    data = {"url": url, "pid": os.getpid(), "store": str(db_path)}
    if token:
        data["token"] = token
    if local_secret:
        data["local"] = local_secret
    path = store_dir(db_path) / ADDRESS_FILE
    tmp = path.with_suffix(".tmp")
    # 0600: the file may hold the server's token.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(data))
    tmp.replace(path)


def clear_address(db_path: Path) -> None:
    path = store_dir(db_path) / ADDRESS_FILE
    try:
        data = json.loads(path.read_text())
        if data.get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def _address(store: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    """server.json of the server owning this store, or None when none runs."""
    path = store_dir(resolve_store_path(store)) / ADDRESS_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not pid_alive(int(data.get("pid", 0))):
        return None
    return data


def server_url(store: str | os.PathLike[str] | None = None) -> tuple[str, str | None] | None:
    """(url, token) of the server owning this store, or None when none runs."""
    env = os.environ.get("RUNBRIEF_URL")
    if env:
        return env.rstrip("/"), os.environ.get("RUNBRIEF_TOKEN")
    data = _address(store)
    return (str(data["url"]).rstrip("/"), data.get("token")) if data else None


@contextmanager
def open_store(store: str | os.PathLike[str] | None = None) -> Iterator[Store]:
    """Open the store in this process (only when no server holds it).

    Always writable: this process is then the store's only user, and a writable open is
    what applies pending schema migrations.
    """
    from runbrief.store.duck import Store

    s = Store.open(store)
    try:
        yield s
    finally:
        s.close()


_ERRORS = {400: UsageError, 403: Forbidden, 404: NotFound, 503: StoreError}
_conns = threading.local()


def _post(url: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """POST over one kept-alive connection per thread (a new TCP connection per call cost
    ~50 ms). ``http.client`` rather than httpx: it loads in ~10 ms, httpx in ~80 ms, and
    an agent runs many short commands."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    key = (parts.scheme, parts.netloc)
    pool: dict[tuple[str, str], http.client.HTTPConnection] = getattr(_conns, "pool", None) or {}
    _conns.pool = pool
    for attempt in (0, 1):
        conn = pool.get(key)
        if conn is None:
            cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
            conn = pool[key] = cls(parts.hostname or "127.0.0.1", parts.port, timeout=120.0)
        try:
            conn.request("POST", (parts.path.rstrip("/") or "") + path, body,
                         {**headers, "Content-Type": "application/json", "Connection": "keep-alive"})
            resp = conn.getresponse()
            return resp.status, resp.read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            conn.close()
            pool.pop(key, None)
            if attempt:  # a kept-alive connection the server closed meanwhile: retry once on a new one
                raise
    raise AssertionError("unreachable")


# The server the last ``call`` asked (None: it ran on the store in this process), so an answer
# can link the web page that shows what it cites (``runbrief.weblinks``).
last_url: str | None = None


def call(name: str, params: dict[str, Any] | None = None, *, store: str | os.PathLike[str] | None = None) -> Any:
    """Run operation ``name`` with ``params`` against the store, wherever it is held."""
    global last_url
    params = {k: v for k, v in (params or {}).items() if v is not None}
    addr = server_url(store)
    last_url = addr[0] if addr is not None else None
    if addr is not None:
        url, token = addr
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None if os.environ.get("RUNBRIEF_URL") else _address(store)
        if data and data.get("local") and trust.origin() is None:
            # The user's own command line: it may name its files and evaluators (runbrief.trust).
            headers[trust.LOCAL_HEADER] = str(data["local"])
        try:
            status, raw = _post(url, f"/api/op/{name}", json.dumps(params, default=str).encode(), headers)
        except OSError as exc:
            raise StoreError(f"the runbrief server at {url} did not answer ({exc}); is it still running?") from exc
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if status == 200 and body is not None:
            return body
        message = body.get("error", raw.decode(errors="replace")) if isinstance(body, dict) else \
            raw.decode(errors="replace")
        raise _ERRORS.get(status, RunbriefError)(message)
    op = ops.get(name)  # an unknown name fails before the store is touched
    if isinstance(store, str) and store.startswith("chdb:"):  # an embedded ClickHouse store (docs/clickhouse.md)
        from runbrief.store.clickhouse.address import run_op

        return run_op(store, name, params)
    if op.read_only and not (db_path := resolve_store_path(store)).exists():
        # Creating an empty store here would answer "nothing found": a false all-clear.
        raise UsageError(
            f"no runbrief store at {db_path}: create one by ingesting "
            "(`runbrief ingest FILE --store PATH`, `runbrief serve --store PATH`, or `runbrief demo`), "
            "or pass the --store of an existing one"
        )
    with open_store(store) as s:
        return ops.run(s, name, params)
