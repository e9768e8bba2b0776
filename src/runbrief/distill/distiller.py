"""The Distiller: the ingest pipeline's link to the miner (``ingest.pipeline.Distills``).

``process(records)`` gives every log record its pattern and, where the source
had no level, an inferred severity. ``take()`` then hands over, as plain data, what the
store needs: the rows of the batch's patterns (new and changed ones included), aliases for
templates that evolved (the store re-points older rows to the new ID so drill-down finds
them all) and the miner's state when it changed, so a restart continues where it stopped.
The store side (``distill.persist``) writes those and the per-minute counts.

The Distiller holds no store: it runs in the server's ingest worker processes, each
owning the services routed to it, as well as in-process for file ingest.

Records arrive with ``body`` already the message (OTLP bodies are messages; the file
ingest splits headers), so no header handling happens here.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from runbrief.distill.miner import Miner
from runbrief.distill.parse import Parser
from runbrief.distill.severity import infer
from runbrief.records import LogRecord, severity_name

if TYPE_CHECKING:
    from runbrief.store.duck import Store

__all__ = ["Distiller", "Distilled", "STATE_KEY", "load_state"]

STATE_KEY = "miner"
# Pattern rows are handed over when new or changed. If a commit carrying one failed, the
# row would be missing until the pattern next changed; resending all of them this often
# bounds that (the writer skips rows it already has).
RESEND_S = 300.0


@dataclass
class Distilled:
    """The store's share of a distilled batch (see ``Distiller.take``)."""

    patterns: dict[str, tuple[str, str | None]]  # pattern_id -> (template, severity)
    aliases: dict[str, str]  # old pattern id -> current id
    state: tuple[str, bytes] | None  # (miner_state key, serialized miner) when it changed


def load_state(store: Store, *keys: str) -> bytes | None:
    """The first saved miner state among ``keys`` (None when there is none)."""
    for key in keys:
        try:
            blob = store.scalar("SELECT state FROM miner_state WHERE key = ?", [key])
        except Exception:  # noqa: BLE001 - an unreadable state must not stop ingest
            blob = None
        if blob:
            return bytes(blob)
    return None


class Distiller:
    """Mines log bodies into patterns. One owner; its state is saved under ``state_key``."""

    def __init__(self, state: bytes | None = None, state_key: str = STATE_KEY, *, state_every_s: float = 0.0) -> None:
        """``state_every_s``: hand the miner's state over at most this often (0: on every
        change). A learning miner changes on most batches and its state is hundreds of KB;
        the server's workers send it every few seconds and once more when they stop, so a
        crash loses only that much learning, which the next lines teach again (pattern IDs
        are template fingerprints, so they come out the same)."""
        self.state_key = state_key
        self.state_every_s = state_every_s
        self._state_dirty = False
        self._state_at = float("-inf")
        self.parser = Parser(Miner.load(orjson.loads(state) if state else None), headers=False)
        self._pending: set[int] = set()  # clusters of the records processed since take()
        self._severity: dict[int, Counter[str]] = {}  # cid -> source levels seen
        self._best: dict[int, str] = {}  # cid -> the level seen most (kept as counts change)
        self._sent: dict[str, tuple[str, str]] = {}  # pattern id -> (template, severity) last handed over
        self._sent_at = time.monotonic()
        self._inferred: dict[str, str] = {}  # template -> keyword severity
        self.repaired = 0  # bodies whose invalid code points were replaced
        self._epoch = self.miner.epoch

    @classmethod
    def from_store(cls, store: Store, state_key: str = STATE_KEY) -> Distiller:
        return cls(load_state(store, state_key), state_key)

    @property
    def miner(self) -> Miner:
        return self.parser.miner

    # ------------------------------------------------------------ process
    def process(self, records: list[LogRecord]) -> None:
        bodies = [r.body for r in records]
        # Nearly every batch is all-ASCII text: one C-level check instead of one per line.
        if not all(type(b) is str for b in bodies) or not "".join(bodies).isascii():
            for r in records:
                if not isinstance(r.body, str):
                    r.body = "" if r.body is None else str(r.body)
                if not r.body.isascii():
                    try:
                        r.body.encode("utf-8")
                    except UnicodeEncodeError:  # lone surrogates cannot be stored: replace them
                        r.body = r.body.encode("utf-8", "replace").decode("utf-8")
                        self.repaired += 1
            bodies = [r.body for r in records]
        entries = self.parser.assign(bodies)
        if self._epoch != self.miner.epoch:  # clusters were evicted: drop what named them
            self._epoch = self.miner.epoch
            self._severity = {k: v for k, v in self._severity.items() if k in self.miner.clusters}
            self._best = {k: v for k, v in self._best.items() if k in self.miner.clusters}
        miner = self.miner
        # Lines of one entry share cluster and ID: look those up once per entry (entries
        # hash by identity). Parameters are not sliced out here: they are read back from
        # the template when a line is shown (distill.params).
        info: dict[Any, tuple[str, int]] = {}
        for e in dict.fromkeys(entries):
            c = miner.cluster(e.cid)
            info[e] = (c.pattern_id, c.cid)
        got = list(map(info.__getitem__, entries))
        for r, (pid, _) in zip(records, got, strict=True):
            r.pattern_id = pid
        cids = [cid for _, cid in got]
        levels = Counter(zip(cids, [r.severity_number for r in records], strict=True))
        for (cid, number), n in levels.items():
            if not number:
                continue
            learned = self._severity.get(cid)
            if learned is None:
                learned = self._severity[cid] = Counter()
            name = severity_name(number)
            learned[name] += n
            best = self._best.get(cid)
            if best is None or (best != name and learned[name] > learned[best]):
                self._best[cid] = name
        if 0 in {number for _, number in levels}:
            inferred: dict[int, str] = {}
            for r, cid in zip(records, cids, strict=True):
                if not r.severity_number:
                    sev = inferred.get(cid)
                    if sev is None:
                        sev = inferred[cid] = self.severity_of(cid)
                    r.severity_inferred = sev
        self._pending.update(cid for _, cid in info.values())

    def severity_of(self, cid: int) -> str:
        """A pattern's learned severity: the level most of its leveled lines carried,
        else what the words of its template suggest."""
        best = self._best.get(cid)
        if best:
            return best
        c = self.miner.clusters.get(cid)
        if c is None:
            return ""
        tpl = c.template
        sev = self._inferred.get(tpl)
        if sev is None:
            if len(self._inferred) > 100_000:
                self._inferred.clear()
            sev = self._inferred[tpl] = infer(tpl)
        return sev

    # ------------------------------------------------------------ take
    def take(self, *, final: bool = False) -> Distilled:
        """What the store needs from the batches processed since the last call: the rows of
        their patterns (and of every pattern created or changed), the aliases of templates
        that evolved, and the miner's state when it changed (at most every
        ``state_every_s``; ``final`` hands over a held one now). Pure data: it crosses from
        an ingest worker process to the store's writer."""
        miner = self.miner
        changed, _ = miner.drain_changes()
        aliases = miner.drain_aliases()
        cids, self._pending = self._pending, set()
        if time.monotonic() - self._sent_at > RESEND_S:  # now and then, everything again (see RESEND_S)
            self._sent.clear()
            self._sent_at = time.monotonic()
        rows: dict[str, tuple[str, str]] = {}
        for c in [*changed, *(miner.clusters.get(miner.resolve(cid)) for cid in cids)]:
            if c is not None:
                row = (c.template, self.severity_of(c.cid))
                if self._sent.get(c.pattern_id) != row:
                    rows[c.pattern_id] = self._sent[c.pattern_id] = row
        if len(self._sent) > 200_000:
            self._sent.clear()
        self._state_dirty = self._state_dirty or bool(changed or aliases)
        state = None
        if self._state_dirty and (final or time.monotonic() - self._state_at >= self.state_every_s):
            state = orjson.dumps(miner.dump())
            self._state_dirty, self._state_at = False, time.monotonic()
        return Distilled({pid: (tpl, sev or None) for pid, (tpl, sev) in rows.items()}, aliases,
                         (self.state_key, state) if state is not None else None)
