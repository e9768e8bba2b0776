"""Where ingested bytes come from: paths, globs, stdin, gzip; and where they go.

Inputs are read in 1 MiB chunks and gunzipped as a stream (gzip is recognized by its magic
bytes, so ``zcat``-less stdin works too; concatenated gzip members are read on). A
truncated or corrupt gzip stops that input with a message saying how much was kept: every
line decoded before the damage is ingested, nothing after it is invented.

``ingest_local`` writes through ``Pipeline(store).write`` batch by batch;
``ingest_remote`` streams the (decompressed) bytes to a running server's ``POST
/api/ingest`` as one chunked request per input, and the server parses them with the same
``LogStream``.
"""

from __future__ import annotations

import glob
import os
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from runbrief.errors import IngestError, RunbriefError, StoreError, UsageError
from runbrief.ingest._decode import Gunzip
from runbrief.ingest.logfiles import LogStream

__all__ = ["Source", "expand", "read_source", "ingest_local", "ingest_remote", "summarize"]

CHUNK = 1 << 20
Progress = Callable[[int], None]


@dataclass
class Source:
    name: str
    path: Path | None  # None: stdin
    size: int = 0
    mtime_ns: int = 0
    error: str = ""
    compressed: bool = False


def expand(paths: list[str]) -> list[Source]:
    """Paths, globs and ``-`` to sources; a path that names nothing is a usage error."""
    out: list[Source] = []
    for p in paths or ["-"]:
        if p == "-":
            out.append(Source("stdin", None, mtime_ns=time.time_ns()))
            continue
        if any(ch in p for ch in "*?[") and not os.path.exists(p):
            matches = sorted(glob.glob(os.path.expanduser(p), recursive=True))
            files = [m for m in matches if os.path.isfile(m)]
            if not files:
                raise UsageError(f"no file matches {p!r}")
        else:
            path = Path(p).expanduser()
            if path.is_dir():
                raise UsageError(f"{p} is a directory; pass the files, e.g. '{p.rstrip('/')}/*.log'")
            if not path.exists():
                raise UsageError(f"no such file: {p}")
            files = [str(path)]
        for f in files:
            st = os.stat(f)
            out.append(Source(f, Path(f), st.st_size, st.st_mtime_ns))
    return out


def read_source(src: Source, progress: Progress | None = None) -> Iterator[bytes]:
    """The decompressed bytes of one source; sets ``src.error`` when it ends damaged."""
    fh: IO[bytes] = open(src.path, "rb") if src.path is not None else sys.stdin.buffer  # noqa: SIM115
    gz: Gunzip | None = None
    raw_read = 0
    out_bytes = 0
    try:
        first = True
        while True:
            chunk = fh.read(CHUNK) if src.path is not None else fh.read1(CHUNK)  # type: ignore[attr-defined]
            if not chunk:
                break
            raw_read += len(chunk)
            if progress is not None:
                progress(len(chunk))
            if first:
                first = False
                if chunk[:2] == b"\x1f\x8b":
                    gz = Gunzip(sys.maxsize)  # the user's own file: no cap, 1 MiB a step
                    src.compressed = True
            if gz is None:
                out_bytes += len(chunk)
                yield chunk
                continue
            try:
                for out in gz.feed(chunk):
                    out_bytes += len(out)
                    yield out
            except zlib.error as exc:
                src.error = (f"{src.name}: the gzip data is corrupt after {raw_read} compressed bytes ({exc}); "
                             f"the {out_bytes} bytes decompressed before it were ingested")
                return
        if gz is not None and not gz.complete:
            src.error = (f"{src.name}: the gzip file is truncated (it ends after {raw_read} compressed bytes, "
                         f"mid-stream); the {out_bytes} bytes decompressed before the cut were ingested")
    finally:
        if src.path is not None:
            fh.close()


def summarize(files: list[dict[str, Any]], seconds: float, via: str,
              warnings: list[str] | None = None) -> dict[str, Any]:
    """One answer for an ingest; ``warnings`` (retention about to drop records) do not fail it."""
    total = {k: sum(int(f.get(k) or 0) for f in files)
             for k in ("lines", "logs", "events", "bytes", "bad_lines", "implausible_times")}
    errors = [e for f in files for e in f.get("errors", [])]
    return {
        "files": files,
        **total,
        "seconds": round(seconds, 3),
        "lines_per_s": round(total["lines"] / seconds, 1) if seconds > 0 else None,
        "errors": errors,
        "warnings": warnings or [],
        "via": via,
    }


def _write(pipeline: Any, batch: Any, stream: LogStream) -> None:
    done = pipeline.write(batch)
    if done.get("rejected"):  # left out alone; counted like a line that could not be read
        stream.stats.bad_lines += done["rejected"]
        stream.stats.errors.extend(f"{stream.name}: {e}" for e in done["errors"][:5])


def ingest_local(
    store: Any,
    paths: list[str],
    *,
    service: str | None = None,
    fmt: str = "auto",
    progress: Progress | None = None,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """Ingest files into an open store (this process owns it). Returns the summary."""
    from runbrief.ingest.pipeline import Pipeline
    from runbrief.ingest.sentry import open_input as open_stream  # Sentry, platform shapes, then LogStream

    sources = expand(paths)
    pipeline = Pipeline(store)
    t0 = time.perf_counter()
    files = []
    for src in sources:
        kw = {"batch_size": batch_size} if batch_size else {}
        stream = open_stream(src.name, service=service, fmt=fmt, ref_ns=src.mtime_ns or None, **kw)
        try:
            for data in read_source(src, progress):
                for b in stream.feed(data):
                    _write(pipeline, b, stream)
            for b in stream.close():
                _write(pipeline, b, stream)
        except IngestError as exc:
            stream.stats.errors.append(str(exc))
        if src.error:
            stream.stats.errors.append(src.error)
        files.append(stream.stats.as_dict())
    from runbrief.store import retention

    notes = retention.warnings(retention.preview(store))  # said now, not discovered after the next run
    return summarize(files, time.perf_counter() - t0, str(store.path), notes)


def _rechunk(it: Iterator[bytes], size: int = 256 * 1024) -> Iterator[bytes]:
    buf: list[bytes] = []
    n = 0
    for b in it:
        buf.append(b)
        n += len(b)
        if n >= size:
            yield b"".join(buf)
            buf, n = [], 0
    if buf:
        yield b"".join(buf)


def ingest_remote(
    url: str,
    token: str | None,
    paths: list[str],
    *,
    service: str | None = None,
    fmt: str = "auto",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Stream each input to the server that owns the store (``POST /api/ingest``)."""
    import httpx

    sources = expand(paths)
    headers = {"Content-Type": "application/octet-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    t0 = time.perf_counter()
    files = []
    with httpx.Client(timeout=httpx.Timeout(30.0, read=None, write=None)) as client:
        for src in sources:
            params = {"name": src.name, "format": fmt, "ref_ns": str(src.mtime_ns)}
            if service:
                params["service"] = service
            try:
                resp = client.post(f"{url}/api/ingest", params=params, headers=headers,
                                   content=_rechunk(read_source(src, progress)))
            except httpx.HTTPError as exc:
                raise StoreError(f"the runbrief server at {url} did not take {src.name} ({exc}); "
                                 "is it still running?") from exc
            try:
                body = resp.json()
            except ValueError:
                body = {"error": resp.text}
            if resp.status_code != 200:
                msg = body.get("error", resp.text) if isinstance(body, dict) else resp.text
                if resp.status_code == 400:
                    stats = {"name": src.name, "errors": [msg]}
                else:
                    raise RunbriefError(f"the server refused {src.name} ({resp.status_code}): {msg}")
            else:
                stats = body
            if src.error:
                stats.setdefault("errors", []).append(src.error)
            files.append(stats)
        notes: list[str] = []
        try:  # what the server's retention will drop (its settings, not this shell's)
            auth = {k: v for k, v in headers.items() if k == "Authorization"}
            resp = client.post(f"{url}/api/op/retention_preview", json={}, headers=auth)
            if resp.status_code == 200:
                notes = list(resp.json().get("warnings", []))
        except (httpx.HTTPError, ValueError):
            pass
    return summarize(files, time.perf_counter() - t0, url, notes)
