"""The parser: raw lines (or bare messages) to patterns, in batches.

``Parser`` joins the three parts of distill: header splitting (for raw lines), masking and
the miner. Most lines repeat a *shape* already seen (the same masked token sequence),
so the shape is looked up in a bounded cache and only unseen shapes reach the miner.

``Parser.parse(lines)`` returns one ``Parsed`` per line, with the template and ID of the
line's cluster as it stands at the end of the batch (so all lines of a cluster agree),
and the values that filled the template's ``<*>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from runbrief.distill.mask import WILDCARD, Masker
from runbrief.distill.miner import Miner
from runbrief.ingest.formats import split_header

__all__ = ["Parsed", "Parser", "clean_line"]

MAX_LINE = 64 * 1024  # longer lines are cut here before mining (the stored body is whole)
SHAPE_CACHE_MAX = 200_000


@dataclass(slots=True)
class Parsed:
    line: str
    message: str
    cid: int
    pattern_id: str = ""
    template: str = ""
    params: list[str] | None = None
    level: str = ""


def clean_line(text: str) -> str:
    """What the miner sees of a line: NULs and control characters as spaces, cut to MAX_LINE."""
    if len(text) > MAX_LINE:
        text = text[:MAX_LINE]
    if "\x00" in text or "\r" in text:
        text = text.replace("\x00", " ").replace("\r", " ")
    return text


def _template_regex(tokens: list[str]) -> re.Pattern[str]:
    parts = []
    for tok in tokens:
        pieces = tok.split(WILDCARD)
        parts.append("(.*?)".join(re.escape(p) for p in pieces))
    return re.compile(r"\s*" + r"\s+".join(parts) + r"\s*$", re.S)


class Parser:
    """Header split + masking + mining, with a shape cache. One writer at a time."""

    def __init__(self, miner: Miner | None = None, masker: Masker | None = None, *, headers: bool = True) -> None:
        self.miner = miner or Miner()
        self.masker = masker or Masker()
        self.headers = headers
        self._shapes: dict[str, int] = {}
        self._regex: dict[str, re.Pattern[str]] = {}
        self.skipped = 0  # lines with nothing to mine (empty after cleaning)

    # ------------------------------------------------------------ mining
    def message_of(self, line: str) -> tuple[str, str]:
        """(message, level) of a raw line."""
        if not self.headers:
            return line, ""
        h = split_header(line)
        return h.message, h.level

    def assign(self, message: str) -> int:
        """Mine one message; return its (raw) cluster id."""
        masked = self.masker.mask(message)
        shape = masked.shape
        cid = self._shapes.get(shape)
        if cid is not None:
            cid = self.miner.resolve(cid)
            self.miner.clusters[cid].count += 1
            return cid
        toks = masked.tokens or [""]
        cid = self.miner.add(toks)
        if len(self._shapes) >= SHAPE_CACHE_MAX:
            self._shapes.clear()
        self._shapes[shape] = cid
        return cid

    def feed(self, lines: Iterable[str]) -> list[Parsed]:
        out: list[Parsed] = []
        for raw in lines:
            line = clean_line(raw)
            message, level = self.message_of(line)
            if not message.strip():
                self.skipped += 1
            out.append(Parsed(raw, message, self.assign(message), level=level))
        return out

    def finish(self, parsed: list[Parsed], *, params: bool = True) -> list[Parsed]:
        """Fill pattern_id, template and params from the clusters' current templates."""
        miner = self.miner
        for p in parsed:
            c = miner.cluster(p.cid)
            p.pattern_id = c.pattern_id
            p.template = c.template
            if params:
                p.params = self.params(c.template, c.tokens, p.message)
        return parsed

    def parse(self, lines: Iterable[str], *, params: bool = True) -> list[Parsed]:
        return self.finish(self.feed(lines), params=params)

    def params(self, template: str, tokens: list[str], message: str) -> list[str]:
        if WILDCARD not in template:
            return []
        rx = self._regex.get(template)
        if rx is None:
            if len(self._regex) > 50_000:
                self._regex.clear()
            rx = self._regex[template] = _template_regex(tokens)
        m = rx.match(message)
        if m is None:  # the line's own shape no longer fits (rare): fall back to the masker
            return [message[a:b] for spans in self.masker.mask(message).value_spans for a, b in spans]
        return list(m.groups())

    def iter_parse(self, lines: Iterable[str], batch: int = 50_000, *, params: bool = True) -> Iterator[Parsed]:
        """Parse a stream in batches; each batch is reported with its end-of-batch templates."""
        buf: list[str] = []
        for line in lines:
            buf.append(line)
            if len(buf) >= batch:
                yield from self.parse(buf, params=params)
                buf = []
        if buf:
            yield from self.parse(buf, params=params)
