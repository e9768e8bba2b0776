"""Every MCP tool over hostile telemetry: nothing from the monitored system reaches the agent unfenced.

The store (hostile_store.py) puts a marked hostile string in every text a record can
carry; the official MCP client calls every tool. Whatever the tool and the field, each
marker must sit inside a fence, nothing hidden (tag, bidi, zero-width characters) or a
disguised fence marker may survive, every instruction must be withheld, and evidence IDs
must stay plain so the agent can pass them back.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anyio
from hostile_store import Seeded, every_tool_args
from mcp.client.client import Client

from runbrief import untrusted
from runbrief.agent import server as srv
from runbrief.agent.shaping import FENCE_CLOSE, FENCE_FLAGGED, FENCE_OPEN, is_plain
from runbrief.agent.tools import TOOLS

FENCED = re.compile(r"<untrusted-data(?: flag=\"reads-as-instruction\")?>(.*?)</untrusted-data>", re.S)
MARKER = re.compile(r"HX\d+Q")
ID = re.compile(r"(?:log|spn|trc|pat|dep|evt|inc)_[0-9a-f]+")
ID_KEYS = re.compile(r"^(?:id|ids|evidence|evidence_ids?|.*_ids?)$")


def _call_all(store: Path, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    server = srv.build_server(srv.client_runner(store))

    async def scenario() -> list[Any]:
        with anyio.fail_after(120):  # a hang fails the test instead of stalling the suite
            async with Client(server) as client:
                return [await client.call_tool(name, args) for name, args in calls]

    return anyio.run(scenario)


def _strings(value: Any, key: str = "") -> list[tuple[str, str]]:
    """Every (key, string) of a JSON answer, dict keys included."""
    if isinstance(value, str):
        return [(key, value)]
    if isinstance(value, dict):
        out = [("(key)", k) for k in value]
        for k, v in value.items():
            out.extend(_strings(v, k))
        return out
    if isinstance(value, list):
        return [s for v in value for s in _strings(v, key)]
    return []


def test_every_tool_fences_every_hostile_string(hostile: Seeded, hostile_copy: Path) -> None:
    args = every_tool_args(hostile)
    assert set(args) == {t.name for t in TOOLS}, "a new tool needs arguments here"
    names = [t.name for t in TOOLS]
    results = _call_all(hostile_copy, [(n, args[n]) for n in names])
    reached: set[str] = set()
    for name, res in zip(names, results, strict=True):
        text = "\n".join(c.text for c in res.content)
        assert not res.is_error, (name, text[:300])
        inside = "".join(FENCED.findall(text))
        outside = FENCED.sub("", text)
        assert not MARKER.search(outside), (name, MARKER.findall(outside)[:5], outside[:400])
        reached.update(MARKER.findall(inside))
        # nothing hidden anywhere, and no fence marker in disguise: only real fences remain
        assert not untrusted.has_hidden(text), name
        disguised = untrusted.FENCE_MARKER.findall(untrusted.fold(text))
        assert len(disguised) == len(untrusted.FENCE_MARKER.findall(text)), name
        if name != "brief":  # the brief's own prose names the tag once
            assert len(disguised) == text.count(FENCE_CLOSE) * 2, name
        for inner in FENCED.findall(text):
            assert untrusted.injection(inner) is None or inner.startswith("[withheld"), (name, inner[:120])
        if name == "brief":
            continue
        for key, value in _strings(json.loads(res.content[0].text)):
            if ID_KEYS.match(key) and ID.fullmatch(value.removeprefix(FENCE_OPEN).removesuffix(FENCE_CLOSE)):
                assert value == value.strip("<>") and is_plain(value), (name, key, value)  # IDs are never fenced
            if FENCE_OPEN in value or FENCE_FLAGGED in value:
                assert not ID.fullmatch(FENCED.sub(r"\1", value)), (name, key, value)
    # the hostile strings were reached (so the checks above saw them), not merely absent
    assert len(reached) >= 40, sorted(reached)


def test_a_fenced_name_passed_back_means_the_name_inside(hostile: Seeded) -> None:
    services, = _call_all(hostile.path, [("list_services", {})])
    names = [s["service"] for s in json.loads(services.content[0].text)["services"]]
    assert "<untrusted-data>hdfs</untrusted-data>" in names  # an ordinary service name is telemetry too
    logs, = _call_all(hostile.path, [("search_logs", {"service": "<untrusted-data>hdfs</untrusted-data>"})])
    rows = json.loads(logs.content[0].text)["logs"]
    assert rows and all(ID.fullmatch(r["id"]) for r in rows)
