"""The parser: raw lines (or bare messages) to patterns, a batch at a time.

``Parser`` joins the three parts of distill: header splitting (for raw lines), masking and
the miner. It is built for batches, because most lines repeat a *shape* already seen:

1. Each line's *key* is the line with every digit written ``0`` (``str.translate``, one
   C-level pass). Masking rules and header rules treat all digits alike, so two lines
   with one key split, mask and mine the same way, at the same character positions.
2. A key seen before is a dict hit: its ``Entry`` holds the cluster, the message offset,
   the level and where the values sit. Only unseen keys (a few per thousand lines once
   warm) go through header splitting, masking and the miner's tree.
3. Digits that masking left in place (``alt0``, ``tty2``) are the exception: the entry
   keeps them as checks, and a line whose digits differ there is looked up apart.

Parameters are read straight out of the line with the entry's spans, mapped onto the
cluster's template as it stands when the batch is reported, so every line of a cluster
gets the same template and ID. Memory is bounded: the key cache is cleared when full.
"""

from __future__ import annotations

import gc
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import compress, count
from operator import not_
from typing import TypeVar

from runbrief.distill.mask import WILDCARD, Masker
from runbrief.distill.miner import Cluster, Miner, collapse_lists, list_runs
from runbrief.ingest.formats import split_header

_T = TypeVar("_T")

__all__ = ["Parsed", "Parser", "ParsedBatch", "clean_line", "line_keys", "MAX_LINE", "MAX_TOKENS"]

MAX_LINE = 64 * 1024  # longer lines are mined on their first 64 KiB (the stored body is whole)
# Tokens mined per line: past the cap, the rest of the message is one value (its text is
# kept whole as the last parameter), so the work per line is bounded whatever its length.
MAX_TOKENS = 200
KEY_CACHE_MAX = 200_000
SHAPE_CACHE_MAX = 100_000
_KEY = bytes.maketrans(b"123456789\x00\r\t", b"000000000   ")
_CLEAN = str.maketrans("\x00\r\t", "   ")
# The second-chance key also folds hex letters, so lines that differ only in hex IDs
# (UUIDs, request ids, hashes) share it; a hit is then verified on the constant text.
_HEXKEY = bytes.maketrans(b"123456789abcdefABCDEF\x00\r\t", b"000000000000000000000   ")
_DIGIT_RUN = re.compile(r"\d+")


def _no_gc(fn: Callable[..., _T]) -> Callable[..., _T]:
    """Run ``fn`` with the cyclic GC paused: the hot loops allocate many small lists and
    strings but no cycles, and collections triggered by them cost as much as the work."""

    def wrapper(*args: object, **kw: object) -> _T:
        if not gc.isenabled():
            return fn(*args, **kw)
        gc.disable()
        try:
            return fn(*args, **kw)
        finally:
            gc.enable()

    wrapper.__doc__ = fn.__doc__
    wrapper.__name__ = fn.__name__
    return wrapper


def line_keys(raw: bytes) -> list[bytes]:
    """The cache keys of the ``\\n``-separated lines of ``raw`` (one C-level pass)."""
    return raw.translate(_KEY).split(b"\n")


def clean_line(text: str) -> str:
    """What the miner sees of a line: NUL, CR and TAB as spaces, cut to ``MAX_LINE``."""
    if len(text) > MAX_LINE:
        text = text[:MAX_LINE]
    return text.translate(_CLEAN)


class Entry:
    """What one line key resolved to. Spans are offsets in the (cleaned) line."""

    __slots__ = ("cid", "start", "level", "tokens", "tspans", "vspans", "checks", "variants", "plan_id", "plan",
                 "slices", "consts", "out")

    def __init__(self, cid: int, start: int, level: str, tokens: list[str], tspans: list[tuple[int, int]],
                 vspans: list[list[tuple[int, int]]], checks: tuple[tuple[int, int, str], ...]) -> None:
        self.cid = cid
        self.start = start
        self.level = level
        self.tokens = tokens
        self.tspans = tspans
        self.vspans = vspans
        self.checks = checks
        self.variants: dict[tuple[str, ...], Entry] | None = None
        self.plan_id = ""
        self.plan: list[tuple[int, int]] = []
        self.slices: tuple[slice, ...] = ()  # the plan as slices (made once per plan)
        self.consts: tuple[tuple[int, int, str], ...] = ()
        self.out: tuple[object, ...] = ()  # the JSON writer's cache for this entry (distill.jsonl)


@dataclass(slots=True)
class Parsed:
    line: str
    message: str
    cid: int
    pattern_id: str = ""
    template: str = ""
    params: list[str] | None = None
    level: str = ""


class ParsedBatch:
    """The result of ``Parser.parse_batch``: per-line columns, built on demand."""

    def __init__(self, parser: Parser, lines: list[str], entries: list[Entry],
                 distinct: Iterable[Entry] | None = None) -> None:
        self.parser = parser
        self.lines = lines
        self.entries = entries
        miner = parser.miner
        clusters = miner.clusters
        plan = parser.plan
        self._info: dict[Entry, tuple[Cluster, tuple[slice, ...]]] = {}
        # ``distinct``: the entries in order of first use, when the caller has them already
        for e in dict.fromkeys(entries) if distinct is None else distinct:  # entries hash by identity
            c = clusters.get(e.cid)
            if c is None:
                e.cid = miner.resolve(e.cid)
                c = clusters[e.cid]
            plan(e, c)
            self._info[e] = (c, e.slices)

    def __len__(self) -> int:
        return len(self.lines)

    def cluster(self, i: int) -> Cluster:
        return self._info[self.entries[i]][0]

    def pattern_ids(self) -> list[str]:
        ids = {k: c.pattern_id for k, (c, _) in self._info.items()}
        return list(map(ids.__getitem__, self.entries))

    def templates(self) -> list[str]:
        tpl = {k: c.template for k, (c, _) in self._info.items()}
        return list(map(tpl.__getitem__, self.entries))

    def levels(self) -> list[str]:
        return [e.level for e in self.entries]

    def messages(self) -> list[str]:
        return [line[e.start :] for line, e in zip(self.lines, self.entries, strict=True)]

    @_no_gc
    def params(self) -> list[list[str]]:
        sl = {k: v[1] for k, v in self._info.items()}
        return [list(map(line.__getitem__, sl[e])) for line, e in zip(self.lines, self.entries, strict=True)]

    def rows(self, *, params: bool = True) -> Iterator[tuple[str, str, str, list[str], str]]:
        """(line, pattern_id, template, params, level) per line, in order."""
        info = {k: (c.pattern_id, c.template, plan) for k, (c, plan) in self._info.items()}
        for line, e in zip(self.lines, self.entries, strict=True):
            pid, tpl, plan = info[e]
            yield line, pid, tpl, list(map(line.__getitem__, plan)) if params else [], e.level


def _collapsed(tokens: list[str], tspans: list[tuple[int, int]], vspans: list[list[tuple[int, int]]]
               ) -> tuple[list[str], list[tuple[int, int]], list[list[tuple[int, int]]]]:
    """A line's tokens and spans with each list of values as one token (``Miner`` lists)."""
    runs = list_runs(tokens)
    toks = collapse_lists(tokens, runs)
    ts: list[tuple[int, int]] = []
    vs: list[list[tuple[int, int]]] = []
    k = 0
    for a, b in runs:
        ts.extend(tspans[k:a])
        vs.extend(vspans[k:a])
        ts.append((tspans[a][0], tspans[b - 1][1]))
        vs.append([sp for v in vspans[a:b] for sp in v])
        k = b
    ts.extend(tspans[k:])
    vs.extend(vspans[k:])
    return toks, ts, vs


class Parser:
    """Header split + masking + mining with a line-key cache. One writer at a time."""

    def __init__(self, miner: Miner | None = None, masker: Masker | None = None, *, headers: bool = True) -> None:
        self.miner = miner or Miner()
        self.masker = masker or Masker()
        self.headers = headers
        self._keys: dict[bytes, Entry] = {}
        self._hex: dict[bytes, Entry] = {}
        self._shapes: dict[str, int] = {}
        self._checked = False  # some cached entry has digit checks
        self._epoch = self.miner.epoch
        self.lines = 0
        self.misses = 0
        self.skipped = 0  # lines with nothing to mine (empty once cleaned)

    # ------------------------------------------------------------ slow path
    def _build(self, line: str) -> Entry:
        """Split, mask and mine one line whose key was not cached."""
        self.misses += 1
        text = clean_line(line)
        if self.headers:
            h = split_header(text, ts=False)
            start, level = len(text) - len(h.message), h.level
        else:
            start, level = 0, ""
        msg = text[start:]
        masked = self.masker.mask(msg, MAX_TOKENS)
        tokens = masked.tokens
        if not tokens:
            self.skipped += 1
            tokens = [""]
            masked.token_spans.append((0, 0))
            masked.value_spans.append([])
        shape = " ".join(tokens)
        cid = self._shapes.get(shape)
        if cid is None:
            cid = self.miner.add(list(tokens))
            if len(self._shapes) >= SHAPE_CACHE_MAX:
                self._shapes.clear()
            self._shapes[shape] = cid
        else:
            cid = self.miner.resolve(cid)
        vspans = [[(start + a, start + b) for a, b in vs] for vs in masked.value_spans]
        checks = self._checks(text, start, vspans)
        if checks:
            self._checked = True
        e = Entry(cid, start, level, tokens, [(start + a, start + b) for a, b in masked.token_spans], vspans, checks)
        consts = []
        pos = start
        for vs in vspans:
            for a, b in vs:
                if a > pos:
                    consts.append((pos, a, text[pos:a]))
                pos = max(pos, b)
        if pos < len(text):
            consts.append((pos, len(text), text[pos:]))
        e.consts = tuple(consts)
        return e

    @staticmethod
    def _checks(text: str, start: int, vspans: list[list[tuple[int, int]]]) -> tuple[tuple[int, int, str], ...]:
        """Digits of the message that no value covers (alt0): lines must agree on them."""
        flat = sorted(s for vs in vspans for s in vs)
        out = []
        k = 0
        for m in _DIGIT_RUN.finditer(text, start):
            a, b = m.span()
            while k < len(flat) and flat[k][1] <= a:
                k += 1
            if k < len(flat) and flat[k][0] <= a and b <= flat[k][1]:
                continue
            out.append((a, b, m.group()))
        return tuple(out)

    def _lookup(self, line: str, key: bytes) -> Entry:
        e = self._keys.get(key)
        if e is None:
            hkey = line.encode("utf-8", "surrogatepass").translate(_HEXKEY)
            h = self._hex.get(hkey)
            if h is not None:
                for a, b, txt in h.consts:
                    if line[a:b] != txt:
                        break
                else:
                    self._remember(key, h, line)
                    return h
            e = self._build(line)
            if len(line) <= MAX_LINE:
                if len(self._hex) >= KEY_CACHE_MAX:
                    self._hex.clear()
                self._hex[hkey] = e
            self._remember(key, e, line)
            return e
        return self._check(line, e)

    def _remember(self, key: bytes, e: Entry, line: str) -> None:
        if len(line) <= MAX_LINE:
            if len(self._keys) >= KEY_CACHE_MAX:
                self._keys.clear()  # bounded: a cleared cache re-warms from the hex keys
            self._keys[key] = e

    def _check(self, line: str, e: Entry) -> Entry:
        if not e.checks:
            return e
        for a, b, txt in e.checks:
            if line[a:b] != txt:
                break
        else:
            return e
        sig = tuple(line[a:b] for a, b, _ in e.checks)
        if e.variants is None:
            e.variants = {}
        v = e.variants.get(sig)
        if v is None:
            v = self._build(line)
            if len(e.variants) < 1000:
                e.variants[sig] = v
        return v

    # ------------------------------------------------------------ batches
    @_no_gc
    def assign(self, lines: list[str], keys: list[bytes] | None = None) -> list[Entry]:
        """The entry of every line (mines the unseen ones); counts each cluster's lines.

        The common case is three C-level passes (encode+translate, dict lookups, a
        counter); only lines whose key is new, or carries digit checks, take the loop.
        ``keys`` may come with the lines (``line_keys`` of the raw bytes, one translate
        for a whole file chunk): a key only has to be the same for lines that differ in
        nothing but digits, which the raw bytes' key is too."""
        return self._assign(lines, keys)[0]

    def _assign(self, lines: list[str], keys: list[bytes] | None) -> tuple[list[Entry], Iterable[Entry]]:
        """``assign``, and the batch's distinct entries in order of first use."""
        if self.miner.evict() or self.miner.epoch != self._epoch:
            self._epoch = self.miner.epoch  # cached entries name forgotten clusters
            self._keys.clear()
            self._hex.clear()
            self._shapes.clear()
            self._checked = False
        if keys is None:
            keys = [s.encode("utf-8", "surrogatepass").translate(_KEY) for s in lines]
        get = self._keys.get
        entries: list[Entry | None] = list(map(get, keys))
        if None in entries:
            lookup, check = self._lookup, self._check
            for i in compress(count(), map(not_, entries)):  # an Entry is true, None false
                key = keys[i]
                e = get(key)  # a key first met in this batch: later lines with it are hits
                if e is None:
                    entries[i] = lookup(lines[i], key)
                elif e.checks:
                    entries[i] = check(lines[i], e)
                else:
                    entries[i] = e
        if self._checked:
            checked = {e for e in dict.fromkeys(entries) if e.checks}  # type: ignore[union-attr]
            if checked:
                check = self._check
                for i in compress(count(), map(checked.__contains__, entries)):
                    entries[i] = check(lines[i], entries[i])  # type: ignore[arg-type]
        self.lines += len(lines)
        clusters = self.miner.clusters
        resolve = self.miner.resolve
        counts = Counter(entries)  # entries hash by identity; keys in order of first use
        for e, n in counts.items():
            c = clusters.get(e.cid)  # type: ignore[union-attr]
            if c is None:
                e.cid = resolve(e.cid)  # type: ignore[union-attr]
                c = clusters[e.cid]  # type: ignore[union-attr]
            c.count += n
        return entries, counts.keys()  # type: ignore[return-value]

    @_no_gc
    def parse_batch(self, lines: list[str], keys: list[bytes] | None = None) -> ParsedBatch:
        entries, distinct = self._assign(lines, keys)
        return ParsedBatch(self, lines, entries, distinct)

    def plan(self, e: Entry, c: Cluster) -> list[tuple[int, int]]:
        """Where, in a line of entry ``e``, the values of cluster ``c``'s ``<*>`` are."""
        if e.plan_id == c.pattern_id:
            return e.plan
        plan: list[tuple[int, int]] = []
        tokens, tspans, vspans = e.tokens, e.tspans, e.vspans
        if len(tokens) != len(c.tokens):  # the cluster holds this line's lists as one value each
            tokens, tspans, vspans = _collapsed(tokens, tspans, vspans)
        for tt, mt, ts, vs in zip(c.tokens, tokens, tspans, vspans, strict=False):
            if tt == mt:
                plan.extend(vs)
            elif tt == WILDCARD:
                plan.append(ts)
            elif WILDCARD in tt:
                pre, _, suf = tt.partition(WILDCARD)
                if WILDCARD in suf or ts[1] - ts[0] < len(pre) + len(suf):
                    plan.extend(vs)
                else:
                    plan.append((ts[0] + len(pre), ts[1] - len(suf)))
        e.plan_id = c.pattern_id
        e.plan = plan
        e.slices = tuple(slice(a, b) for a, b in plan)
        return plan

    # ------------------------------------------------------------ conveniences
    def parse(self, lines: Iterable[str], *, params: bool = True) -> list[Parsed]:
        """Parse ``lines`` as one batch into ``Parsed`` objects (all agree on templates)."""
        b = self.parse_batch(list(lines))
        return [
            Parsed(line, line[e.start :], e.cid, pid, tpl, prm if params else None, lvl)
            for (line, pid, tpl, prm, lvl), e in zip(b.rows(params=params), b.entries, strict=True)
        ]

    def iter_batches(self, lines: Iterable[str], batch: int = 100_000) -> Iterator[ParsedBatch]:
        """Parse a stream in batches; each is reported with its end-of-batch templates."""
        buf: list[str] = []
        for line in lines:
            buf.append(line)
            if len(buf) >= batch:
                yield self.parse_batch(buf)
                buf = []
        if buf:
            yield self.parse_batch(buf)
