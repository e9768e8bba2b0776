"""Timestamp values found in structured logs and Kubernetes objects, to int ns since the epoch.

Structured logs carry their time as RFC 3339 / ISO-8601 text (with up to nanosecond
fractions that ``datetime`` would truncate to microseconds) or as an epoch number in
seconds, milliseconds, microseconds or nanoseconds. Both forms are handled here; the
expensive part of a text time (date and zone → epoch seconds) repeats from line to line,
so it is cached. Times without a zone are taken as UTC.

Every function answers 0 ("no time") for a time the store cannot hold: int64 nanoseconds
end in April 2262, so ``9999-12-31`` or an epoch of 1e19 ns is no time at all, never a
value that overflows a column later and costs its whole batch.
"""

from __future__ import annotations

import calendar
import re
from typing import Any

__all__ = ["parse_iso", "epoch_to_ns", "to_ns"]

_ISO = re.compile(
    r"\s*(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2}))?(?:[.,](\d{1,9})\d*)?"
    r"\s*(Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?\s*$"
)
_NS_PAD = ("", "00000000", "0000000", "000000", "00000", "0000", "000", "00", "0", "")
_cache: dict[tuple[str, ...], int] = {}
MAX_NS = (1 << 63) - 1  # the last nanosecond an int64 column holds (2262-04-11)


def _offset_s(tz: str | None) -> int:
    if not tz or tz in ("Z", "z", "UTC", "GMT"):
        return 0
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    hours = int(digits[:2])
    minutes = int(digits[2:4] or 0)
    return sign * (hours * 3600 + minutes * 60)


def parse_iso(text: str) -> int:
    """An RFC 3339 / ISO-8601 time to ns since the epoch; 0 when it is not one."""
    m = _ISO.match(text)
    if m is None:
        return 0
    y, mo, d, h, mi, s, frac, tz = m.groups()
    key = (y, mo, d, h, mi, s or "0", tz or "")
    secs = _cache.get(key)
    if secs is None:
        if not (1 <= int(mo) <= 12 and 1 <= int(d) <= 31 and int(h) < 24 and int(mi) < 60):
            return 0
        try:
            secs = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(s or 0), 0, 0, 0))
        except (ValueError, OverflowError):
            return 0
        secs -= _offset_s(tz)
        if len(_cache) > 50_000:
            _cache.clear()
        _cache[key] = secs
    ns = int(frac + _NS_PAD[len(frac)]) if frac else 0
    out = secs * 1_000_000_000 + ns
    return out if 0 <= out <= MAX_NS else 0


def epoch_to_ns(value: float | int) -> int:
    """An epoch number in s, ms, µs or ns (told apart by magnitude) to ns; 0 if implausible."""
    v = float(value)
    if v <= 0:
        return 0
    if v < 1e11:  # seconds (until year 5138)
        return int(round(v * 1e9))
    if v < 1e14:
        return int(round(v * 1e6))
    if v < 1e17:
        return int(v) * 1000
    if v < 1e20:
        out = int(value)
        return out if out <= MAX_NS else 0
    return 0


def to_ns(value: Any) -> int:
    """Any time value a structured log may hold (text or number) to ns; 0 when unknown."""
    if value is None or isinstance(value, bool):
        return 0
    if isinstance(value, int | float):
        return epoch_to_ns(value)
    if isinstance(value, str):
        s = value.strip()
        if not s:
            return 0
        c = s[0]
        if c.isdigit() and len(s) > 4 and s[4] == "-":
            return parse_iso(s)
        try:
            return epoch_to_ns(float(s))
        except ValueError:
            return 0
    if isinstance(value, dict):
        # protobuf-JSON Timestamp {"seconds": .., "nanos": ..} and Loki-ish {"$date": ..}
        if "seconds" in value:
            try:
                out = int(value["seconds"]) * 1_000_000_000 + int(value.get("nanos") or 0)
            except (TypeError, ValueError, OverflowError):
                return 0
            return out if 0 <= out <= MAX_NS else 0
        if "$date" in value:
            return to_ns(value["$date"])
    return 0
