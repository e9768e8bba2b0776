"""Bytes in arbitrary chunks → text lines, never failing on what a log file may hold.

Why a class and not ``io.TextIOWrapper``: one bad byte must not end an ingest, and the
user must be told how many lines were damaged. Blocks of complete lines are decoded in one
call (the fast path); only a block that fails is decoded line by line, bad lines with
``backslashreplace`` so the original bytes stay readable (nothing read is lost). CRLF,
a UTF-8 BOM and NUL bytes are cleaned; a "line" longer than ``max_line`` (a binary file, a
file with no newlines) is cut so memory stays bounded.

Also here: compressed bodies to bytes (``decompress``, ``Gunzip``). Every member of a gzip
body and every frame of a zstd body is decoded (``cat a.gz b.gz`` and zstd's ``--patch``
streams are valid bodies: stopping after the first would acknowledge data never stored),
and the limit applies to the total, checked while inflating: a bomb is cut off at the
limit, never inflated whole.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator

from runbrief.errors import IngestError

__all__ = ["LineDecoder", "MAX_LINE", "TooLarge", "decompress", "Gunzip", "json_depth", "json_documents",
           "BadJson"]

MAX_LINE = 1 << 20  # 1 MiB
_STEP = 1 << 20  # decompressed bytes per step of a stream


def json_depth(node: object, limit: int) -> int:
    """The nesting depth of a parsed JSON value, counted up to ``limit + 1`` and without
    recursion: what the parser admits (orjson: 1,024 levels) is deeper than what the
    serializer writes back (orjson: 255) or Python's recursion limit allows."""
    deepest = 0
    stack = [(node, 1)]
    while stack:
        node, d = stack.pop()
        if d > deepest:
            deepest = d
            if d > limit:
                return d
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node if isinstance(v, (dict, list)))
    return deepest


class TooLarge(IngestError):
    """A body, or what it decompresses to, is over its limit (HTTP 413)."""

    http_status = 413


def _gunzip_members(data: bytes, limit: int) -> bytes:
    """Every member of a whole gzip body, within ``limit`` bytes in all (``Gunzip``)."""
    gz = Gunzip(limit)
    out = b"".join(gz.feed(data))
    if not data or not gz.complete:
        raise IngestError("the gzip body is truncated")
    return out


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    d = zlib.decompressobj(wbits)
    out = bytearray()
    chunk = data
    while chunk:
        out += d.decompress(chunk, limit + 1 - len(out))
        if len(out) > limit:
            raise TooLarge(f"the deflate body inflates past {limit} bytes")
        chunk = d.unconsumed_tail
    if not d.eof:
        raise IngestError("the deflate body is truncated")
    return bytes(out)


def _unzstd(data: bytes, limit: int) -> bytes:
    import zstandard

    try:
        # Bounded first: at most limit + 1 bytes across all frames, so a bomb stops there.
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
        head = reader.read(limit + 1)
        if len(head) > limit:
            raise TooLarge(f"the zstd body inflates past {limit} bytes")
        # Known to fit now: frame by frame, which tells a truncated frame apart.
        out = bytearray()
        rest = data
        while rest.strip(b"\x00"):
            d = zstandard.ZstdDecompressor().decompressobj()
            out += d.decompress(rest)
            if not d.eof:
                raise IngestError("the zstd body is truncated")
            rest = d.unused_data
    except zstandard.ZstdError as exc:
        raise IngestError(f"the zstd body is corrupt: {exc}") from None
    return bytes(out)


def decompress(data: bytes, encoding: str, limit: int) -> bytes | None:
    """A body as sent with HTTP ``Content-Encoding`` ``encoding``, decompressed within
    ``limit`` bytes in total (TooLarge past it, IngestError when damaged); None for an
    encoding we do not read. gzip is what OTLP requires; deflate and zstd are what the
    OpenTelemetry Collector also offers."""
    encoding = encoding.strip().lower()
    try:
        if encoding in ("", "identity"):
            return data
        if encoding in ("gzip", "x-gzip"):
            return _gunzip_members(data, limit)
        if encoding == "deflate":  # zlib-wrapped per HTTP; some senders send raw deflate
            try:
                return _inflate(data, zlib.MAX_WBITS, limit)
            except zlib.error:
                return _inflate(data, -zlib.MAX_WBITS, limit)
        if encoding == "zstd":
            return _unzstd(data, limit)
    except zlib.error as exc:
        raise IngestError(f"the {encoding} body is corrupt: {exc}") from None
    return None


class Gunzip:
    """A gzip stream inflated as it arrives, every member, within ``limit`` bytes in all
    (each step yields at most 1 MiB, so one chunk of a bomb cannot fill memory either)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.out = 0
        self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._member = False  # input seen of a member not yet ended
        self._done = False  # padding after the last member

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decompressed pieces of ``data``; TooLarge past the limit, zlib.error if corrupt."""
        while data and not self._done:
            self._member = True
            piece = self._d.decompress(data, _STEP)
            self.out += len(piece)
            if self.out > self.limit:
                raise TooLarge(f"the gzip body inflates past {self.limit} bytes")
            if piece:
                yield piece
            if self._d.eof:
                data = self._d.unused_data
                self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._member = False
                if data and not data.strip(b"\x00"):
                    self._done = True
            else:
                data = self._d.unconsumed_tail

    @property
    def complete(self) -> bool:
        """Did the stream end at the end of a member (not cut off inside one)?"""
        return not self._member


class LineDecoder:
    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._tail = b""
        self._first = True
        self.bytes = 0
        self.invalid_utf8_lines = 0
        self.split_lines = 0
        self.nul_lines = 0

    def _decode_block(self, block: bytes) -> list[str]:
        try:
            text = block.decode("utf-8")
            lines = text.split("\n")
        except UnicodeDecodeError:
            lines = []
            for raw in block.split(b"\n"):
                try:
                    lines.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    self.invalid_utf8_lines += 1
                    lines.append(raw.decode("utf-8", "backslashreplace"))
            text = None
        if self._first:
            self._first = False
            if lines and lines[0].startswith("\ufeff"):
                lines[0] = lines[0][1:]
        if text is None or "\r" in text:
            lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
        if text is None or "\x00" in text:
            out = []
            for ln in lines:
                if "\x00" in ln:
                    self.nul_lines += 1
                    ln = ln.replace("\x00", "")
                out.append(ln)
            lines = out
        return lines

    def _cut_long(self, buf: bytes) -> tuple[list[bytes], bytes]:
        """Split off max_line pieces of an over-long unterminated line (at a UTF-8 boundary)."""
        pieces = []
        while len(buf) > self.max_line:
            cut = self.max_line
            while cut > self.max_line - 4 and (buf[cut] & 0xC0) == 0x80:
                cut -= 1
            pieces.append(buf[:cut])
            buf = buf[cut:]
            self.split_lines += 1
        return pieces, buf

    def feed(self, data: bytes) -> list[str]:
        """Complete lines found so far (the unterminated rest waits for more data)."""
        if not data:
            return []
        self.bytes += len(data)
        buf = self._tail + data if self._tail else data
        cut = buf.rfind(b"\n")
        if cut < 0:
            pieces, self._tail = self._cut_long(buf)
            return [ln for p in pieces for ln in self._decode_block(p)]
        block, tail = buf[:cut], buf[cut + 1 :]
        pieces, self._tail = self._cut_long(tail)
        lines = self._decode_block(block)
        if len(block) > self.max_line and max(map(len, lines)) > self.max_line:
            split: list[str] = []
            for ln in lines:
                while len(ln) > self.max_line:
                    split.append(ln[: self.max_line])
                    ln = ln[self.max_line :]
                    self.split_lines += 1
                split.append(ln)
            lines = split
        for p in pieces:
            lines.extend(self._decode_block(p))
        return lines

    def close(self) -> list[str]:
        """The last line when the data did not end with a newline."""
        tail, self._tail = self._tail, b""
        return self._decode_block(tail) if tail else []


class BadJson(ValueError):
    """A value in a run of JSON documents that does not parse: where (1-based line) and why."""

    def __init__(self, line: int, why: str) -> None:
        super().__init__(f"line {line}: not JSON ({why})")
        self.line, self.why = line, why


def json_documents(text: str, *, resync: bool = False) -> Iterator[object]:
    """The JSON values of ``text`` one after another: NDJSON, pretty-printed documents
    back to back, or comma-separated ones. A value that does not parse raises ``BadJson``;
    with ``resync``, it is yielded instead and reading goes on at the next line (where the
    next document may start)."""
    import json

    dec = json.JSONDecoder()
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            return
        try:
            value, pos = dec.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            bad = BadJson(text.count("\n", 0, pos) + 1, exc.msg)
            if not resync:
                raise bad from None
            yield bad
            nl = text.find("\n", pos)
            if nl < 0:
                return
            pos = nl + 1
            continue
        yield value
