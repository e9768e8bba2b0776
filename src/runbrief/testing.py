"""Run a real `runbrief serve` in a child process: for tests, the demo and users' own CI.

The server picks free ports (``--http-port 0 --grpc-port 0``) and prints them; this
reads them back, waits until the API answers, and on exit stops the process (SIGTERM,
then SIGKILL) so nothing is left running.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

__all__ = ["ServerProcess", "otlp_json"]


def otlp_json(msg: Any) -> Any:
    """An OTLP protobuf message as OTLP/JSON: protobuf's JSON mapping, but with trace and
    span IDs in hex (the OTLP/JSON spec) where protobuf writes bytes as base64."""
    import base64

    from google.protobuf import json_format

    def hex_ids(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str)
                        else hex_ids(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [hex_ids(v) for v in node]
        return node

    return hex_ids(json_format.MessageToDict(msg))

_PORT_RE = re.compile(r"(http_port|grpc_port)=(\d+)")


class ServerProcess:
    def __init__(self, store: str | os.PathLike[str], *, grpc: bool = True, jobs: bool = True,
                 extra_args: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        self.store = Path(store)
        self.grpc = grpc
        self.jobs = jobs
        self.extra_args = extra_args or []
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.http_port = 0
        self.grpc_port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        args = [sys.executable, "-m", "runbrief", "serve", "--store", str(self.store), "--http-port", "0",
                "--grpc-port", "0" if self.grpc else "-1", *self.extra_args]
        if not self.jobs:
            args.append("--no-jobs")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, **(self.env or {})})
        deadline = time.monotonic() + timeout
        want = {"http_port"} | ({"grpc_port"} if self.grpc else set())
        found: dict[str, int] = {}
        assert self.proc.stdout is not None
        while want - set(found):
            line = self.proc.stdout.readline()
            if not line:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise RuntimeError(f"runbrief serve exited before listening: {err.strip()[-2000:]}")
            for key, val in _PORT_RE.findall(line):
                found[key] = int(val)
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("runbrief serve did not report its ports in time")
        self.http_port = found["http_port"]
        self.grpc_port = found.get("grpc_port", 0)
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError("runbrief serve did not answer /api/health in time")

    def kill(self) -> None:
        """SIGKILL: for durability tests (nothing acknowledged may be lost)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
