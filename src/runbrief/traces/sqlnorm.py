"""Normalize what a span did (SQL, Mongo, Redis, HTTP) so that repeats group together.

An N+1 is "the same statement with different values"; to see it, each span's operation is
reduced to a template: literals become ``?``, IN-lists and VALUES tuples collapse to one
``?``, placeholders of every driver style (``$1``, ``:name``, ``%s``, ``%(x)s``) become
``?``, comments and runs of whitespace go. HTTP calls keep method, host and path with the
variable path segments (numbers, UUIDs, hex, long tokens) starred and query values
dropped; Redis keeps the command and the key's shape; Mongo keeps the JSON keys.

Written with regular expressions, as Sentry's and Datadog's obfuscators are: a parser
would refuse the partial or dialect-specific SQL that real spans carry.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import orjson

__all__ = ["normalize_sql", "sql_tables", "sql_verb", "normalize_url", "normalize_redis", "normalize_mongo",
           "Describe", "describe", "category", "CATEGORIES", "has_literals", "db_text"]

# What a span's self time is spent on; the order is the order reports list them in.
CATEGORIES = ("db", "http_client", "cache", "messaging", "rpc", "genai", "file", "internal", "uninstrumented")
_CACHE_SYSTEMS = {"redis", "memcached", "valkey", "hazelcast", "aerospike", "keydb"}

_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_STRING = re.compile(r"'(?:[^']|'')*'|E'(?:[^'\\]|\\.)*'")
_DQ_STRING_VALUE = re.compile(r"(?<=[=(,\s])\"(?:[^\"]|\"\")*\"(?=\s*[,)]|\s*$)")
_NUMBER = re.compile(r"(?<![\w.$?])[-+]?(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?![\w.])")
_PLACEHOLDER = re.compile(r"\$\d+|%\(\w+\)s|%s|(?<![:\w]):[A-Za-z_]\w*|\?\d*|@\w+")
_IN_LIST = re.compile(r"\bIN\s*\(\s*\?(?:\s*,\s*\?)*\s*\)", re.I)
_VALUES = re.compile(r"\bVALUES\s*(\(\s*\?(?:\s*,\s*\?)*\s*\))(?:\s*,\s*\(\s*\?(?:\s*,\s*\?)*\s*\))*", re.I)
_ANY_ARRAY = re.compile(r"\bANY\s*\(\s*(?:ARRAY\s*)?\[?\s*\?(?:\s*,\s*\?)*\s*\]?\s*\)", re.I)
# One pass for every literal and placeholder: strings, numbers (not digits inside
# identifiers such as t2), $1, %(x)s, %s, ?, :name, booleans. One alternation is about
# 3x faster than a pass per kind, which matters for a 5,000-statement trace.
_LITERAL = re.compile(
    r"'(?:[^']|'')*'|\b0[xX][0-9a-fA-F]+\b|\b\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b|\$\d+|%\(\w+\)s|%s|\?\d*|(?<=[\s=(,]):\w+|(?<![\w@])@\w+"
    r"|\b(?:TRUE|FALSE|true|false)\b"
)
_TABLE = re.compile(
    r"\b(?:FROM|JOIN|INTO|UPDATE|TABLE)\s+(?:ONLY\s+)?((?:[`\"\[]?\w+[`\"\]]?\.)?[`\"\[]?\w+[`\"\]]?)", re.I
)
_NOT_TABLES = {"select", "lateral", "unnest", "values", "json_each", "generate_series", "set", "where"}


@lru_cache(maxsize=16384)
def normalize_sql(sql: str, limit: int = 2000) -> str:
    """Template of a SQL statement: literals and placeholders → ``?``, lists collapsed.

    Cached by text (traces repeat their statements), and each pass is skipped when the
    character it looks for is absent: the summary of a 5,000-span trace depends on it.
    """
    s = sql[: limit * 4]
    if "--" in s or "/*" in s:
        s = _COMMENT.sub(" ", s)
    if '"' in s:
        s = _DQ_STRING_VALUE.sub("?", s)
    s = " ".join(_LITERAL.sub("?", s).split()).rstrip(";").rstrip()
    if "?" in s:
        upper = s.upper()
        if "IN" in upper:
            s = _IN_LIST.sub("IN (?)", s)
        if "ANY" in upper:
            s = _ANY_ARRAY.sub("ANY (?)", s)
        if "VALUES" in upper:
            s = _VALUES.sub(lambda m: "VALUES (?)", s)
    return s[:limit]


@lru_cache(maxsize=16384)
def has_literals(sql: str) -> bool:
    """True when the statement carries all its values inline, so two identical texts are identical calls.

    A statement with a bound placeholder (``?``, ``$1``, ``%s``, ``:name``) hides its values:
    two identical texts may have fetched different rows.
    """
    body = _COMMENT.sub(" ", sql) if ("--" in sql or "/*" in sql) else sql
    bare = _STRING.sub("''", body) if "'" in body else body
    if any(c in bare for c in "$%:?@") and _PLACEHOLDER.search(bare):
        return False
    return "'" in body or bool(_NUMBER.search(bare))



@lru_cache(maxsize=16384)
def _tables(sql: str) -> tuple[str, ...]:
    out: list[str] = []
    for m in _TABLE.finditer(sql):
        name = re.sub(r"[`\"\[\]]", "", m.group(1)).split(".")[-1].lower()
        if name not in _NOT_TABLES and name not in out:
            out.append(name)
    return tuple(out)


def sql_tables(sql: str) -> list[str]:
    """Tables a statement names (FROM/JOIN/INTO/UPDATE), lower-case, without schema or quotes."""
    return list(_tables(sql))


@lru_cache(maxsize=16384)
def sql_verb(sql: str) -> str:
    m = re.match(r"\s*(?:WITH\b.*?\)\s*)?(\w+)", _COMMENT.sub(" ", sql), re.S)
    return m.group(1).upper() if m else ""


_SEGMENT_VAR = re.compile(
    r"^(?:\d+|[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{12,}|[A-Za-z0-9_\-]{24,}|[^/]*\d[^/]*\d[^/]*\d[^/]*)$"
)


@lru_cache(maxsize=16384)
def normalize_url(url: str, method: str = "") -> str:
    """``GET host/items/*?q=?``: variable path segments starred, query values dropped."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"{method} {url}".strip()
    path = "/".join("*" if seg and _SEGMENT_VAR.match(seg) else seg for seg in parts.path.split("/"))
    query = "&".join(sorted({q.split("=", 1)[0] + "=?" for q in parts.query.split("&") if q}))
    host = parts.netloc.rsplit("@", 1)[-1]
    out = f"{host}{path or '/'}" + (f"?{query}" if query else "")
    return f"{method.upper()} {out}".strip()


_REDIS_KEY_VAR = re.compile(r"\d+|[0-9a-fA-F]{8,}(?:-[0-9a-fA-F]{4,})*")


def normalize_redis(statement: str) -> str:
    """``GET user:42`` → ``GET user:?``: the command, the key's shape, the other arguments as ``?``."""
    words = statement.split()
    if not words:
        return ""
    cmd = words[0].upper()
    if len(words) == 1:
        return cmd
    key = _REDIS_KEY_VAR.sub("?", words[1])
    rest = " ?" * min(len(words) - 2, 1)
    return f"{cmd} {key}{rest}"


def _mongo_shape(node: Any, depth: int = 0) -> Any:
    if isinstance(node, dict):
        return {k: _mongo_shape(v, depth + 1) for k, v in node.items()} if depth < 6 else "?"
    if isinstance(node, list):
        return [_mongo_shape(node[0], depth + 1)] if node else []
    return "?"


_MONGO_SCRUBBED = re.compile(r'"\?"|:\s*\?\s*[,}\]]')


def normalize_mongo(statement: str) -> str:
    """Mongo command JSON with every value replaced by ``?`` (keys kept: they are the query's shape)."""
    try:
        doc = orjson.loads(statement)
    except orjson.JSONDecodeError:
        return normalize_sql(statement)
    if isinstance(doc, dict):
        # The command name's value is the collection: keep it, wherever the driver put it
        # (the command first, or after the filter as Sentry's scrubber stores them:
        # ``{"filter":…,"find":"reviews"}``).
        first = next(iter(doc), None)
        shaped = _mongo_shape(doc)
        for key in (first, *_MONGO_COMMANDS):
            if key in doc and isinstance(doc[key], str):
                shaped[key] = doc[key]
        return orjson.dumps(shaped).decode()
    return orjson.dumps(_mongo_shape(doc)).decode()


_MONGO_COMMANDS = ("find", "aggregate", "count", "distinct", "insert", "update", "delete", "findAndModify",
                   "getMore", "findOne", "updateOne", "updateMany", "deleteOne", "deleteMany", "insertOne")


def category(kind: str, attrs: dict[str, Any]) -> str:
    """Which kind of work a span is (``db``, ``http_client``, ``cache``, ``file``…), from its attributes.

    OpenTelemetry's semantic conventions first; then the ``sentry.op`` attribute that
    Sentry's SDKs record (``db``, ``db.redis``, ``cache.get``, ``http.client``,
    ``file.read``…), so spans from a Sentry-instrumented app are typed by what the SDK
    said, never by guessing from the span's name.
    """
    system = attrs.get("db.system.name") or attrs.get("db.system")
    if system:
        return "cache" if str(system).lower() in _CACHE_SYSTEMS else "db"
    if "db.query.text" in attrs or "db.statement" in attrs:
        return "db"
    if attrs.get("messaging.system") or kind in ("PRODUCER", "CONSUMER"):
        return "messaging"
    if any(k in attrs for k in ("gen_ai.system", "gen_ai.operation.name", "gen_ai.provider.name")):
        return "genai"
    op = attrs.get("sentry.op")
    if isinstance(op, str) and op:
        by_op = _sentry_category(op)
        if by_op:
            return by_op
    if kind == "CLIENT":
        if attrs.get("rpc.system") and not attrs.get("http.request.method"):
            return "rpc"
        if any(k in attrs for k in ("http.request.method", "http.method", "url.full", "http.url")):
            return "http_client"
        return "rpc" if attrs.get("rpc.system") else "http_client"
    if "file.path" in attrs or "file.name" in attrs:
        return "file"
    return "internal"


def _sentry_category(op: str) -> str | None:
    """The category of a Sentry span operation (develop.sentry.dev's span-operations list)."""
    op = op.lower()
    if op.startswith(("db.redis", "cache.", "db.memcached")) or op == "cache":
        return "cache"
    if op == "db" or op.startswith("db."):
        return "db"
    if op.startswith("http.client") or op in ("http", "fetch", "xhr"):
        return "http_client"
    if op.startswith("file.") or op == "file":
        return "file"
    if op.startswith(("queue.", "topic.")):
        return "messaging"
    if op.startswith(("gen_ai.", "ai.")):
        return "genai"
    return None


class Describe:
    """What one span did: its category, the grouping template and the exact text.

    ``exact_known`` (the text carries its values, so equal text means an identical
    call) and ``tables`` are computed on first use: most spans never need them.
    """

    __slots__ = ("category", "template", "raw", "_exact", "_sql", "_tables")

    def __init__(self, category: str, template: str, raw: str, exact_known: bool | None,
                 tables: tuple[str, ...] = (), sql: str = "") -> None:
        self.category, self.template, self.raw = category, template, raw
        self._exact, self._tables, self._sql = exact_known, tables, sql

    @property
    def exact_known(self) -> bool:
        if self._exact is None:
            self._exact = has_literals(self._sql)
        return self._exact

    @property
    def tables(self) -> tuple[str, ...]:
        if self._sql and not self._tables:
            self._tables = _tables(self._sql)
        return self._tables


def db_text(attrs: dict[str, Any]) -> str:
    return str(attrs.get("db.query.text") or attrs.get("db.statement") or "")


def _db_params(attrs: dict[str, Any]) -> str:
    for k in attrs:
        if k.startswith("db.query.parameter."):
            break
    else:
        return ""
    params = sorted((k, str(v)) for k, v in attrs.items() if k.startswith("db.query.parameter."))
    return "|".join(f"{k}={v}" for k, v in params)


def describe(name: str, kind: str, attrs: dict[str, Any]) -> Describe:
    cat = category(kind, attrs)
    if cat in ("db", "cache"):
        text = db_text(attrs)
        system = str(attrs.get("db.system.name") or attrs.get("db.system") or "").lower()
        if not text and attrs.get("sentry.op") and name and name != attrs.get("sentry.op"):
            text = name  # a Sentry SDK's span description is the statement itself
        if not text:
            op = attrs.get("db.operation.name") or attrs.get("db.operation") or name
            coll = attrs.get("db.collection.name") or attrs.get("db.sql.table") or ""
            tmpl = f"{op} {coll}".strip()
            return Describe(cat, f"{system}: {tmpl}", f"{system}: {tmpl}", False, (str(coll).lower(),) if coll else ())
        if system in ("redis", "valkey", "keydb"):
            return Describe(cat, f"{system}: {normalize_redis(text)}", f"{system}: {text}", True)
        if "mongo" in system:
            # Exact only with a query document whose values were kept: a wrapper span
            # (Mongoose's ``mongoose.cartoons.findOne``) names an operation, and an SDK that
            # scrubs values (``{"characters":"?"}``) makes different lookups read the same.
            exact = "{" in text and not _MONGO_SCRUBBED.search(text)
            return Describe(cat, f"{system}: {normalize_mongo(text)}", f"{system}: {text}", exact)
        params = _db_params(attrs)
        return Describe(cat, normalize_sql(text), text + (f" [{params}]" if params else ""),
                        True if params else None, sql=text)
    if cat == "http_client":
        method = str(attrs.get("http.request.method") or attrs.get("http.method") or "")
        url = str(attrs.get("url.full") or attrs.get("http.url") or "")
        if not url and attrs.get("sentry.op") and " " in name:
            method, _, url = name.partition(" ")  # Sentry: "GET https://host/path"
        template = attrs.get("url.template") or attrs.get("http.route")
        if url:
            tmpl = normalize_url(url, method)
            if template:
                host = urlsplit(url).netloc.rsplit("@", 1)[-1]
                tmpl = f"{method.upper()} {host}{template}".strip()
            exact = method.upper() in ("GET", "HEAD", "OPTIONS", "")
            return Describe(cat, tmpl, f"{method.upper()} {url}".strip(), exact)
        return Describe(cat, name, name, False)
    if cat == "messaging":
        dest = attrs.get("messaging.destination.name") or ""
        op = attrs.get("messaging.operation.type") or attrs.get("messaging.operation") or kind.lower()
        text = f"{op} {dest}".strip() or name
        return Describe(cat, text, text, False)
    return Describe(cat, name, name, False)
