"""Recognize the header of a raw log line: timestamp, level, host, process, logger.

A plain-text log line is ``<header> <message>``, where the header is whatever the logging
framework or the transport put in front of the text the program wrote. The file ingest
keeps the header as fields, and the miner mines only the message, so a raw file parses
as well as its bare message column.

Two layers, both general (nothing here is keyed to one data set):

1. Well-known line formats matched by one regex each: syslog RFC 5424 and RFC 3164
   (with the BSD ``tag[pid]:``), klog (``I0102 15:04:05.000000 1 file.go:12]``), Android
   logcat, Apache/nginx access logs, nginx error logs and Python's default
   ``LEVEL:name:message``.
2. A token walk for the long tail (log4j/logback, Python logging with a format string,
   Go's log, oslo, Windows CBS, Apache error logs, epoch-prefixed lines, pipe-separated
   headers...): a header is a run of *header-like* tokens (dates, times, epochs, numbers,
   ids, ``-``, bracketed groups, upper-case words) that ends on an *anchor*, a timestamp
   or a level word; after a level come at most a thread ``[...]``, a qualified logger
   (``org.foo.Bar:``, ``pkg.module``) with one context ``[...]``, and a separator. When in
   doubt a token stays in the message: a kept prefix costs a constant in a template, a
   message token taken for a header loses information.

``split_header`` never raises; a line with no recognizable header comes back with
``message=line`` and ``ts_ns=None``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any

from runbrief.records import severity_name, severity_number_for

__all__ = ["Header", "split_header", "detect_format", "parse_ts", "level_of", "FORMATS", "LEVEL_WORDS"]


@dataclass(slots=True)
class Header:
    ts_ns: int | None
    level: str
    host: str
    process: str
    logger: str
    message: str
    fmt: str


LEVEL_WORDS = frozenset(
    ["TRACE", "DEBUG", "DBG", "INFO", "INFORMATION", "NOTICE", "WARN", "WARNING", "ERROR", "ERR", "SEVERE", "CRITICAL", "CRIT", "FATAL", "ALERT", "EMERG", "EMERGENCY", "PANIC", "FAILURE", "FINE", "FINER", "FINEST", "CONFIG", "VERBOSE"]
)


# words that are a level only in a header's bracket or as PostgreSQL's ``LOG:`` (MySQL's
# ``[Note]``/``[System]``): as a bare first word they are too often message text
_EXTRA_LEVELS = {"LOG": "INFO", "NOTE": "INFO", "SYSTEM": "INFO"}


def level_of(word: str) -> str:
    """Normalize a level word to TRACE/DEBUG/INFO/WARN/ERROR/FATAL ("" if unknown)."""
    w = word.strip().upper()
    if w == "FAILURE":
        return "ERROR"
    if w in _EXTRA_LEVELS:
        return _EXTRA_LEVELS[w]
    return severity_name(severity_number_for(w))


_MONTHS = {m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
# Time-zone abbreviations with their UTC offsets: the ones that name one zone. A zone named
# after the clock is part of the header and the time is converted with it.
TZ_ABBREVIATIONS = {
    "UTC": "+00:00", "GMT": "+00:00", "WET": "+00:00", "WEST": "+01:00", "BST": "+01:00", "CET": "+01:00",
    "CEST": "+02:00", "MET": "+01:00", "MEST": "+02:00", "EET": "+02:00", "EEST": "+03:00", "MSK": "+03:00",
    "SAST": "+02:00", "EAT": "+03:00", "PKT": "+05:00", "WIB": "+07:00", "ICT": "+07:00", "SGT": "+08:00",
    "HKT": "+08:00", "JST": "+09:00", "KST": "+09:00", "AWST": "+08:00", "ACST": "+09:30", "ACDT": "+10:30",
    "AEST": "+10:00", "AEDT": "+11:00", "NZST": "+12:00", "NZDT": "+13:00",
    "EST": "-05:00", "EDT": "-04:00", "CDT": "-05:00", "MST": "-07:00", "MDT": "-06:00",
    "PST": "-08:00", "PDT": "-07:00", "AKST": "-09:00", "AKDT": "-08:00", "HST": "-10:00", "NST": "-03:30",
    "NDT": "-02:30",
}
# Abbreviations that name several zones (CST: US Central, China, Cuba; IST: India, Ireland,
# Israel; AST: Atlantic, Arabia; ADT): still header, but the clock is taken as written (as a
# time without a zone is) rather than shifted by a guess.
TZ_AMBIGUOUS = frozenset(["CST", "IST", "AST", "ADT"])
_TZ_NAMES = "|".join(sorted([*TZ_ABBREVIATIONS, *TZ_AMBIGUOUS], key=len, reverse=True))
_TS_ISO = re.compile(
    r"(?P<y>\d{4})(?:[-/.](?P<mo>\d{1,2})[-/.](?P<d>\d{1,2})|(?P<mo2>\d\d)(?P<d2>\d\d))(?:[T _:-]+)(?P<h>\d{1,2})[:.]?(?P<mi>\d{1,2})[:.]?(?P<s>\d{1,2})"
    r"(?:[.,:](?P<f>\d{1,9}))?\s*(?P<tz>Z|[+-]\d\d:?\d\d)?(?: ?\b(?P<tzn>" + _TZ_NAMES + r")\b)?"
)
_TS_YMD2 = re.compile(r"(?P<y>\d\d)[-/.]?(?P<mo>\d\d)[-/.]?(?P<d>\d\d)[ T]+(?P<h>\d\d):?(?P<mi>\d\d):?(?P<s>\d\d)(?:[.,](?P<f>\d+))?")
_TS_MON = re.compile(
    r"(?:[A-Z][a-z]{2},? )?(?P<mon>[A-Z][a-z]{2})[a-z]* +(?P<d>\d{1,2}),?(?: (?P<y>\d{4}))? +(?P<h>\d{1,2}):(?P<mi>\d\d):(?P<s>\d\d)"
    r"(?:[.,](?P<f>\d+))?(?: (?P<tzn>" + _TZ_NAMES + r"))?(?: (?P<y2>\d{4}))?"
)
_TS_DMON = re.compile(
    r"(?:[A-Z][a-z]{2},? )?(?P<d>\d{1,2})[ -](?P<mon>[A-Z][a-z]{2})[a-z]*[ -](?P<y>\d{4}|\d\d)[ :]+(?P<h>\d{1,2}):(?P<mi>\d\d)"
    r"(?::(?P<s>\d\d)(?:[.,](?P<f>\d+))?)?(?: ?(?P<tz>Z|[+-]\d\d:?\d\d))?(?: \(?(?P<tzn>" + _TZ_NAMES + r")\b)?"
)
_TS_CLF = re.compile(r"(?P<d>\d\d)/(?P<mon>[A-Z][a-z]{2})/(?P<y>\d{4}):(?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d)(?: (?P<tz>[+-]\d{4}))?")
_TS_MD = re.compile(r"(?P<mo>\d\d)[-.](?P<d>\d\d) +(?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d)(?:[.,](?P<f>\d+))?")
_TS_EPOCH = re.compile(r"\b(?:(1\d{9})(?:\.(\d{1,9}))?|(1\d{12}))\b")
_DEFAULT_YEAR = 1970


def _days_from_civil(y: int, m: int, d: int) -> int:
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _ns(y: int, mo: int, d: int, h: int, mi: int, s: int, frac: str | None, tz: str | None) -> int | None:
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 62):
        return None
    secs = _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
    if tz and tz not in ("Z", "UTC", "GMT"):
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        secs -= sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)
    ns = secs * 1_000_000_000
    if frac:
        ns += int(frac[:9].ljust(9, "0"))
    return ns


def parse_ts(text: str, year: int | None = None) -> int | None:
    """Best-effort: a header's time text to ns since the epoch (UTC when no zone is given).

    Formats without a year (syslog, logcat) take ``year`` (default 1970: the caller that
    knows better, e.g. from the file's mtime, passes it)."""
    text = text.strip().strip("[]")
    yr = year or _DEFAULT_YEAR
    for rx in (_TS_ISO, _TS_DMON, _TS_MON, _TS_CLF, _TS_YMD2, _TS_MD, _TS_EPOCH):
        m = rx.search(text)
        if m is None:
            continue
        g = m.groupdict()
        try:
            if rx is _TS_EPOCH:
                if m.group(3):
                    return int(m.group(3)) * 1_000_000
                return int(m.group(1)) * 1_000_000_000 + int((m.group(2) or "0")[:9].ljust(9, "0"))
            if "mon" in g:
                mo = _MONTHS.get(g["mon"].lower())
                y = int(g.get("y") or g.get("y2") or yr)
            else:
                mo = int(g.get("mo") or g.get("mo2") or 0)
                y = int(g["y"]) if g.get("y") else yr
            if y < 100:
                y += 2000
            if not mo:
                continue
            tz = g.get("tz") or TZ_ABBREVIATIONS.get(g.get("tzn") or "")
            ns = _ns(y, mo, int(g.get("d") or g.get("d2") or 0), int(g["h"]), int(g["mi"]), int(g["s"] or 0),
                     g.get("f"), tz)
        except (ValueError, OverflowError, TypeError):
            continue
        if ns is not None:
            return ns
    return None


_SYSLOG_PRI = {0: "FATAL", 1: "FATAL", 2: "FATAL", 3: "ERROR", 4: "WARN", 5: "INFO", 6: "INFO", 7: "DEBUG"}

_RFC5424 = re.compile(
    r"<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<pid>\S+) (?P<msgid>\S+) "
    r"(?P<sd>-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (?P<msg>.*))?$",
    re.S,
)
_RFC3164 = re.compile(
    r"(?:<(?P<pri>\d{1,3})>)?(?P<ts>[A-Z][a-z]{2} [ \d]\d (?:\d{4} )?\d\d:\d\d:\d\d(?:\.\d+)?)"
    r"(?: (?P<host>[\w.:@/-]+))?"
    r" (?P<tag>[\w./@-]+(?:\([^()\s]*\))?|[\w./@-]+(?: [\w.@-]+){1,3}(?=\[\d+\]))(?:\[(?P<pid>\d+)\])?"
    r"(?: \([^()\s]*\))?: ?(?P<msg>.*)$",
    re.S,
)
# Syslog whose tag does not parse (``syslogd 1.4.1: restart.``): time and host only.
_RFC3164_BARE = re.compile(
    r"(?:<(?P<pri>\d{1,3})>)?(?P<ts>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?) (?P<host>[\w.:-]+) (?P<msg>.*)$",
    re.S,
)
_KLOG = re.compile(
    r"(?P<lvl>[IWEF])(?P<ts>\d{4} \d\d:\d\d:\d\d\.\d+) +(?P<pid>\d+) (?P<logger>[\w./-]+:\d+)\] ?(?P<msg>.*)$", re.S
)
_LOGCAT = re.compile(
    r"(?P<ts>\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) +(?P<pid>\d+) +(?P<tid>\d+) (?P<lvl>[VDIWEFA]) "
    r"(?P<logger>[^:]*?) *: ?(?P<msg>.*)$",
    re.S,
)
_ACCESS = re.compile(
    r'(?P<host>[\w.:-]+) \S+ \S+ \[(?P<ts>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d(?: [+-]\d{4})?)\] '
    r'(?P<msg>"[^"]*" \d{3} .*)$',
    re.S,
)
_NGINX_ERR = re.compile(
    r"(?P<ts>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(?P<lvl>[a-z]+)\] (?P<pid>\d+)#\d+: (?:\*\d+ )?(?P<msg>.*)$", re.S
)
# Ruby's Logger: "I, [1999-03-03T02:34:24.895701 #19074]  INFO -- Main: info."
_RUBY = re.compile(
    r"[DIWEFAU], \[(?P<ts>[\dT:.+\- ]+) #(?P<pid>\d+)\] +(?P<lvl>[A-Z]+) -- (?P<logger>[^:]*?): ?(?P<msg>.*)$", re.S
)
# Redis: "1:M 04 Jan 2024 12:00:00.123 * Ready to accept connections" (pid:role, level mark)
_REDIS = re.compile(
    r"(?P<pid>\d+):(?P<role>[XCSM]) (?P<ts>\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d\.\d{3}) (?P<lvl>[.\-*#]) (?P<msg>.*)$",
    re.S,
)
_REDIS_LEVELS = {".": "DEBUG", "-": "DEBUG", "*": "INFO", "#": "WARN"}
_PYDEFAULT = re.compile(r"(?P<lvl>DEBUG|INFO|WARNING|ERROR|CRITICAL):(?P<logger>[\w.]+):(?P<msg>.*)$", re.S)

# name -> (regex, ts group, level group, host group, process group, logger group)
FORMATS: dict[str, tuple[re.Pattern[str], str, str, str, str, str]] = {
    "rfc5424": (_RFC5424, "ts", "pri", "host", "app", "msgid"),
    "syslog": (_RFC3164, "ts", "pri", "host", "tag", ""),
    "syslog-bare": (_RFC3164_BARE, "ts", "pri", "host", "", ""),
    "klog": (_KLOG, "ts", "lvl", "", "pid", "logger"),
    "logcat": (_LOGCAT, "ts", "lvl", "", "pid", "logger"),
    "access": (_ACCESS, "ts", "", "host", "", ""),
    "nginx-error": (_NGINX_ERR, "ts", "lvl", "", "pid", ""),
    "python-default": (_PYDEFAULT, "", "lvl", "", "", "logger"),
    "ruby": (_RUBY, "ts", "lvl", "", "pid", "logger"),
    "redis": (_REDIS, "ts", "lvl", "", "pid", ""),
}
_FIRST = {  # cheap first-character filter for each regex family
    "rfc5424": "<",
    "syslog": "<ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "syslog-bare": "<ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "klog": "IWEF",
    "logcat": "0123456789",
    "access": None,
    "nginx-error": "0123456789",
    "python-default": "DIWEC",
    "ruby": "DIWEFAU",
    "redis": "0123456789",
}


def _from_regex(name: str, m: re.Match[str], want_ts: bool = True) -> Header:
    _, g_ts, g_lvl, g_host, g_proc, g_logger = FORMATS[name]
    d = m.groupdict()
    level = ""
    if g_lvl == "pri":
        if d.get("pri"):
            level = _SYSLOG_PRI[int(d["pri"]) % 8]
    elif name == "redis":
        level = _REDIS_LEVELS[d["lvl"]]
    elif g_lvl:
        level = level_of(d.get(g_lvl) or "")
    process = d.get(g_proc) or "" if g_proc else ""
    if name == "syslog" and d.get("pid"):
        process = f"{process}[{d['pid']}]"
    ts_text = d.get(g_ts) if g_ts else None
    if name == "klog" and ts_text:
        ts_text = f"{ts_text[:2]}-{ts_text[2:]}"
    ts = parse_ts(ts_text) if ts_text and want_ts else None
    return Header(
        ts_ns=ts,
        level=level,
        host=(d.get(g_host) or "") if g_host else "",
        process=process,
        logger=(d.get(g_logger) or "") if g_logger else "",
        message=(d.get("msg") or "").lstrip(" "),
        fmt=name,
    )


def _try_regexes(line: str, order: Iterable[str], want_ts: bool = True) -> Header | None:
    c = line[:1]
    for name in order:
        first = _FIRST[name]
        if first is not None and c not in first:
            continue
        m = FORMATS[name][0].match(line)
        if m:
            return _from_regex(name, m, want_ts)
    return None


# ------------------------------------------------------------------ token walk
_BR_OPEN = "[({<"
_BR_CLOSE = {"[": "]", "(": ")", "{": "}", "<": ">"}


_TOK = re.compile(r"\[(?:[^\[\]\n]|\[[^\[\]\n]*\])*\]\S*|\S+")


def _tokens(line: str, limit: int = 14) -> list[tuple[int, int]]:
    """Spans of the first ``limit`` whitespace tokens; a ``[...]`` group (one level of
    nesting, blanks allowed) is one token."""
    return [m.span() for m in islice(_TOK.finditer(line, 0, min(len(line), 2000)), limit)]


_TS_TOKEN = re.compile(
    r"""(?x)
    \d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[T_:\-]\d{1,2}[:.]\d{1,2}(?:[:.]\d{1,2}(?:[.,:]\d+)?)?)?(?:Z|[+-]\d\d:?\d\d)?,?
  | \d{1,2}[-/.]\d{1,2}[-/.]\d{2,4},?
  | \d{1,2}:(?:\d\d(?::\d{1,2})?|\d{1,2}:\d{1,2})(?:[.,:]\d+)?(?:Z|[+-]\d\d:?\d\d)?,?
  | \d{8}[-T ]?\d\d:?\d\d:?\d\d(?:[.,:]\d+)? | \d{8}[-T ]?\d{1,2}:\d{1,2}:\d{1,2}(?:[.,:]\d+)?
  | \d{10}(?:\.\d+)? | \d{13}
  | (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*,?
  | (?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?
  | Z | [+-]\d{4} | [+-]\d\d:\d\d
    """
    + "|(?:" + _TZ_NAMES + "),?"
)
# a clock inside a bracket: not part of an address (``[Thread:user@host-41:9000]``, ``/10.0.0.1:4992``)
_TIME_IN = re.compile(r"(?<![\w.:/@-])\d{1,2}:(?:\d\d(?::\d{1,2})?|\d{1,2}:\d{1,2})(?![\d])")
_ID_TOKEN = re.compile(r"[\w.:/@#$*+-]*\d[\w.:/@#$*+\-]*|[A-Z][A-Z0-9_]{1,23}|[a-z_][\w-]*(?:\.[\w-]+)+")
_LOGGER = re.compile(r"[A-Za-z_$][\w$-]*(?:[./][\w$-]+)+(?:\[[\w ./#:-]*\])?:?")
# a host name without digits ("host-a", "web.example.com") is a host only before a tag[pid]:
_HOST_WORD = re.compile(r"[A-Za-z][\w-]*(?:\.[\w-]+)*")
_TAG = re.compile(r"[\w./-]+(?:\([^()\s]*\))?\[\d+\]:")
# after "<time> <host>", a program name ends with ":" with or without its [pid] ("dhcpd:")
_TAG_AFTER_HOST = re.compile(r"(?!\d)[\w./-]+(?:\([^()\s]*\))?(?:\[\d+\])?:")


# A thread name right after the level (log4j's ``%-5p [%t] %m``): one bracket, no blank,
# with a lower-case letter or a digit (``[main]``, ``[pool-1-thread-3]``,
# ``[LeaseRenewer:user@host-41:9000]``); ``[SECURITY]`` or ``[client 1.2.3.4]`` stay text.
_THREAD = re.compile(r"\[(?=[^\]]*[a-z0-9])[^\s\[\]]{1,80}\]")


def _is_level(tok: str) -> str:
    if tok[-2:] in ("]:", ">:", "):"):  # fluentd: [info]:
        tok = tok[:-1]
    if tok[:1] in "[<(" and tok[-1:] in "]>)":
        inner = tok[1:-1].strip()
        if ":" in inner:  # Apache 2.4: [core:error]
            inner = inner.rsplit(":", 1)[1]
        up = inner.upper()
        return level_of(inner) if up in LEVEL_WORDS or (up in _EXTRA_LEVELS and inner.istitle()) else ""
    if tok == "LOG:":  # PostgreSQL
        return "INFO"
    word = tok.rstrip(":,")
    if word.isupper() or word.istitle():
        up = word.upper()
        if up in LEVEL_WORDS and len(up) > 1:
            return level_of(up)
    return ""


_DATE_FIRST = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{10}(?:\.\d+)?$|\d{13}$")
_SRC_LINE = re.compile(r"[\w$.-]+\.[a-z]{1,5}:\d+")
_BR_PID = re.compile(r"\[\d+\]")
_STRONG_TS = re.compile(r"\d{10}(?:\.\d+)?|\d{13}|\d{4}-\d\d-\d\d[T_:\-]\d\d[:.]\d\d[:.]\d\d.*")


def _strong_ts_ahead(toks: list[str], kinds: list[str], i: int) -> bool:
    """Is there an epoch or a full ISO date-time within the next few tokens?"""
    for j in range(i + 1, min(i + 4, len(toks))):
        if kinds[j] == "ts" and _STRONG_TS.fullmatch(toks[j]):
            return True
    return False


_DIGITS = str.maketrans("123456789", "000000000")
_MISS = object()
_PLANS: dict[str, tuple[Any, ...] | None] = {}
_PLANS_MAX = 50_000


def _walk(line: str, want_ts: bool = True) -> Header | None:
    """The generic header walk, cached by the shape of the line's first tokens.

    Every rule of the walk looks at character classes, token lengths and letters, never
    at which digit stands where, so lines whose first tokens differ only in their digits
    split the same way: the plan (token indices) is computed once per shape and applied to
    each line (measured on loghub-2k: about 2x faster than walking every line).
    """
    spans = _tokens(line)
    if not spans:
        return None
    toks = [line[a:b] for a, b in spans]
    key = "\x1f".join(toks).translate(_DIGITS)
    plan = _PLANS.get(key, _MISS)
    if plan is _MISS:
        if len(_PLANS) >= _PLANS_MAX:
            _PLANS.clear()
        plan = _PLANS[key] = _walk_plan(toks)
    if plan is None:
        return None
    msg_tok, ts_idx, level_at, host_idx, process, logger_idx, fmt = plan
    n = len(toks)
    if process is None:
        proc = ""
    elif process[0] == "strip":
        proc = toks[process[1]].strip("[]").strip()
    elif process[0] == "range":
        proc = line[spans[process[1]][0] : spans[process[2]][1]]
    else:  # "tag"
        proc = toks[process[1]][:-1]
    ts_text = " ".join(toks[i] for i in ts_idx)
    return Header(
        ts_ns=parse_ts(ts_text) if ts_text and want_ts else None,
        level=_is_level(toks[level_at]) if level_at >= 0 else "",
        host=toks[host_idx] if host_idx >= 0 else "",
        process=proc,
        logger=toks[logger_idx].rstrip(":") if logger_idx >= 0 else "",
        message=line[spans[msg_tok][0]:] if msg_tok < n else "",
        fmt=fmt,
    )


_MONTH_TOKEN = re.compile(r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*,?")


def _time_tokens(toks: list[str], kinds: list[str], anchor: int) -> tuple[int, ...]:
    """The tokens that make the time: its ``ts`` tokens and the numbers among them, so a
    day or year written as a bare number stays with its month (``19 Jul 18 15:50 CEST``,
    Go's RFC 822; ``Sun Dec 4 04:47:44 2005``, C's ``ctime``)."""
    idx = [j for j, k in enumerate(kinds[: anchor + 1]) if k == "ts"]
    if not idx:
        return ()
    lo, hi = idx[0], idx[-1]
    out = [j for j in range(lo, hi + 1) if kinds[j] in ("ts", "int")]
    month = any(_MONTH_TOKEN.fullmatch(toks[j]) for j in idx)
    if month and lo > 0 and kinds[lo - 1] == "int" and len(toks[lo - 1]) <= 2:
        out.insert(0, lo - 1)  # the day before the month
    if month and hi + 1 < len(toks) and hi + 1 <= anchor + 1 and kinds[hi + 1] == "int" and len(toks[hi + 1]) == 4:
        out.append(hi + 1)  # the year after the clock
    return tuple(out)


def _kind(t: str) -> str:
    """A token's class for the walk; like the walk, blind to which digit stands where."""
    if _TS_TOKEN.fullmatch(t) or (t[:1] == "[" and len(t) < 48 and (_TIME_IN.search(t) or _time_field(t[1:-1]))):
        return "ts"
    if _is_level(t):
        return "lvl"
    if t.isdigit() or (t[:1] == "-" and t[1:].isdigit()):
        return "int"
    if t in ("-", "|", "--"):
        return "sep"
    if t[:1] == "[":
        return "br"
    if _ID_TOKEN.fullmatch(t):
        return "id"
    return "word"


_KINDS: dict[str, str] = {}


def _walk_plan(toks: list[str]) -> tuple[Any, ...] | None:
    """Where the header of a line with these tokens ends, and which tokens are its fields."""
    kinds: list[str] = []
    if len(_KINDS) > 100_000:
        _KINDS.clear()
    for t in toks:
        key = t.translate(_DIGITS)
        k = _KINDS.get(key)
        if k is None:
            k = _KINDS[key] = _kind(key)
        kinds.append(k)
    # 6-digit yymmdd followed by 6-digit hhmmss (Hadoop 0.x, HDFS)
    if len(toks) > 1 and kinds[0] == "int" and len(toks[0]) == 6 and len(toks[1]) == 6 and toks[1].isdigit():
        kinds[0] = kinds[1] = "ts"
    # The header ends on its last anchor (ts/lvl) reached through header-like tokens only.
    anchor = -1
    level_at = -1
    has_ts = False
    words = 0
    for i, k in enumerate(kinds[:11]):
        if k == "word":
            # Column exports ("<id> <node> <component> <state> <epoch> ..."): a few words
            # may come before a full timestamp, when the line starts with a number or id.
            words += 1
            if words > 3 or kinds[0] not in ("int", "id", "sep") or not _strong_ts_ahead(toks, kinds, i):
                break
            continue
        if k == "ts":
            anchor, has_ts = i, True
        elif k == "lvl":
            anchor, level_at = i, i
            break
    if anchor < 0 or (level_at < 0 and not has_ts):
        if kinds[0] == "lvl":  # "ERROR: disk full", "[WARN] retrying"
            anchor = level_at = 0
        else:
            return None
    if not has_ts and level_at > 0:
        return None  # a level word deep in a line without a time is message text
    host_idx = logger_idx = -1
    late_ts: list[int] = []
    process: tuple[Any, ...] | None = None
    i = anchor + 1
    n = len(toks)
    if level_at < 0:
        while i < n and (kinds[i] == "int" or _BR_PID.fullmatch(toks[i])):  # pid / sequence numbers after the time
            i += 1
        if i < n and kinds[i] == "lvl":
            level_at = i
            i += 1
    if level_at >= 0:
        for j in range(level_at - 1, -1, -1):  # "time - name - LEVEL - message"
            if kinds[j] == "ts":
                break
            if kinds[j] == "id" and _LOGGER.fullmatch(toks[j]) and not toks[j][:1].isdigit():
                logger_idx = j
                break
        j = i + 1 if i < n and kinds[i] == "br" else i  # Spring Cloud Sleuth's [app,trace,span,export]
        if j + 1 < n and kinds[j] == "int" and toks[j + 1] == "---":  # Spring Boot: "pid --- [thread] logger : msg"
            i = j + 2
        if i < n and kinds[i] == "br" and i + 1 < n and (
            toks[i + 1] in ("-", ":") or _LOGGER.fullmatch(toks[i + 1]) or _THREAD.fullmatch(toks[i])
        ):
            process = ("strip", i)
            i += 1
        if not has_ts and i < n and _DATE_FIRST.match(toks[i]):  # Cassandra: "LEVEL [thread] <date> <time> ..."
            while i < n and kinds[i] == "ts":
                late_ts.append(i)
                i += 1
            if i + 1 < n and _SRC_LINE.fullmatch(toks[i]) and toks[i + 1] in ("-", ":"):
                logger_idx = i  # "CassandraDaemon.java:123 - msg"
                i += 1
        # after a thread, a logger says so with ":" or a separator ("[main] power/control
        # problem" is message text); right after the level, oslo's logger has neither
        if logger_idx < 0 and i < n and _LOGGER.fullmatch(toks[i]) and (
            process is None or toks[i].endswith(":") or (i + 1 < n and toks[i + 1] in ("-", ":", "|"))
        ):
            logger_idx = i
            i += 1
            if not toks[i - 1].endswith(":") and i < n and kinds[i] == "br" and i + 1 < n:
                i += 1  # oslo's [request-id user tenant ...] context after the logger
        if i < n and toks[i] in ("-", ":", "|"):
            i += 1
    else:
        dash = next((j for j in range(i + 1, min(i + 3, n)) if toks[j] == "-"), -1)
        if dash > 0 and dash + 1 < n and kinds[i] in ("id", "word") and all(
            kinds[j] in ("id", "int") for j in range(i + 1, dash)
        ):
            process = ("range", i, dash - 1)  # "[time] program *64 - message"
            i = dash + 1
        elif i + 1 < n and (
            (kinds[i] == "id" and _TAG_AFTER_HOST.fullmatch(toks[i + 1]))
            or (kinds[i] == "word" and _HOST_WORD.fullmatch(toks[i]) and _TAG.fullmatch(toks[i + 1]))
        ):
            host_idx, process = i, ("tag", i + 1)  # "<time> host tag[pid]: message" (rsyslog's RFC 3339 files)
            i += 2
        elif i < n and _TAG.fullmatch(toks[i]):
            process = ("tag", i)
            i += 1
        elif i < n and toks[i] in ("-", "|"):
            i += 1
    ts_idx = _time_tokens(toks, kinds, anchor) + tuple(late_ts)
    return (i, ts_idx, level_at, host_idx, process, logger_idx, "level" if level_at >= 0 else "timestamp")


# a pipe-separated header starts with a time field: digits and time punctuation only, at
# least six digits, padded or not (``20171224-0:0:0:215|``, ``2017-12-24 00:00:00.215|``)
_PIPE_TS = re.compile(r"(?=(?:[^|\d]*\d){6})[\d:./T ,+-]{6,40}(?:Z| ?[A-Z]{3,4})?\|")


def _pipes(line: str, want_ts: bool = True) -> Header | None:
    """``20171223-22:15:29:606|Component|1234|message``: fields without spaces, then text."""
    m = _PIPE_TS.match(line)
    if not m:
        return None
    fields = line.split("|", 5)
    used = 1
    while used < len(fields) - 1 and used < 4 and " " not in fields[used] and fields[used]:
        used += 1
    start = sum(len(f) + 1 for f in fields[:used])
    return Header(
        ts_ns=parse_ts(fields[0]) if want_ts else None,
        level="",
        host="",
        process=fields[2] if used > 2 else "",
        logger=fields[1] if used > 1 else "",
        message=line[start:],
        fmt="pipes",
    )


# ------------------------------------------------------------------ bracket runs
# ``[2018-05-02T10:15:04,123][INFO ][o.e.n.Node     ] [node-1] msg`` (Elasticsearch, Logstash,
# Kibana 8, log4j's ``[%d][%p][%c]``, Apache's ``[time] [level]``): a run of bracketed fields
# at the line start, one of them a time. Each field is classified on its own (time, level,
# or a name without blanks), wherever it stands and however it is padded.
_BR_FIELD = re.compile(r"\[([^\[\]\n]{0,120})\]")
_BR_MAX = 6


def _time_field(inner: str) -> bool:
    """Is a bracket's text a time: only time tokens and numbers, with a clock or a date in it."""
    toks = inner.split()
    if not toks or len(toks) > 6:
        return False
    if not all(_TS_TOKEN.fullmatch(t) or t.isdigit() for t in toks):
        return False
    return any(":" in t or _DATE_FIRST.match(t) for t in toks)


def _brackets(line: str, want_ts: bool = True) -> Header | None:
    """Split a header made of bracketed fields (see above), or None when the line has none.

    Fields written back to back (``][``) belong to the header whatever they hold, unless a
    blank inside shows text (``[client 1.2.3.4]``); a field after a blank joins only once
    the run has a time and a level, and holds no blank: after two such name fields (a
    logger and a node, a thread and a pipeline) the message begins, so message brackets
    (``[controller/24076] [Main.cc@110]``) stay text. The run must hold a time and
    either a level or two fields back to back; anything else is left to the token walk."""
    pos = 0
    ts_text = ""
    level = ""
    names: list[str] = []
    adjacent = 0
    end = 0
    while len(names) < 2:
        m = _BR_FIELD.match(line, pos)
        if m is None:
            break
        raw = m.group(1)
        inner = raw.strip()
        glued = pos > 0 and line[pos - 1] == "]"
        if not ts_text and _time_field(inner):
            ts_text = inner
        elif not level and _is_level(f"[{inner}]"):
            level = _is_level(f"[{inner}]")
        elif " " in inner or "\t" in inner or not ts_text or len(inner) > 80 or (not glued and not level):
            break  # text, not a field; or a name after a blank before any level
        else:
            names.append(inner)
        adjacent += glued
        end = m.end()
        if end < len(line) and line[end] == " " and line[end + 1 : end + 2] == "[":
            pos = end + 1
        else:
            pos = end
            if end < len(line) and line[end] != "[":
                break
        if len(names) + bool(ts_text) + bool(level) >= _BR_MAX:
            break
    if not ts_text or not (level or adjacent >= 1) or end == 0:
        return None
    logger = process = host = ""
    for name in names:
        if not logger and _LOGGER.fullmatch(name):
            logger = name
        elif not process:
            process = name
        elif not logger:
            logger = name
        else:
            host = name
    return Header(
        ts_ns=parse_ts(ts_text) if want_ts else None,
        level=level,
        host=host,
        process=process,
        logger=logger,
        message=line[end:].lstrip(" "),
        fmt="brackets",
    )


_MONTH_INITIALS = "JFMASOND"
_ORDER = ("rfc5424", "syslog", "klog", "logcat", "nginx-error", "access", "python-default", "ruby", "redis")


def split_header(line: str, fmt: str | None = None, *, ts: bool = True) -> Header:
    """Split ``line`` into header fields and message. ``fmt`` (from ``detect_format``)
    is tried first; every other format still applies, line by line. ``ts=False`` skips
    converting the time to nanoseconds (the miner only needs the split)."""
    try:
        h = None
        if fmt in FORMATS:
            h = _try_regexes(line, (fmt,), ts)
        if h is None:
            h = _try_regexes(line, _ORDER, ts)
        if h is None and line[:1] in _MONTH_INITIALS:
            h = _try_regexes(line, ("syslog-bare",), ts)
        if h is None and line[:1] == "[":
            h = _brackets(line, ts)
        if h is None and "|" in line[:40]:
            h = _pipes(line, ts)
        if h is None:
            h = _walk(line, ts)
    except (ValueError, IndexError, OverflowError):  # never let a header break ingest
        h = None
    if h is None:
        return Header(None, "", "", "", "", line, "")
    return h


def detect_format(sample_lines: Iterable[str]) -> str:
    """The most common header format among the sample ("" when none is recognized)."""
    counts = Counter(split_header(s).fmt for s in sample_lines if s.strip())
    if not counts:
        return ""
    return counts.most_common(1)[0][0]
