"""The outbox: which events to send, sent once each, retried with backoff, rate-limited.

Events come from the store, so they survive restarts and need no hook in the writers:

- ``opened``: an incident detected (``incidents.detected_at``);
- ``fixed`` / ``regressed``: a verdict ``verify`` recorded in memory (``incident_fixes`` rows
  it writes as ``deploy dep_N V: verify <verdict>``).

Each (target, incident, event, deploy) is one outbox entry in the store's ``meta`` table
(``notify/…`` keys): written before the first attempt, so an event is never sent twice
to a target, even across restarts (a crash between the receiver's answer and the entry's
update is the one window where a retry can repeat it). An entry that fails waits
``backoff_s * 2**(attempt-1)`` (at most five minutes; a 429's Retry-After when longer) and
gives up after ``max_attempts``; short waits are slept through within the same pass. At most
``max_per_minute`` messages go to a target in any minute; the rest wait for the next pass.
When notifications are first switched on, only incidents and verdicts of the hour before
are announced, not the store's whole history.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from runbrief import ids
from runbrief.notify import messages
from runbrief.notify.config import Target, load_targets, redact_url
from runbrief.server.background import job
from runbrief.store.duck import Store

__all__ = ["run", "discover", "post", "entries", "INTERVAL_S", "CONFIG_ENV"]

log = logging.getLogger("runbrief.notify")

# How often `runbrief serve` looks for events to send (seconds); tests shorten it.
INTERVAL_S = float(os.environ.get("RUNBRIEF_NOTIFY_INTERVAL", "10"))
# The config the server reads its [[notify]] tables from (default ./runbrief.toml).
CONFIG_ENV = "RUNBRIEF_NOTIFY_CONFIG"
PREFIX = "notify/"
LOOKBACK_S = 3600.0       # announced when notifications are first switched on
MAX_WAIT_S = 300.0
IN_PASS_WAIT_S = 2.0      # retries due within this are slept through in the same pass

Post = Callable[[Target, dict[str, Any]], tuple[bool, float | None, str]]


def _now() -> float:
    return time.time()


def _get(store: Store, key: str) -> dict[str, Any] | None:
    v = store.scalar("SELECT value FROM meta WHERE key = ?", [key])
    return orjson.loads(v) if v else None


def _put(store: Store, key: str, value: dict[str, Any]) -> None:
    with store.write() as con:
        con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [key, orjson.dumps(value).decode()])


def entries(store: Store) -> list[dict[str, Any]]:
    """Every outbox entry, oldest first (what was sent, what waits, what failed)."""
    rows = store.query("SELECT key, value FROM meta WHERE starts_with(key, ?) AND key <> ?",
                       [PREFIX, PREFIX + "since"])
    out = [{"key": r["key"].removeprefix(PREFIX), **orjson.loads(r["value"])} for r in rows]
    return sorted(out, key=lambda e: (e["created"], e["key"]))


def _since(store: Store, now: float) -> float:
    got = _get(store, PREFIX + "since")
    if got is None:
        got = {"ts": now - LOOKBACK_S}
        _put(store, PREFIX + "since", got)
    return float(got["ts"])


def _wall(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)


def _base_url(store: Store, target: Target) -> str:
    if target.web_url:
        return target.web_url
    try:
        from runbrief.client import server_url

        found = server_url(store.path)
    except Exception:  # noqa: BLE001 - no address file: the default address
        found = None
    return found[0] if found else "http://127.0.0.1:4318"


def discover(store: Store, since: float) -> list[dict[str, Any]]:
    """Events since ``since`` (wall clock): incidents opened, verdicts fixed / regressed."""
    evs: list[dict[str, Any]] = []
    for r in store.query("SELECT id, detected_at FROM incidents WHERE detected_at >= ? ORDER BY detected_at, id",
                         [_wall(since)]):
        evs.append({"event": "opened", "incident_id": r["id"], "deploy": None})
    for r in store.query(
            """SELECT incident_id, fix FROM incident_fixes WHERE ts >= ? AND starts_with(fix, 'deploy dep_')
               AND (ends_with(fix, ': verify fixed') OR ends_with(fix, ': verify regressed')) ORDER BY ts""",
            [_wall(since)]):
        verdict = r["fix"].rsplit(" ", 1)[-1]
        deploy = r["fix"].split()[1].rstrip(":")
        evs.append({"event": "fixed" if verdict == "fixed" else "regressed", "incident_id": r["incident_id"],
                    "deploy": deploy})
    return evs


def _message(store: Store, ev: dict[str, Any], key: str, link_base: str) -> dict[str, Any] | None:
    from runbrief.analyze.incidents import get_incident
    from runbrief.analyze.verify import TEXTS

    inc_id = ids.make("inc", ev["incident_id"])
    try:
        inc = get_incident(store, inc_id)
    except Exception:  # noqa: BLE001 - the incident is gone (retention): nothing to tell
        return None
    claims = [{"text": str(c.get("text") or ""), "evidence": list(c.get("evidence") or [])}
              for c in inc.get("claims") or []]
    evidence = list(dict.fromkeys(([ev["deploy"]] if ev["deploy"] else []) + [e for c in claims for e in c["evidence"]]))
    out = {"event": ev["event"], "key": key, "claims": claims, "evidence": evidence,
           "link": f"{link_base.rstrip('/')}/incidents/{inc_id}",
           "incident": {"id": inc_id, "title": inc.get("title") or inc_id, "service": inc.get("service"),
                        "status": inc.get("status"), "started_at": inc.get("started_at"),
                        "last_seen": inc.get("last_seen")}}
    if ev["deploy"]:
        verdict = "fixed" if ev["event"] == "fixed" else "regressed"
        out["verify"] = {"verdict": verdict, "deploy": ev["deploy"], "text": TEXTS[verdict]}
    return out


def post(target: Target, ev: dict[str, Any]) -> tuple[bool, float | None, str]:
    """One HTTP POST of the target's payload: (delivered, Retry-After seconds, error)."""
    import urllib.error
    import urllib.request

    body = orjson.dumps(messages.slack(ev) if target.kind == "slack" else messages.generic(ev))
    req = urllib.request.Request(target.url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "runbrief-notify"})
    try:
        with urllib.request.urlopen(req, timeout=target.timeout_s) as resp:  # noqa: S310 - http(s) checked in config
            resp.read(4096)
            return 200 <= resp.status < 300, None, "" if resp.status < 300 else f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        after = exc.headers.get("Retry-After") if exc.headers else None
        wait = float(after) if after and after.strip().isdigit() else None
        return False, wait, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, None, f"{type(exc).__name__}: {reason}".replace(target.url, redact_url(target.url))


def _sent_last_minute(store: Store, target: Target, now: float) -> int:
    return sum(1 for e in entries(store) if e["target"] == target.key and e.get("sent_at")
               and now - e["sent_at"] < 60.0)


def _deliver(store: Store, target: Target, key: str, entry: dict[str, Any], send: Post) -> None:
    while entry["state"] == "pending":
        now = _now()
        if entry["next_at"] > now:
            if entry["next_at"] - now > IN_PASS_WAIT_S:
                return
            time.sleep(entry["next_at"] - now)
        ok, retry_after, err = send(target, entry["message"])
        entry["attempts"] += 1
        now = _now()
        if ok:
            entry.update(state="sent", sent_at=now, error=None)
            log.info("notify %s: sent %s", target.label, key)
        else:
            wait = min(MAX_WAIT_S, target.backoff_s * 2 ** (entry["attempts"] - 1))
            wait = max(wait, min(MAX_WAIT_S, retry_after or 0.0))
            failed = entry["attempts"] >= target.max_attempts
            entry.update(state="failed" if failed else "pending", next_at=now + wait, error=err)
            log.warning("notify %s: %s attempt %d failed (%s)%s", target.label, key, entry["attempts"], err,
                        "; giving up" if failed else f"; retrying in {wait:.1f} s")
        _put(store, PREFIX + key, entry)


def run(store: Store, targets: list[Target], *, send: Post = post) -> dict[str, int]:
    """One pass: enqueue new events for each target, deliver what is due within its rate limit."""
    counts = {"queued": 0, "sent": 0, "failed": 0, "waiting": 0}
    if not targets:
        return counts
    now = _now()
    since = _since(store, now)
    evs = discover(store, since)
    for target in targets:
        base = _base_url(store, target)
        for ev in evs:
            if ev["event"] not in target.events:
                continue
            key = f"{target.key}/inc_{ev['incident_id']}/{ev['event']}" + (f"/{ev['deploy']}" if ev["deploy"] else "")
            if _get(store, PREFIX + key) is not None:
                continue  # already queued or sent: never twice
            msg = _message(store, ev, key, base)
            if msg is None or (target.service and msg["incident"]["service"] != target.service):
                continue
            _put(store, PREFIX + key, {"target": target.key, "state": "pending", "attempts": 0, "created": now,
                                       "next_at": now, "sent_at": None, "error": None, "message": msg})
            counts["queued"] += 1
    for target in targets:
        for e in entries(store):
            if e["target"] != target.key or e["state"] != "pending":
                continue
            if _sent_last_minute(store, target, _now()) >= target.max_per_minute:
                counts["waiting"] += 1
                continue
            key = e.pop("key")
            _deliver(store, target, key, e, send)
            counts["sent" if e["state"] == "sent" else "failed" if e["state"] == "failed" else "waiting"] += 1
    return counts


_CACHE: dict[str, Any] = {"mtime": None, "targets": [], "error": None}


def _targets() -> list[Target]:
    """The server's own [[notify]] targets, re-read when the file changes; an error is logged once."""
    from runbrief import trust
    from runbrief.errors import UsageError

    path = Path(os.environ.get(CONFIG_ENV) or "runbrief.toml")
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return []
    if mtime != _CACHE["mtime"]:
        _CACHE["mtime"] = mtime
        try:
            with trust.local():
                _CACHE["targets"], _CACHE["error"] = load_targets(path), None
        except UsageError as exc:
            _CACHE["targets"], _CACHE["error"] = [], str(exc)
            log.error("notifications are off until the config is fixed: %s", exc)
    return _CACHE["targets"]


@job("notify", every_s=INTERVAL_S)
def _notify_job(store: Store) -> None:
    targets = _targets()
    if targets and not store.read_only:
        run(store, targets)
