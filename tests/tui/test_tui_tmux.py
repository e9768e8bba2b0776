"""`runbrief top` in a real terminal: tmux, 80x24, the screen captured as the user sees it.

The CLI starts the app in a tmux pane (a pseudo-terminal, as over SSH), the captured
screen shows the demo's patterns and fits 80 columns and 24 rows, `q` ends it with exit
status 0. NO_COLOR is set, so the pane must hold no hue (Textual degrades colours to greys).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from typing import Any

import pytest

from runbrief import ops
from runbrief.store.duck import Store

TMUX = shutil.which("tmux")
SGR = re.compile(r"\x1b\[([0-9;]*)m")
GREYS = {0, 7, 8, 15, 16, 231, *range(232, 256)}


def hues(screen: str) -> list[str]:
    """The colours of ``screen``'s SGR sequences that are not a grey (NO_COLOR leaves greys only)."""
    found = []
    for m in SGR.finditer(screen):
        codes = [int(c) for c in m.group(1).split(";") if c]
        i = 0
        while i < len(codes):
            c = codes[i]
            if c in (38, 48) and i + 2 < len(codes) and codes[i + 1] == 5:
                if codes[i + 2] not in GREYS:
                    found.append(m.group(0))
                i += 3
            elif c in (38, 48) and i + 4 < len(codes) and codes[i + 1] == 2:
                if len(set(codes[i + 2:i + 5])) > 1:
                    found.append(m.group(0))
                i += 5
            else:
                if 31 <= c <= 36 or 41 <= c <= 46 or 91 <= c <= 96 or 101 <= c <= 106:
                    found.append(m.group(0))
                i += 1
    return found


def _tmux(sock: str, *args: str) -> str:
    return subprocess.run([TMUX or "tmux", "-L", sock, *args], capture_output=True, text=True, timeout=10,
                          check=True).stdout


def _wait(sock: str, cond: Any, timeout: float = 30.0, escapes: bool = False) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = _tmux(sock, "capture-pane", "-p", *(["-e"] if escapes else []), "-t", "top")
        if cond(out):
            return out
        assert time.monotonic() < deadline, f"screen never matched:\n{out}"
        time.sleep(0.2)


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
def test_top_in_tmux_at_80x24_quits_on_q(demo_store: dict[str, Any]) -> None:
    sock = f"runbrief-top-test-{os.getpid()}"
    store = Store.open(demo_store["_store"])
    try:
        latest = ops.run(store, "deploys", {"limit": 1})["deploys"][0]["id"]
    finally:
        store.close()
    cmd = (f"env -u RUNBRIEF_URL -u RUNBRIEF_STORE NO_COLOR=1 {shlex.quote(sys.executable)} -m runbrief top "
           f"--store {shlex.quote(str(demo_store['_store']))}; echo EXITED:$?; sleep 60")
    _tmux(sock, "-f", "/dev/null", "new-session", "-d", "-x", "80", "-y", "24", "-s", "top", cmd)
    try:
        screen = _wait(sock, lambda s: "loyalty update failed" in s and "inc_1" in s and " dep_" in s)
        rows = screen.rstrip("\n").split("\n")
        assert len(rows) <= 24 and max(len(r) for r in rows) <= 80
        assert "runbrief top" in rows[0] and f" {latest} shop " in rows[0] and "q quit" in rows[-1]
        assert "listed <*> products in <*> page <*>" in screen
        coloured = _tmux(sock, "capture-pane", "-p", "-e", "-t", "top")
        assert SGR.search(coloured) and not hues(coloured), hues(coloured)[:5]
        _tmux(sock, "send-keys", "-t", "top", "q")
        _wait(sock, lambda s: "EXITED:0" in s, timeout=15)
    finally:
        subprocess.run([TMUX or "tmux", "-L", sock, "kill-server"], capture_output=True, timeout=10)
