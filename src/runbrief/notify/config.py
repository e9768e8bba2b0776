"""``[[notify]]`` tables of runbrief.toml: where to send, which events, how fast.

```toml
[[notify]]
kind = "slack"                 # Slack incoming webhook (Block Kit), or "webhook" (generic JSON)
url = "https://hooks.slack.com/services/T000/B000/XXXX"
events = ["opened", "regressed", "fixed"]   # default: all three
service = "checkout"           # only this service's incidents (default: every service)
max_per_minute = 10            # rate limit of this target; the rest wait their turn
web_url = "https://runbrief.internal"       # links point here (default: the server's own address)
```

A webhook URL is a secret (anyone holding a Slack one may post to the channel), so it is
never logged whole (``redact_url``). Errors name the file, the line and the key, as the
gate's config errors do: ``runbrief.toml:7: notify[1].url: expected an http(s) URL``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from runbrief.notify import EVENTS

__all__ = ["Target", "load_targets", "redact_url", "KINDS"]

KINDS = ("slack", "webhook")
_KEYS = {"kind", "url", "events", "service", "max_per_minute", "web_url", "name", "timeout_s", "backoff_s",
         "max_attempts"}


@dataclass(frozen=True)
class Target:
    kind: str
    url: str
    events: tuple[str, ...] = EVENTS
    service: str | None = None
    max_per_minute: int = 10
    web_url: str | None = None
    name: str = ""
    timeout_s: float = 5.0
    backoff_s: float = 1.0      # first retry after this, doubling each time
    max_attempts: int = 8

    @property
    def key(self) -> str:
        """Stable identity of the target for the outbox (a hash: the URL itself is a secret)."""
        import hashlib

        return hashlib.blake2b(f"{self.kind}\0{self.url}".encode(), digest_size=6).hexdigest()

    @property
    def label(self) -> str:
        return self.name or f"{self.kind} {redact_url(self.url)}"


def redact_url(url: str) -> str:
    """``https://hooks.slack.com/services/***``: scheme and host, never the path's token or a password."""
    try:
        p = urlsplit(url)
        host = p.hostname or "?"
        host = f"[{host}]" if ":" in host else host
        port = f":{p.port}" if p.port else ""
    except ValueError:  # a malformed host or port
        return "<invalid url>"
    first = p.path.strip("/").split("/")[0] if p.path.strip("/") else ""
    return f"{p.scheme}://{host}{port}/" + (f"{first}/***" if first else "***")


def load_targets(path: str | Path | None = None) -> list[Target]:
    """The ``[[notify]]`` targets of ``path`` (default ./runbrief.toml); [] when there is none.

    Raises ``ConfigError`` naming file:line and the key of the first bad value.
    """
    from runbrief.evals import config as cfgmod

    cfg = cfgmod.load(path)
    raw = cfg.data.get("notify")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise cfg.error("notify", None, "expected [[notify]] tables (an array of tables)")
    out = []
    for i, entry in enumerate(raw):
        def bad(key: str | None, msg: str, i: int = i) -> Exception:
            return cfg.error("notify", key, msg, index=i)

        if not isinstance(entry, dict):
            raise bad(None, "expected a table")
        unknown = sorted(set(entry) - _KEYS)
        if unknown:
            raise bad(unknown[0], f"unknown key; known: {', '.join(sorted(_KEYS))}")
        kind = entry.get("kind")
        if kind not in KINDS:
            raise bad("kind", f"expected one of {', '.join(KINDS)}, got {kind!r}")
        url = entry.get("url")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise bad("url", "expected an http(s) URL" + (f", got {type(url).__name__}" if not isinstance(url, str)
                                                          else ""))
        events = entry.get("events", list(EVENTS))
        if not isinstance(events, list) or not events or any(e not in EVENTS for e in events):
            raise bad("events", f"expected a list of {', '.join(EVENTS)}, got {events!r}")
        service = entry.get("service")
        if service is not None and (not isinstance(service, str) or not service):
            raise bad("service", "expected a service name")
        nums: dict[str, Any] = {}
        for key, default, lo in (("max_per_minute", 10, 1), ("timeout_s", 5.0, 0.1), ("backoff_s", 1.0, 0.0),
                                 ("max_attempts", 8, 1)):
            v = entry.get(key, default)
            if isinstance(v, bool) or not isinstance(v, int | float) or v < lo:
                raise bad(key, f"expected a number >= {lo}, got {v!r}")
            nums[key] = type(default)(v)
        web = entry.get("web_url")
        if web is not None and (not isinstance(web, str) or urlsplit(web).scheme not in ("http", "https")):
            raise bad("web_url", "expected an http(s) URL")
        name = entry.get("name", "")
        if not isinstance(name, str):
            raise bad("name", "expected a string")
        out.append(Target(kind, url, tuple(events), service, web_url=web.rstrip("/") if web else None, name=name,
                          **nums))
    return out
