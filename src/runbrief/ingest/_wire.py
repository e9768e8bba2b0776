"""Protobuf wire format, just enough to take an OTLP export request apart by record.

Why: the protobuf parser accepts or refuses a request whole. One record with invalid UTF-8
in a string, or nested past the parser's 100 levels, made the whole request a 400 and the
sender dropped every other record in it. When the request does not parse, ``salvage``
walks its wire bytes (request → resource groups → scopes → records), tries each record
in its own context (its group's and scope's fields, so depth counts as in the request)
and rebuilds the request from the records that parse. It runs only for a request that
failed to parse, so it may be slow.
"""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.message import DecodeError, Message

__all__ = ["salvage", "WireError"]


class WireError(ValueError):
    """The bytes are not protobuf wire format at this level."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    out = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise WireError("a varint runs past the end")
        b = buf[pos]
        pos += 1
        out |= (b & 0x7F) << shift
        if b < 0x80:
            return out, pos
        shift += 7


def fields(buf: bytes) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, start, payload start, end) of each field of a message."""
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise WireError("field number 0")
        if wt == 0:
            _, pos = _varint(buf, pos)
            yield num, wt, start, start, pos
            continue
        if wt == 1:
            end = pos + 8
        elif wt == 5:
            end = pos + 4
        elif wt == 2:
            n, pos = _varint(buf, pos)
            end = pos + n
        else:
            raise WireError(f"wire type {wt}")
        if end > len(buf):
            raise WireError("a field runs past the end")
        yield num, wt, start, pos, end
        pos = end


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _len_field(num: int, payload: bytes) -> bytes:
    return _encode_varint(num << 3 | 2) + _encode_varint(len(payload)) + payload


def _split(buf: bytes, child: int) -> tuple[bytes, list[bytes]]:
    """A message's own fields (bytes as they were) and the payloads of its ``child`` field."""
    own = bytearray()
    kids = []
    for num, wt, start, pstart, end in fields(buf):
        if num == child and wt == 2:
            kids.append(buf[pstart:end])
        else:
            own += buf[start:end]
    return bytes(own), kids


# All three OTLP export requests have the same shape: field 1 repeats the resource group,
# whose field 2 repeats the scope, whose field 2 repeats the record (log, span, metric).
GROUP, SCOPE, RECORD = 1, 2, 2


def _reason(exc: Exception) -> str:
    text = str(exc).split("': ", 1)[-1]  # without "Error parsing message with type '…'"
    if "MaxDepth" in text:
        return "nested past the protobuf parser's limit of 100 levels"
    return text


def salvage(cls: type[Message], body: bytes, what: str) -> tuple[Message, int, list[str]]:
    """The request rebuilt from the records that parse, how many did not and why.
    WireError when the request is not wire format at its top level."""
    _, groups = _split(body, GROUP)
    errors: list[str] = []
    rejected = 0
    out = bytearray()
    for g in groups:
        try:
            g_own, scopes = _split(g, SCOPE)
            parts = [(s_own, recs) for s_own, recs in (_split(s, RECORD) for s in scopes)]
        except WireError as exc:
            errors.append(f"a resource group is not protobuf ({exc})")
            rejected += 1
            continue
        kept_scopes = bytearray()
        for s_own, recs in parts:
            kept = bytearray()
            for rec in recs:
                one = _len_field(GROUP, g_own + _len_field(SCOPE, s_own + _len_field(RECORD, rec)))
                try:
                    cls.FromString(one)
                except (DecodeError, RuntimeError, ValueError) as exc:
                    errors.append(f"{what}: {_reason(exc)}")
                    rejected += 1
                    continue
                kept += _len_field(RECORD, rec)
            if not recs:  # a scope or group of no records parses or fails on its own fields
                try:
                    cls.FromString(_len_field(GROUP, g_own + _len_field(SCOPE, s_own)))
                except (DecodeError, RuntimeError, ValueError) as exc:
                    errors.append(f"a scope: {_reason(exc)}")
                    continue
            kept_scopes += _len_field(SCOPE, s_own + bytes(kept))
        if not parts:
            try:
                cls.FromString(_len_field(GROUP, g_own))
            except (DecodeError, RuntimeError, ValueError) as exc:
                errors.append(f"a resource: {_reason(exc)}")
                continue
        out += _len_field(GROUP, g_own + bytes(kept_scopes))
    msg = cls.FromString(bytes(out))  # each piece parsed in its context, so the whole does
    return msg, rejected, errors
