"""Detection runs by itself inside `runbrief serve`: the incident exists before anyone asks."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from changes_fill import Filler
from test_incidents import FAULT_AT, oom_after_deploy, quiet

from runbrief.store.duck import Store
from runbrief.testing import ServerProcess


def test_server_job_detects_and_the_api_serves_incidents(tmp_path: Path) -> None:
    path = tmp_path / "served"
    with Store.open(path) as store:
        filler = Filler(store)
        quiet(filler)
        oom_after_deploy(store, filler, FAULT_AT)
    with ServerProcess(path, grpc=False, jobs=True, env={"RUNBRIEF_INCIDENT_INTERVAL": "0.3"}) as sp:
        # `show` never triggers detection itself: finding inc_1 proves the background job ran
        deadline = time.monotonic() + 30
        while True:
            r = httpx.get(f"{sp.url}/api/op/show", params={"id": "inc_1"}, timeout=10)
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert r.status_code == 200, r.text
        assert r.json()["kind"] == "incident" and "memory" in r.json()["title"].lower()
        listed = httpx.post(f"{sp.url}/api/op/incidents", json={}, timeout=30).json()
        assert [i["id"] for i in listed] == ["inc_1"]
        brief = httpx.post(f"{sp.url}/api/op/brief", json={"budget": 600}, timeout=30).json()
        assert brief["tokens"] <= 600 and "inc_1" in brief["text"]
        done = httpx.post(f"{sp.url}/api/op/resolve", json={"id": "inc_1", "fix": "raised memory limit"},
                          timeout=30).json()
        assert done["status"] == "resolved"
        assert httpx.get(f"{sp.url}/api/op/show", params={"id": "inc_9"}, timeout=10).status_code == 404
