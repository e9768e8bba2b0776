"""Links into the web page for what an answer cites, when a server runs (issue 22).

A CLI answer or an MCP tool result names evidence IDs; a human auditing it wants the page
that shows each one. ``client.call`` remembers the server it last asked (``client.last_url``);
when there is one, the human CLI output ends with the page links of the answer's main IDs and
an MCP result carries them as a short note. JSON output is never changed: it stays the shape
the HTTP API returns. The paths are the page's own (``static/lib.js``).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["VIEW_OF", "page_url", "links"]

# evidence prefix -> the web page's view (static/lib.js keeps the same table)
VIEW_OF = {"inc": "incidents", "trc": "traces", "pat": "patterns", "dep": "deploys", "spn": "spans", "log": "logs",
           "evt": "events"}
_ID = re.compile(r"^(inc|trc|pat|dep|spn|log|evt)_[0-9A-Za-z]+$")
_MAIN_KEYS = ("id", "incident", "trace_id", "evidence_id", "deploy", "pattern_id")


def page_url(base: str, evidence_id: str) -> str | None:
    """The page that shows ``evidence_id``, or None for a string that is no evidence ID."""
    m = _ID.match(evidence_id or "")
    return f"{base.rstrip('/')}/{VIEW_OF[m.group(1)]}/{evidence_id}" if m else None


def _main_ids(result: Any) -> list[str]:
    """The IDs an answer is about: its own ``id``/``trace_id``…, or those of the first items
    of a list (incidents, traces); not every ID cited deep inside it."""
    out: list[str] = []
    items = result if isinstance(result, list) else [result]
    for it in items[:3]:
        if not isinstance(it, dict):
            continue
        for k in _MAIN_KEYS:
            v = it.get(k)
            if isinstance(v, dict):
                v = v.get("id") or v.get("evidence_id")
            if isinstance(v, str) and _ID.match(v) and v not in out:
                out.append(v)
                break
    if isinstance(result, dict):
        for key in ("incidents", "traces", "items", "problems"):
            for it in (result.get(key) or [])[:3] if isinstance(result.get(key), list) else []:
                if isinstance(it, dict):
                    v = it.get("id") or it.get("trace_id") or it.get("evidence_id")
                    if isinstance(v, str) and _ID.match(v) and v not in out:
                        out.append(v)
    return out[:5]


def links(result: Any, base: str | None) -> list[str]:
    """Page URLs for the answer's main IDs (none without a server)."""
    if not base:
        return []
    return [u for u in (page_url(base, i) for i in _main_ids(result)) if u]
