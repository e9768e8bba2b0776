"""Child processes of the demo, and the guarantee that none outlives it unless asked to.

Every child is started in its own session (a Ctrl-C in the terminal reaches the demo
alone, which then stops its children in order: services first, so their last spans
reach the server, then the server). On Linux each child also asks the kernel for
SIGTERM when the demo dies, so even a SIGKILLed demo leaves nothing behind; the one
exception is a server kept with ``--keep``, which must outlive the demo.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from runbrief.errors import RunbriefError

__all__ = ["Child", "Supervisor", "ChildFailed", "interrupts_raise"]

PR_SET_PDEATHSIG = 1


class ChildFailed(RunbriefError):
    """A child process exited or never became ready; the message carries its log tail."""


def _die_with(parent_pid: int) -> Callable[[], None]:
    def preexec() -> None:
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            return
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def child_env() -> dict[str, str]:
    """The demo's own environment for children: none of the user's OTEL_* or runbrief settings.

    A token from RUNBRIEF_TOKEN would make the demo's loopback server refuse the services'
    exports, and OTEL_* settings (sampling, endpoints, headers) would change what they send.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OTEL_") and k not in ("RUNBRIEF_URL", "RUNBRIEF_TOKEN", "RUNBRIEF_STORE")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Child:
    def __init__(self, name: str, popen: subprocess.Popen[bytes], log_path: Path, keepable: bool) -> None:
        self.name = name
        self.popen = popen
        self.log_path = log_path
        self.keepable = keepable

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (the child flushes its telemetry), then SIGKILL if it does not exit in time."""
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                self.popen.kill()
            self.popen.wait(5)

    def wait_json(self, path: Path, timeout: float, accept: Callable[[dict[str, Any]], bool] = lambda _: True,
                  ) -> dict[str, Any]:
        """Wait until ``path`` holds JSON that ``accept`` takes; fail fast if the child exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ChildFailed(f"{self.name} exited (code {self.popen.returncode}) before it was ready:\n"
                                  f"{self.log_tail()}")
            try:
                data = json.loads(path.read_text())
                if accept(data):
                    return data
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise ChildFailed(f"{self.name} was not ready after {timeout:.0f} s; its log ({self.log_path}):\n"
                          f"{self.log_tail()}")


class Supervisor:
    """Starts children and, on exit (normal, error or interrupt), stops every one not kept."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []
        self.keep: set[str] = set()
        self.started: dict[str, int] = {}  # every child ever started: name -> pid

    def spawn(self, name: str, argv: list[str], *, keepable: bool = False) -> Child:
        """Start ``argv``; a ``keepable`` child does not die with the demo (it may be kept)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "wb") as log:
            popen = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=child_env(),
                start_new_session=True,
                preexec_fn=None if keepable or not sys.platform.startswith("linux") else _die_with(os.getpid()),
            )
        child = Child(name, popen, log_path, keepable)
        self.children.append(child)
        self.started[name] = popen.pid
        return child

    def stop(self, child: Child) -> None:
        child.stop()
        if child in self.children:
            self.children.remove(child)

    def close(self) -> None:
        for child in reversed(list(self.children)):
            if child.name in self.keep and child.keepable and child.alive():
                continue
            child.stop()
            self.children.remove(child)

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        # Interrupts during cleanup must not leave children behind.
        with _ignoring_interrupts():
            self.close()


@contextlib.contextmanager
def _ignoring_interrupts() -> Iterator[None]:
    if not _main_thread():
        yield
        return
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt, so cleanup runs on every exit path."""
    if not _main_thread():
        yield
        return

    def raise_interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = {s: signal.signal(s, raise_interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
