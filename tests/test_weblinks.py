"""Answers link the web page of what they cite when a server runs (issue 22, item 1)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from runbrief.testing import ServerProcess
from runbrief.weblinks import links, page_url


def test_main_ids_map_to_the_page_views() -> None:
    base = "http://127.0.0.1:4318"
    assert page_url(base, "inc_3") == f"{base}/incidents/inc_3"
    assert page_url(base, "trc_0af7651916cd43dd8448eb211c80319c").endswith("/traces/trc_0af7651916cd43dd8448eb211c80319c")
    assert page_url(base, "not an id") is None and page_url(base, "inc_3; rm -rf") is None
    assert links([{"id": "inc_1"}, {"id": "inc_2"}], base) == [f"{base}/incidents/inc_1", f"{base}/incidents/inc_2"]
    assert links({"trace_id": "trc_ab", "problems": []}, base) == [f"{base}/traces/trc_ab"]
    assert links({"id": "inc_1"}, None) == []  # no server: no link


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runbrief", *args], capture_output=True, text=True, timeout=60)


def test_the_cli_prints_the_page_of_what_it_shows_only_with_a_server(tmp_path: Path) -> None:
    store = str(tmp_path / "s")
    with ServerProcess(store, grpc=False, jobs=False) as sp:
        r = httpx.post(f"{sp.url}/api/op/deploy_mark", json={"service": "shop", "version": "2.0.0"})
        dep = r.json()["id"]
        text = _cli("show", dep, "--store", store)
        assert text.returncode == 0, text.stderr
        assert f"web: {sp.url}/deploys/{dep}" in text.stderr and "web:" not in text.stdout  # stdout: the answer alone
        js = _cli("show", dep, "--store", store, "--json")
        assert "web:" not in js.stdout + js.stderr  # JSON keeps the HTTP API's shape
    text = _cli("show", dep, "--store", store)  # no server now: no link
    assert text.returncode == 0 and "web:" not in text.stdout + text.stderr
