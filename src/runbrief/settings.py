"""Settings declared once: name, default, environment variable, help.

The table drives the environment lookup and the docs; a value that does
not parse names the variable and what it expects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from runbrief.errors import UsageError

__all__ = ["Setting", "SETTINGS", "get"]


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    env: str
    help: str

    def value(self) -> Any:
        raw = os.environ.get(self.env)
        if raw is None or raw == "":
            return self.default
        try:
            return type(self.default)(raw)
        except ValueError:
            raise UsageError(f"{self.env}={raw!r} is not a valid {type(self.default).__name__} ({self.help})") from None


SETTINGS = {s.name: s for s in (
    Setting("retention_days", 7.0, "RUNBRIEF_RETENTION_DAYS",
            "days of raw records (logs, spans, metric points) kept; 0 keeps everything"),
    Setting("rollup_retention_days", 90.0, "RUNBRIEF_ROLLUP_RETENTION_DAYS",
            "days of per-minute pattern counts kept (they are small and feed the baselines)"),
    Setting("max_store_mb", 4096.0, "RUNBRIEF_MAX_STORE_MB",
            "store size in MiB above which the oldest raw records are dropped; 0 means no limit"),
    Setting("retention_every_s", 300.0, "RUNBRIEF_RETENTION_EVERY_S", "how often the server applies retention"),
    # Drain secrets (runbrief.server.drains, docs/platforms.md): unset, a drain takes only the --token bearer.
    *(Setting(f"{p}_drain_secret", "", f"RUNBRIEF_{p.upper()}_DRAIN_SECRET", f"the secret {p} sends to /api/drains/{p}")
      for p in ("heroku", "vercel", "aws", "cloudflare", "railway", "supabase")),
    Setting("vercel_verify", "", "RUNBRIEF_VERCEL_VERIFY",
            "the value Vercel asks a new drain to answer in its x-vercel-verify header"),
    Setting("sentry_key", "", "RUNBRIEF_SENTRY_KEY",
            "the public key of the DSN Sentry SDKs send to /api/<project>/envelope/ "
            "(http://<key>@host:4318/<project>); required when the server has a --token"),
)}


def get(name: str) -> Any:
    return SETTINGS[name].value()
