"""The demo's store, built once for the terminal-view tests by the real `runbrief demo`.

The demo runs a real server, the real shop and inventory services (OpenTelemetry) and a
bad deploy (~10 s); its store then holds an hour of patterns, a deploy, new error
patterns and open incidents: what `runbrief top` is for. Tests that write copy it.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def demo_store(demo_run: dict[str, Any]) -> dict[str, Any]:
    return demo_run  # the suite's one demo run (tests/conftest.py)


@pytest.fixture
def copy_store() -> Any:
    """Make a writable copy of a stopped store (its server's address file left behind)."""

    def copy(src: Path, dst: Path) -> Path:
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("server.json", "demo"))
        return dst

    return copy


class Tail:
    """`runbrief tail …` in a subprocess, its stdout read line by line on a thread."""

    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("RUNBRIEF_URL", "RUNBRIEF_STORE")}
        self.proc = subprocess.Popen([sys.executable, "-m", "runbrief", "tail", "--interval", "0.2", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def read(self, n: int, timeout: float = 15.0) -> list[bytes]:
        out, deadline = [], time.monotonic() + timeout
        while len(out) < n:
            try:
                out.append(self.lines.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                err = self.proc.stderr.read().decode() if self.proc.poll() is not None and self.proc.stderr else ""
                raise AssertionError(f"got {len(out)} of {n} lines: {out!r} {err}") from None
        return out

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(10)


@pytest.fixture(name="Tail")
def tail_class() -> type[Tail]:
    """The `runbrief tail` subprocess runner (a fixture, so every test file here can use it)."""
    return Tail
