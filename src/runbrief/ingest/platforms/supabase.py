"""Supabase: Logs Explorer exports and log-drain batches (Logflare rows).

A row is ``{"id", "timestamp", "event_message", "metadata"}``: ``timestamp`` in
microseconds (or text in copied rows), ``metadata`` Logflare's nesting of one-element lists
(``metadata[0].parsed[0].error_severity``). Copied rows from the explorer are flat
(``{"event_message", "error_severity", "sql_state_code", "user_name"}``). What is read:

- Postgres logs: ``error_severity`` (LOG → INFO, ERROR, FATAL, PANIC…), ``sql_state_code``
  (``db.response.status_code``), ``user_name``, ``query``; an error names
  ``error.type`` ``postgres.<code>``. Row-level-security denials (SQLSTATE 42501 with
  "violates row-level security policy") are ``postgres.rls_denied``, other 42501s
  ``postgres.permission_denied`` — first-class signals, since an RLS mistake in a deploy
  shows up nowhere else;
- API gateway (edge) logs: ``request.method``/``path``, ``response.status_code`` (5xx an
  error);
- auth, storage, realtime and edge-function logs: their ``level``; ``function_id`` is
  ``faas.name``.

The service is the drain's ``?service=``, else the project ref in the metadata, else the
file's name.
"""

from __future__ import annotations

from typing import Any

from runbrief.ingest.formats import parse_ts
from runbrief.ingest.platforms._common import Out, clean, epoch_ns, inner_message, json_values

__all__ = ["NAME", "EXPECTED", "sniff_value", "from_value", "from_drain"]

NAME = "supabase"
EXPECTED = ('Supabase/Logflare log rows ({"id", "timestamp", "event_message", "metadata"}), a JSON array or '
            "NDJSON")
_PG_LEVELS = {"LOG": "INFO", "STATEMENT": "INFO", "DETAIL": "INFO", "NOTICE": "INFO", "INFO": "INFO",
              "WARNING": "WARN", "ERROR": "ERROR", "FATAL": "FATAL", "PANIC": "FATAL"}


def _is_row(o: Any) -> bool:
    return isinstance(o, dict) and "event_message" in o


def sniff_value(obj: Any) -> bool:
    if isinstance(obj, dict) and isinstance(obj.get("result"), list):  # the Management API's answer
        obj = obj["result"]
    o = obj[0] if isinstance(obj, list) and obj else obj
    return _is_row(o)


def from_value(obj: Any, out: Out) -> None:
    if isinstance(obj, dict) and isinstance(obj.get("result"), list):
        obj = obj["result"]
    items = obj if isinstance(obj, list) else [obj]
    for i, item in enumerate(items):
        if not _is_row(item):
            out.bad_record(f"row {i}", "no event_message: not a Supabase log row")
            continue
        try:
            _row(item, out)
        except Exception as exc:  # noqa: BLE001 - one row never sinks the batch
            out.bad_record(f"row {i}", exc)


def from_drain(body: bytes, out: Out, headers: dict[str, str]) -> None:
    json_values(body, out, from_value)


def _one(v: Any) -> Any:
    """Logflare wraps every nested record in a one-element list."""
    while isinstance(v, list) and v:
        v = v[0]
    return v if isinstance(v, dict) else {}


def _time(v: Any) -> int:
    ns = epoch_ns(v)
    if not ns and isinstance(v, str):
        ns = parse_ts(v) or 0
    return ns


def _row(o: dict[str, Any], out: Out) -> None:
    meta = _one(o.get("metadata"))
    parsed = _one(meta.get("parsed")) if meta else {}
    flat = {**meta, **parsed, **{k: v for k, v in o.items() if k not in ("metadata", "event_message")}}
    msg = clean(o.get("event_message"))
    body, level, extra, trace, span = inner_message(msg)
    attrs: dict[str, Any] = {"supabase.log.id": o.get("id")}
    attrs.update(extra)
    severity = flat.get("error_severity")
    code = str(flat.get("sql_state_code") or "")
    if severity or code:
        level = _PG_LEVELS.get(str(severity or "").upper(), str(severity or "")) or level
        attrs.update({"db.system": "postgresql", "db.response.status_code": code or None,
                      "db.user": flat.get("user_name"), "db.query.text": flat.get("query"),
                      "db.namespace": flat.get("database_name"), "supabase.source": "postgres"})
        if code == "42501":
            rls = "row-level security" in msg or "row level security" in msg
            attrs["error.type"] = "postgres.rls_denied" if rls else "postgres.permission_denied"
            level = level if level in ("ERROR", "FATAL") else "ERROR"
        elif level in ("ERROR", "FATAL") and code and code != "00000":
            attrs["error.type"] = f"postgres.{code}"
    req, resp = _one(flat.get("request")), _one(flat.get("response"))
    if req or resp:
        status = resp.get("status_code")
        attrs.update({"http.request.method": req.get("method"), "url.path": req.get("path"),
                      "server.address": req.get("host"),
                      "http.response.status_code": status if isinstance(status, int) else None,
                      "supabase.source": attrs.get("supabase.source") or "edge"})
        if isinstance(status, int) and status >= 500:
            level = "ERROR"
        elif isinstance(status, int) and not level:
            level = "INFO"
    lvl = flat.get("level")
    if not level and isinstance(lvl, str):
        level = lvl
    if flat.get("event_type") in ("UncaughtException", "BootFailure"):
        attrs["error.type"] = f"supabase.{flat['event_type']}"
        level = "ERROR"
    fn = flat.get("function_id")
    project = flat.get("project") or flat.get("project_ref")
    res = out.resource(out.service(project if isinstance(project, str) else None), {
        "cloud.provider": "supabase", "faas.name": fn if isinstance(fn, str) else None,
        "host.name": flat.get("host") if isinstance(flat.get("host"), str) else None,
    })
    out.log(_time(o.get("timestamp")), body, res, attrs=attrs, level=level, trace_id=trace, span_id=span,
            source="supabase")
