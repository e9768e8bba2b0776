"""The messages: a Slack Block Kit payload and a generic JSON one, from one event.

Claims are telemetry-derived text (untrusted): secrets are redacted (``runbrief.redact``)
and, for Slack, ``&``, ``<`` and ``>`` are escaped as Slack's message formatting asks, so a
log line holding ``<!channel>`` or ``<https://evil|click>`` stays text instead of pinging
the channel or becoming a link. Block Kit limits are respected (header 150 characters,
section 3,000, 50 blocks).
"""

from __future__ import annotations

from typing import Any

from runbrief.redact import redact

__all__ = ["slack", "generic", "HEADLINES"]

HEADLINES = {"opened": "Incident opened", "regressed": "Fix regressed", "fixed": "Verified fixed"}
_ICON = {"opened": ":red_circle:", "regressed": ":warning:", "fixed": ":white_check_mark:"}
MAX_CLAIMS = 6


def _esc(text: str) -> str:
    return redact(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def slack(ev: dict[str, Any]) -> dict[str, Any]:
    inc = ev["incident"]
    head = f"{HEADLINES[ev['event']]}: {redact(inc['title'])}"
    where = f"*{inc['id']}* · service `{_esc(inc.get('service') or '?')}` · status {inc.get('status')}"
    if ev.get("verify"):
        v = ev["verify"]
        where += f" · `{v['verdict']}` after {v['deploy']}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(head, 150), "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(f"{_ICON[ev['event']]} {where}", 3000)}},
    ]
    lines = [f"• {_esc(c['text'])}  " + " ".join(f"`{e}`" for e in c.get("evidence", [])[:4])
             for c in ev["claims"][:MAX_CLAIMS]]
    if ev.get("verify", {}).get("text"):
        lines.insert(0, f"*verify:* {_esc(ev['verify']['text'])}")
    if lines:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut("\n".join(lines), 3000)}})
    if ev["evidence"]:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": _cut("evidence: " + " ".join(ev["evidence"][:12]) +
                                            " (`runbrief show ID` opens each)", 3000)}]})
    blocks.append({"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "Open in runbrief"}, "url": ev["link"]}]})
    return {"text": _cut(f"{head} ({inc['id']}) {ev['link']}", 3000), "blocks": blocks}


def generic(ev: dict[str, Any]) -> dict[str, Any]:
    inc = ev["incident"]
    out = {"event": ev["event"], "key": ev["key"],
           "incident": {k: inc.get(k) for k in ("id", "title", "service", "status", "started_at", "last_seen")},
           "claims": [{"text": redact(c["text"]), "evidence": list(c.get("evidence", []))} for c in ev["claims"]],
           "evidence": ev["evidence"], "link": ev["link"]}
    out["incident"]["title"] = redact(str(out["incident"]["title"] or ""))
    if ev.get("verify"):
        out["verify"] = ev["verify"]
    return out
