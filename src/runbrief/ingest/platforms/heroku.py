"""Heroku: logplex HTTPS drains (``application/logplex-1``) and ``heroku logs`` output.

A drain POSTs syslog frames with octet-counting framing (RFC 6587 §3.4.1):
``120 <40>1 2012-11-30T06:45:29+00:00 host app web.3 - State changed ...``. Heroku's
frames carry no structured-data field and their PRI says nothing about severity (system
lines come as ``<40>``, i.e. emergency), so the level comes from the message. The fields
are ``host app|heroku <dyno>`` (older drains put the drain token first:
``d.73ea… app web.3`` or ``heroku web.3 d.73ea…``). ``heroku logs`` prints
``2010-10-06T21:51:37-07:00 heroku[router]: at=error code=H12 …``.

Heroku never sends the app's name: the service is the drain's ``?app=`` (or the file's
name). The dyno (``web.3``) is the instance. Router lines become HTTP fields (status,
method, path, duration) with the H-code as ``error.type``; dyno-manager errors (R-codes,
crashes, non-zero exits) are errors; ``Release v12 created by …`` from ``heroku[api]`` is
a deploy (with the commit of a ``Deploy 2ab3c4d by …`` line before it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from runbrief.ingest._times import parse_iso
from runbrief.ingest.platforms._common import Out, clean, inner_message
from runbrief.records import Deploy

__all__ = ["NAME", "sniff", "from_line", "from_drain", "frames"]

NAME = "heroku"
EXPECTED = "application/logplex-1 syslog frames (`83 <40>1 2012-11-30T06:45:29+00:00 host app web.3 - msg`)"
_FRAME_LEN = re.compile(rb"(\d{1,7}) ")
_FRAME_AT = re.compile(rb"\s*\d{1,7} <\d{1,3}>\d ")
_NEXT_FRAME = re.compile(rb"\n(?=\d{1,7} <\d{1,3}>\d )")
_SYSLOG = re.compile(r"<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) ?(.*)$", re.S)
_FRAMED_LINE = re.compile(r"\d{1,7} (<\d{1,3}>1 .*)$", re.S)
_CLI = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)) (app|heroku)\[([\w.\-]+)\]:? ?(.*)$",
                  re.S)
_PAIR = re.compile(r'([\w#.\-]+)=("(?:[^"\\]|\\.)*"|\S*)')
_MS = re.compile(r"(\d+)ms$")
_RELEASE = re.compile(r"Release (v\d+) created by (\S+)")
_DEPLOY = re.compile(r"Deploy ([0-9a-f]{7,40}) by ")
_R_CODE = re.compile(r"Error (R\d\d) \(([^)]*)\)")
_EXIT = re.compile(r"Process exited with status (\d+)")
_CRASHED = re.compile(r"State changed from \w+ to crashed")


def sniff(lines: list[str]) -> bool:
    """Most lines are logplex frames or ``heroku logs`` lines."""
    hits = sum(1 for s in lines if _FRAMED_LINE.match(s) or _SYSLOG.match(s) and " app " in s or _CLI.match(s))
    return bool(lines) and hits >= 0.6 * len(lines)


def frames(body: bytes) -> Iterator[bytes]:
    """The syslog messages of an ``application/logplex-1`` body.

    Each frame is ``<length> <message>``. A length that does not land on the next frame
    (a sender that miscounted) is not trusted: the frame ends where the next one starts."""
    pos, n = 0, len(body)
    while pos < n:
        while pos < n and body[pos] in b" \r\n\t":
            pos += 1
        if pos >= n:
            return
        m = _FRAME_LEN.match(body, pos)
        start = m.end() if m else pos
        end = start + int(m.group(1)) if m else -1
        if end < 0 or end > n or (end < n and not (body[end - 1:end] == b"\n" or _FRAME_AT.match(body, end))):
            nxt = _NEXT_FRAME.search(body, start)
            end = nxt.start() if nxt else n
        yield body[start:end].rstrip(b"\r\n")
        pos = end


def from_drain(body: bytes, out: Out, headers: dict[str, str]) -> None:
    token = headers.get("logplex-drain-token", "")
    n = 0
    for frame in frames(body):
        n += 1
        text = frame.decode("utf-8", "replace")
        try:
            if not _syslog(text, out, token):
                out.bad_record("logplex frame", f"not an RFC 5424 syslog message: {text[:80]!r}")
        except Exception as exc:  # noqa: BLE001 - one frame's failure never sinks the batch
            out.bad_record("logplex frame", exc)
    said = headers.get("logplex-msg-count", "")
    if said.isdigit() and int(said) != n:
        out.errors.append(f"Logplex-Msg-Count says {said} messages, the body framed {n}; all {n} were read")


def from_line(line: str, out: Out) -> bool:
    """One line of a file: a logplex frame (with or without its length) or ``heroku logs``."""
    m = _FRAMED_LINE.match(line)
    if m:
        return _syslog(m.group(1), out, "")
    if line.startswith("<"):
        return _syslog(line, out, "")
    c = _CLI.match(line)
    if c is None:
        return False
    ts, source, dyno, msg = c.groups()
    _record(parse_iso(ts), source, dyno, msg, out, "")
    return True


def _syslog(text: str, out: Out, token: str) -> bool:
    m = _SYSLOG.match(text)
    if m is None:
        return False
    _pri, ts, host, app, procid, msgid, msg = m.groups()
    if app in ("app", "heroku"):
        source, dyno = app, procid
    elif host in ("app", "heroku"):  # "heroku web.3 d.73ea… - msg"
        source, dyno = host, app
        if procid.startswith("d.") and not token:
            token = procid
    else:
        source, dyno = app, procid
    if host.startswith("d.") and not token:
        token = host
    if msgid != "-":  # a sender that put text where the MSGID goes
        msg = f"{msgid} {msg}"
    _record(parse_iso(ts), source, dyno, msg, out, token)
    return True


def _pairs(msg: str) -> dict[str, str]:
    return {k: v[1:-1] if v.startswith('"') else v for k, v in _PAIR.findall(msg)}


def _ms(value: str | None) -> int | None:
    m = _MS.match(value or "")
    return int(m.group(1)) if m else None


def _record(ts: int, source: str, dyno: str, msg: str, out: Out, token: str) -> None:
    msg = clean(msg)
    service = out.service(None)
    attrs: dict[str, Any] = {"heroku.source": source}
    if token:
        attrs["heroku.drain_token"] = token
    level = ""
    trace = span = ""
    instance = dyno
    body = msg
    if (source == "heroku" and dyno == "router") or (msg.startswith("at=") and " status=" in msg):
        p = _pairs(msg)
        instance = p.get("dyno") or "router"
        status = p.get("status", "")
        attrs.update({
            "http.request.method": p.get("method"), "url.path": p.get("path"), "server.address": p.get("host"),
            "client.address": p.get("fwd"), "heroku.request_id": p.get("request_id"),
            "http.response.status_code": int(status) if status.isdigit() else None,
            "heroku.router.connect_ms": _ms(p.get("connect")), "heroku.router.service_ms": _ms(p.get("service")),
            "network.protocol.name": p.get("protocol"),
        })
        service_ms = _ms(p.get("service"))
        if service_ms is not None:
            attrs["http.server.request.duration"] = service_ms / 1000
        if p.get("code"):
            attrs["error.type"] = attrs["heroku.error.code"] = p["code"]
            attrs["heroku.error.desc"] = p.get("desc")
        level = "ERROR" if p.get("at") == "error" or status.startswith("5") else "INFO"
    elif source == "heroku":
        level = "INFO"
        r = _R_CODE.search(msg)
        e = _EXIT.search(msg)
        if r:
            attrs["error.type"] = attrs["heroku.error.code"] = r.group(1)
            level = "ERROR"
        elif _CRASHED.search(msg) or (e and e.group(1) != "0"):
            level = "ERROR"
        if dyno == "api":
            d = _DEPLOY.search(msg)
            if d:
                out.state["heroku.commit"] = d.group(1)
            rel = _RELEASE.search(msg)
            if rel:
                out.deploys.append(Deploy(
                    ts_ns=out.time(ts), service=service, version=rel.group(1),
                    commit=out.state.pop("heroku.commit", ""), source="heroku",
                    attributes={"cloud.provider": "heroku", "heroku.release.version": rel.group(1)}))
    else:
        body, level, extra, trace, span = inner_message(msg)
        attrs.update(extra)
    res_attrs = {"cloud.provider": "heroku", "service.instance.id": instance,
                 "heroku.process.type": instance.split(".", 1)[0] if instance else None}
    out.log(ts, body, out.resource(service, res_attrs), attrs=attrs, level=level, trace_id=trace, span_id=span,
            source="heroku")
