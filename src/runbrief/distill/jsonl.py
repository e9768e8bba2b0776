"""``runbrief parse``'s output path: a log file in, one JSON object per line out.

Whole-process speed is the point here (issue 17: ``runbrief parse FILE > out.jsonl`` at
10x Drain3's ``add_log_message``), and at a few microseconds a line the per-line Python
is what costs. So the file is read in chunks of whole lines, each chunk decoded once and
split once, and its cache keys made by one ``translate`` of the raw bytes
(``parse.line_keys``); a batch's JSON is woven from C-level passes, with everything that
belongs to the pattern (ID, template, level) serialized once per pattern (``batch_jsonl``).
The bytes written are the same as serializing each line's full object on its own (tested).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from itertools import chain
from operator import call, itemgetter
from typing import BinaryIO

import orjson

from runbrief.distill.parse import _KEY, ParsedBatch, Parser, _no_gc, line_keys

__all__ = ["read_chunks", "batches", "write_jsonl"]

CHUNK = 1 << 18


def read_chunks(src: BinaryIO, size: int | None = None) -> Iterator[tuple[list[str], list[bytes]]]:
    """(lines, keys) for runs of whole lines of ``src``: split on ``\\n``, one ``\\r``
    before it dropped, invalid UTF-8 as U+FFFD (as reading line by line gives)."""
    size = size or CHUNK
    read = getattr(src, "read1", src.read)
    rest = b""
    held: list[bytes] = []  # reads of one line longer than a chunk, joined once at its end
    while True:
        data = read(size)
        if not data:
            break
        cut = data.rfind(b"\n")
        if cut < 0:
            held.append(data)
            continue
        if held:
            data = b"".join(held) + data
            held = []
            cut = data.rfind(b"\n")
        if b"\r" in data or b"\r" in rest:
            data = rest + data
            cut += len(rest)
            rest = data[cut + 1 :]
            raw = data[:cut].replace(b"\r\n", b"\n")
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            yield raw.decode("utf-8", "replace").split("\n"), line_keys(raw)
            continue
        # no CR: the read is decoded and keyed whole, without copying it (its partial last
        # line is dropped and read again with the next; the line the last read ended in is
        # made of that rest and this read's first line)
        lines = data.decode("utf-8", "replace").split("\n")
        keys = line_keys(data)
        del lines[-1], keys[-1]
        if rest:
            first = rest + data[: data.find(b"\n")]
            lines[0] = first.decode("utf-8", "replace")
            keys[0] = first.translate(_KEY)
        rest = data[cut + 1 :]
        yield lines, keys
    if held:
        rest += b"".join(held)
    if rest:
        if rest.endswith(b"\r"):
            rest = rest[:-1]
        yield [rest.decode("utf-8", "replace")], line_keys(rest)


def batches(parser: Parser, src: BinaryIO, batch: int = 100_000) -> Iterator[ParsedBatch]:
    """Parse ``src`` in batches of exactly ``batch`` lines (the last one shorter), as
    ``Parser.iter_batches`` over its lines would."""
    lines: list[str] = []
    keys: list[bytes] = []
    for ls, ks in read_chunks(src):
        lines += ls
        keys += ks
        while len(lines) >= batch:
            yield parser.parse_batch(lines[:batch], keys[:batch])
            del lines[:batch], keys[:batch]
    if lines:
        yield parser.parse_batch(lines, keys)


# rows serialized per piece of ~400 KB: small enough to stay in cache and under glibc's mmap
# threshold (a 37 MB buffer per batch was mapped and faulted in anew each time), so their
# buffers are reused from the heap instead of mapped and faulted in anew (sys time)
PIECE = 1024


OPEN = b'{"line":"'


@_no_gc
def batch_jsonl(b: ParsedBatch) -> Iterator[bytes]:
    """The batch's lines as JSON lines, in pieces: ``line``, ``pattern_id``, ``template``,
    ``params``, ``content_template`` and ``level`` when known, in that order, each line
    ending in ``\\n``. Every piece starts inside the first line's object, after its
    ``{"line":"``, and ends with the next line's ``{"line":"`` (so a line is four items
    to weave, not five): ``write_jsonl`` writes the opening once and drops the last one.

    No Python runs per line: a piece's lines are escaped by one ``orjson.dumps`` of the
    list and split on ``","`` (inside a JSON string every ``"`` is escaped, so that
    sequence only separates elements), each line's parameters are its pattern's C-level
    getter applied by ``map`` (one parameter: the bare string, its brackets in the
    pattern's part), and the pieces of all lines are woven by ``zip`` and joined once.
    The pattern's part (ID, template, level) is serialized once per pattern."""
    heads = {}
    tails = {}
    getters = {}
    for e, (c, plan) in b._info.items():
        out = e.out  # (pattern ID, head, tail, getter), made again when the pattern changed
        if not out or out[0] != c.pattern_id:
            tpl = orjson.dumps(c.template)
            one = len(plan) == 1
            out = e.out = (
                c.pattern_id,
                b'","pattern_id":"' + c.pattern_id.encode() + b'","template":' + tpl + b',"params":'
                + (b"[" if one else b""),
                (b"]" if one else b"") + b',"content_template":' + tpl
                + (b',"level":' + orjson.dumps(e.level) if e.level else b"") + b"}\n" + OPEN,
                _getter(plan))
        _, heads[e], tails[e], getters[e] = out
    lines, entries = b.lines, b.entries
    dumps = orjson.dumps
    piece = PIECE
    for k in range(0, len(lines), piece):
        ls, es = lines[k : k + piece], entries[k : k + piece]
        escaped = dumps(ls)[2:-2].split(b'","')
        params = map(dumps, map(call, map(getters.__getitem__, es), ls))
        yield b"".join(chain.from_iterable(
            zip(escaped, map(heads.__getitem__, es), params, map(tails.__getitem__, es), strict=True)))


def _none(line: str) -> tuple[()]:
    return ()


def _getter(plan: tuple[slice, ...]) -> Callable[[str], str | tuple[str, ...] | tuple[()]]:
    """A C-level function from a line to its parameters: a tuple (serializes as a list),
    or for one parameter the string itself (``batch_jsonl`` adds its brackets)."""
    if not plan:
        return _none
    return itemgetter(*plan)


@_no_gc
def write_jsonl(parser: Parser, src: BinaryIO, out: BinaryIO, batch: int = 100_000) -> int:
    """Parse ``src`` and write one JSON object per line to ``out``; the number of lines.

    The cyclic GC is paused throughout: the rows make no cycles, and collections
    triggered by a batch's 100k dicts and lists cost more than building them (2.4x)."""
    n = 0
    write = out.write
    last = b""
    for b in batches(parser, src, batch):
        for piece in batch_jsonl(b):
            write(last or OPEN)
            last = piece
        n += len(b)
    if last:  # the last line's object is followed by an opening that belongs to no line
        write(memoryview(last)[: -len(OPEN)])
    return n


def parse_file(file: str, out: BinaryIO, *, messages: bool = False, batch: int = 100_000) -> int:
    """``runbrief parse FILE`` (or ``-`` for stdin) to ``out``: one JSON object per line;
    the number of lines. Raises ``UsageError`` for a file that cannot be read."""
    from runbrief.errors import UsageError

    parser = Parser(headers=not messages)
    if file == "-":
        n = write_jsonl(parser, sys.stdin.buffer, out, max(1, batch))
    else:
        try:
            src = open(file, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise UsageError(f"cannot read {file}: {exc.strerror}; pass a readable file or - for stdin") from None
        with src:
            n = write_jsonl(parser, src, out, max(1, batch))
    out.flush()
    return n
