"""`runbrief demo` leaves nothing running when it is interrupted or killed mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runbrief.client import pid_alive


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the demo ended before its shop started"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


# SIGTERM takes the same path as Ctrl-C (both become KeyboardInterrupt in the demo).
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_no_process_survives_the_demo(tmp_path: Path, sig: signal.Signals) -> None:
    store = tmp_path / "store"
    env = {k: v for k, v in os.environ.items() if k not in ("RUNBRIEF_URL", "RUNBRIEF_STORE")}
    proc = subprocess.Popen([sys.executable, "-m", "runbrief", "demo", "--store", str(store), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        server = _wait_for(store / "server.json", proc)
        shop = _wait_for(store / "demo" / "shop-1.0.0.ready", proc)
        inventory = _wait_for(store / "demo" / "inventory-1.4.2.ready", proc)
        pids = {"server": server["pid"], "shop": shop["pid"], "inventory": inventory["pid"]}
        assert all(pid_alive(p) for p in pids.values())
        proc.send_signal(sig)
        code = proc.wait(timeout=60)
        if sig != signal.SIGKILL:
            assert code == 130, proc.stderr.read().decode()[-2000:] if proc.stderr else code
        deadline = time.monotonic() + 30  # after SIGKILL the children get SIGTERM from the kernel and flush
        while time.monotonic() < deadline and any(pid_alive(p) for p in pids.values()):
            time.sleep(0.1)
        assert not [n for n, p in pids.items() if pid_alive(p)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_service_stops_on_sigterm_sent_the_moment_it_is_ready(tmp_path: Path) -> None:
    """The ready file is written before uvicorn installs its signal handlers: a SIGTERM in
    that window (the demo killed right after start) must still stop the service."""
    from runbrief.demo.catalog import seed_inventory

    seed_inventory(tmp_path / "inv.sqlite")
    ready = tmp_path / "inv.ready"
    proc = subprocess.Popen([sys.executable, "-m", "runbrief.demo.service", "inventory", "--version", "1",
                             "--otlp", "http://127.0.0.1:9", "--db", str(tmp_path / "inv.sqlite"),
                             "--ready-file", str(ready)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.001)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
