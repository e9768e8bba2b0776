"""The online template miner: masked token sequences in, clusters (patterns) out.

Design (Drain-like, with two changes that matter on real logs):

- Clusters are bucketed by token count. A new *shape* (masked token sequence) joins the
  most similar cluster of its bucket when enough positions agree; differing positions
  become ``<*>``.
- Not every difference is a variable. Two tokens that look like values (digits, ``<*>``,
  dots or slashes inside, ``key=value``...) may merge at once. Two plain *words*
  (``HTTPS``/``SOCKS5``, ``startup``/``shutdown``, ``x+``/``y+``) usually name different
  events, so they stay apart until the evidence says the position is a value: when
  ``word_merge_siblings`` clusters differ from each other at that one position only
  (``user root``/``user guest``/``user news``...), they merge into one.

Pattern IDs are fingerprints of the template text (16 hex digits of BLAKE2b), so the same
template gets the same ID in any process, store or service. When a template evolves, its
old ID is recorded as an alias of the new one. State is a plain dict (``dump``/``load``):
memory grows with the number of patterns, never with the number of lines.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from runbrief.distill.mask import WILDCARD

__all__ = ["Cluster", "Miner", "fingerprint", "is_value_like"]

_VALUE_CHARS = frozenset("/\\@=:#<>[]{}()")
_DIGITS = frozenset("0123456789")


def fingerprint(template: str) -> str:
    """The pattern ID of a template: stable across processes, machines and services."""
    return hashlib.blake2b(template.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


_WRAPS = "()[]{}<>\"'`"
_CLOSERS = ")]}\"'.,;:!?"
_TRAIL = ".,;:!?"
# Nouns after which a word is a value ("for user root", "on host db"): their sibling
# words merge at the second distinct value instead of waiting for many.
KEY_NOUNS = frozenset(
    ["user", "username", "login", "account", "owner", "group", "host", "hostname", "file", "filename", "path", "dir", "directory", "folder", "domain", "job", "task", "pod", "container", "namespace", "table", "database", "schema", "bucket", "queue", "topic", "tenant", "project", "branch", "repo", "repository", "module", "package", "plugin"]
)


_HOSTNAME = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+(?:com|net|org|edu|gov|mil|int|io|info|biz|local|lan|internal|"
    r"cloud|dev|app|uk|de|jp|cn|hk|tw|kr|fr|ru|br|au|ca|nl|se|ch|pl|cz|dk|fi|tr|za|mx|ar|nz|sg|vn|th|ie|pt|gr|"
    r"hu|ro|ua|il)",
    re.I,
)


def _core(token: str) -> tuple[str, bool]:
    """The token without trailing punctuation and wrapping quotes/brackets; was it wrapped?"""
    core = token.rstrip(_TRAIL)
    wrapped = False
    while core and (core[0] in _WRAPS or core[-1] in _WRAPS):
        wrapped = True
        core = core.strip(_WRAPS).rstrip(_TRAIL)
    return core, wrapped


def is_value_like(token: str) -> bool:
    """Does the token look like a value rather than a word of the message's text?

    Values (masked parts, numbers, ``/ @ : # =`` inside, hostnames with digits, a
    bracketed annotation, very long tokens) may differ between lines of one event.
    Words (``HTTPS``, ``startup``, ``alt0``, ``"GET``, ``mapred.job.id``) usually name
    different events. ``key=value`` is judged by its value (an empty one is a word)."""
    while True:  # a loop, not recursion: "key" then 1,000 "=" must not exhaust the stack
        if WILDCARD in token:
            return True
        core, wrapped = _core(token)
        if "=" not in core:
            break
        token = core.split("=", 1)[1].lstrip("=")  # "a==b" is judged by "b", as "a=b"
        if not token:
            return False
    if not core:
        return wrapped  # "()": an empty value slot
    if wrapped and not core.isalpha():
        return True
    digits = 0
    for c in core:
        if c in _DIGITS:
            digits += 1
        elif c in _VALUE_CHARS:
            return True
    if digits >= 2 or len(core) > 24:
        return True
    if "." in core:
        return digits >= 1 or _HOSTNAME.fullmatch(core) is not None  # host8.example.net, db.corp.com
    return False


_KEYED = re.compile(r"[\[(\"']*([A-Za-z_][\w.\-]*)?[(=]")


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _token_pattern(token: str) -> re.Pattern[str]:
    """A template token with ``<*>`` inside (``user=<*>``) as a regex matching tokens."""
    rx = _PATTERNS.get(token)
    if rx is None:
        if len(_PATTERNS) > 20_000:
            _PATTERNS.clear()
        rx = _PATTERNS[token] = re.compile(".+?".join(re.escape(p) for p in token.split(WILDCARD)), re.S)
    return rx


_VKEY = "<V>"


def _family_keys(tokens: list[str]) -> list[int]:
    """A stable 64-bit key for (length, position, the other tokens), for every position.

    Linear in the tokens: a running hash of each prefix and of each suffix is kept, and a
    position's key hashes its prefix's and suffix's digests (hashing the other tokens anew
    per position made one long line cost seconds: issue 16)."""
    n = len(tokens)
    enc = [t.encode("utf-8", "surrogatepass") + b"\x1f" for t in tokens]
    pre: list[bytes] = []
    h = hashlib.blake2b(digest_size=16)
    for e in enc:
        pre.append(h.digest())
        h.update(e)
    suf: list[bytes] = [b""] * n
    h = hashlib.blake2b(digest_size=16)
    for p in range(n - 1, -1, -1):
        suf[p] = h.digest()
        h.update(enc[p])
    head = f"{n}\x1f".encode()
    return [
        int.from_bytes(hashlib.blake2b(head + f"{p}".encode() + pre[p] + suf[p], digest_size=8).digest(), "big")
        for p in range(n)
    ]


def _bucket_key(tokens: list[str]) -> str:
    """Clusters are filed by their first token when it is a word (only a template with a
    value there can take another first word), else together."""
    if not tokens or _value_like(tokens[0]):
        return _VKEY
    return tokens[0]


_VL: dict[str, bool] = {}


def _value_like(token: str) -> bool:
    """``is_value_like`` with a bounded cache (tokens repeat)."""
    v = _VL.get(token)
    if v is None:
        if len(_VL) > 100_000:
            _VL.clear()
        v = _VL[token] = is_value_like(token)
    return v


def _key_of(token: str) -> str | None:
    """The name a value hangs on: ``uid`` of ``(uid=<*>)``, ``LOGIN`` of ``LOGIN(uid=<*>)``."""
    m = _KEYED.match(token)
    return (m.group(1) or "") if m else None


# Two or more dotted word labels: a namespace the values of a slot share (Java packages,
# reverse-DNS bundle IDs); numbers (1.5/1.7) and one-label prefixes (v.) are not.
_NAMESPACE = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+\.")


def generalize_tokens(tokens: list[str]) -> str:
    """One template token covering ``tokens``: ``<*>`` with the prefix up to a ``=``/``:``
    and the wrapping they all share (``user=root``/``user=guest`` -> ``user=<*>``,
    ``()``/``(a.b)`` -> ``(<*>)``)."""
    first = tokens[0]
    if all(t == first for t in tokens):
        return first
    pre = first
    suf = first
    for t in tokens[1:]:
        i = 0
        while i < len(pre) and i < len(t) and pre[i] == t[i]:
            i += 1
        pre = pre[:i]
        j = 0
        while j < len(suf) and j < len(t) and suf[-1 - j] == t[-1 - j]:
            j += 1
        suf = suf[len(suf) - j :] if j else ""
    if WILDCARD in pre or WILDCARD in suf:
        return WILDCARD
    # keep a shared prefix only up to its last delimiter, and only closing wrapping as suffix
    cut = max(pre.rfind(c) for c in "=:([{\"'")
    # ... or up to the last dot of a shared package/namespace (com.apple.<*>, org.apache.hadoop.<*>);
    # not in a path or an Android component (com.tencent.qt/.Main: the whole is one value)
    ns = _NAMESPACE.match(pre, cut + 1) if not all("/" in t for t in tokens) else None
    if ns:
        cut = ns.end() - 1
    pre = pre[: cut + 1] if cut >= 0 else ""
    k = 0
    while k < len(suf) and suf[len(suf) - 1 - k] in _CLOSERS:
        k += 1
    suf = suf[len(suf) - k :] if k else ""
    if "<" in pre[-1:] or ">" in suf[:1] or len(pre) + len(suf) > min(len(t) for t in tokens):
        return WILDCARD
    return pre + WILDCARD + suf


# A list item is a value alone in its token, maybe with the list's comma or brackets:
# ``<*>``, ``<*>,``, ``[<*>,``, ``<*>]``. A run of them is a list.
_ITEM = re.compile(r"[\[({]?<\*>[,;]?[\])}]?[,;]?")
_LIST_MARK = "\x00L"


def list_runs(tokens: list[str]) -> list[tuple[int, int]]:
    """Maximal runs ``[a, b)`` of list-item tokens (a lone value is a run of one)."""
    runs: list[tuple[int, int]] = []
    a = -1
    for i, t in enumerate(tokens):
        item = WILDCARD in t and _ITEM.fullmatch(t) is not None
        if item and a < 0:
            a = i
        elif not item and a >= 0:
            runs.append((a, i))
            a = -1
    if a >= 0:
        runs.append((a, len(tokens)))
    return runs


def list_signature(tokens: list[str], runs: list[tuple[int, int]]) -> str:
    """The tokens with every run written as one mark: shapes that differ only in how many
    values their lists hold share it."""
    out: list[str] = []
    k = 0
    for a, b in runs:
        out.extend(tokens[k:a])
        out.append(_LIST_MARK + tokens[a][:1] + tokens[b - 1][-1:])
        k = b
    out.extend(tokens[k:])
    return " ".join(out)


def collapse_lists(tokens: list[str], runs: list[tuple[int, int]]) -> list[str]:
    """One ``<*>`` per run, keeping the opening bracket of its first item and the closing
    punctuation of its last (``[<*>, <*>, <*>]`` -> ``[<*>]``)."""
    out: list[str] = []
    k = 0
    for a, b in runs:
        out.extend(tokens[k:a])
        first, last = tokens[a], tokens[b - 1]
        out.append(first[: first.index(WILDCARD)] + WILDCARD + last[last.index(WILDCARD) + len(WILDCARD) :])
        k = b
    out.extend(tokens[k:])
    return out


@dataclass(slots=True)
class Cluster:
    cid: int
    tokens: list[str]
    count: int = 0
    pattern_id: str = ""
    history: list[str] = field(default_factory=list)  # earlier pattern IDs (aliases)

    template: str = ""

    def refresh_id(self) -> str | None:
        """Recompute the template and its fingerprint; return the previous ID if it changed."""
        self.template = " ".join(self.tokens)
        new = fingerprint(self.template)
        old = self.pattern_id
        self.pattern_id = new
        if old and old != new:
            self.history.append(old)
            return old
        return None


class Miner:
    """Online clustering of masked token sequences. Not thread-safe: one writer."""

    def __init__(
        self,
        *,
        similarity: float = 0.5,
        word_merge_siblings: int = 6,
        max_value_mismatch: float = 0.5,
        max_scan: int = 2000,
        max_clusters: int = 50_000,
        first_word_factor: int = 2,
        value_slot_siblings: int = 2,
    ) -> None:
        # the first word needs ``first_word_factor`` times the siblings (it usually names
        # the event); a word in a value slot (after ``key=``, a key noun...) needs
        # ``value_slot_siblings``. Defaults chosen on Loghub-2k: bench/distill_loo.py
        self.first_word_factor = first_word_factor
        self.value_slot_siblings = value_slot_siblings
        self.max_scan = max_scan  # clusters compared per new shape, newest first (bounds junk input)
        self.similarity = similarity
        self.word_merge_siblings = word_merge_siblings
        self.max_value_mismatch = max_value_mismatch
        self.clusters: dict[int, Cluster] = {}
        # (token count, first token or "<V>" for a value) -> cluster ids, newest last
        self.buckets: dict[tuple[int, str], list[int]] = {}
        self.by_id: dict[str, int] = {}
        # sibling families: hash of (length, position, the other tokens) -> cluster ids
        self.families: dict[int, list[int]] = {}
        self.max_clusters = max_clusters
        self.epoch = 0  # bumped when clusters are evicted: cached cluster ids are then stale
        self.next_cid = 1
        self.aliases: dict[str, str] = {}  # old pattern id -> new pattern id (resolved)
        self.changed: set[int] = set()  # clusters created or changed since the last drain
        self.merged_into: dict[int, int] = {}  # cid absorbed -> cid that absorbed it
        self._alias_log: list[str] = []  # old ids aliased since the last drain_aliases()
        # list signature -> cluster: where a shape whose lists have another length goes
        self.lists: dict[str, int] = {}

    # ------------------------------------------------------------ matching
    def resolve(self, cid: int) -> int:
        while cid in self.merged_into:
            cid = self.merged_into[cid]
        return cid

    def add(self, toks: list[str]) -> int:
        """Place one masked token sequence; return its cluster id.

        Counts are the caller's business (the parser counts lines per cluster in bulk)."""
        n = len(toks)
        k0 = _bucket_key(toks)
        bucket = self.buckets.get((n, k0), [])
        if k0 != _VKEY:  # a template with a value first may still take this word
            bucket = bucket + self.buckets.get((n, _VKEY), [])
        if len(bucket) > self.max_scan:
            bucket = bucket[-self.max_scan :]
        limit = max(1, int(self.max_value_mismatch * n))
        clusters = self.clusters
        best: tuple[int, int] | None = None
        best_cid = -1
        for cid in bucket:
            same = const = vmis = 0
            for t, s in zip(clusters[cid].tokens, toks, strict=True):
                if t == s:
                    same += 1
                    if t != WILDCARD:
                        const += 1
                elif t == WILDCARD or (WILDCARD in t and _token_pattern(t).fullmatch(s) is not None):
                    same += 1
                elif _value_like(t) and _value_like(s) and _key_of(t) == _key_of(s):
                    vmis += 1
                    if vmis > limit:
                        break
                else:
                    vmis = limit + 1  # a word differs: another event
                    break
            if vmis > limit or (vmis and not const):
                continue  # nothing but values in common is no evidence of one event
            key = (same, -vmis)
            if best is None or key > best:
                best, best_cid = key, cid
        if best_cid >= 0:
            c = clusters[best_cid]
            generalize = [p for p, (t, s) in enumerate(zip(c.tokens, toks, strict=True)) if t != s and t != WILDCARD]
            if generalize:
                for p in generalize:
                    c.tokens[p] = generalize_tokens([c.tokens[p], toks[p]])
                self._retemplate(c)
            return best_cid
        listed = self._list_cluster(toks)
        if listed is not None:
            return listed
        c = self._new_cluster(list(toks))
        self._families_note(c)
        return self.resolve(c.cid)

    # ------------------------------------------------------------ variable-length lists
    def _list_cluster(self, toks: list[str]) -> int | None:
        """The cluster of a shape that differs from one seen only in the length of its
        lists of values (``Supported channels 1 2 3`` / ``... 1 2 3 4 5 6``): the stream
        shows the length varies, so that cluster's lists become one ``<*>`` each and the
        shape joins it. Lists that keep one length stay as they are (``Fan speeds ( <*>
        <*> <*> <*> <*> <*> )``), and so do their pattern IDs."""
        runs = list_runs(toks)
        if not runs:
            return None
        sig = list_signature(toks, runs)
        cid = self.lists.get(sig)
        if cid is None:
            return None
        cid = self.resolve(cid)
        c = self.clusters.get(cid)
        if c is None:
            self.lists.pop(sig, None)
            return None
        cruns = list_runs(c.tokens)
        if len(cruns) != len(runs) or list_signature(c.tokens, cruns) != sig:
            self.lists.pop(sig, None)  # the cluster's template moved on
            return None
        if [b - a for a, b in cruns] == [b - a for a, b in runs]:
            return None  # the same lengths: no evidence that they vary
        if all(b - a == 1 for a, b in cruns):
            return cid  # already one value per list
        self._unbucket(c)
        c.tokens = collapse_lists(c.tokens, cruns)
        self._retemplate(c)
        return self.resolve(c.cid)

    def _lists_note(self, c: Cluster) -> None:
        runs = list_runs(c.tokens)
        if runs:
            sig = list_signature(c.tokens, runs)
            if sig not in self.lists or self.lists[sig] not in self.clusters:
                self.lists[sig] = c.cid

    def _new_cluster(self, toks: list[str]) -> Cluster:
        c = Cluster(self.next_cid, toks)
        self.next_cid += 1
        c.refresh_id()
        existing = self.by_id.get(c.pattern_id)
        if existing is not None and existing in self.clusters:
            return self.clusters[existing]
        self.clusters[c.cid] = c
        self.buckets.setdefault((len(toks), _bucket_key(toks)), []).append(c.cid)
        self.by_id[c.pattern_id] = c.cid
        self.changed.add(c.cid)
        self._lists_note(c)
        return c

    def _unbucket(self, c: Cluster) -> None:
        for key in ((len(c.tokens), _bucket_key(c.tokens)), (len(c.tokens), _VKEY)):
            b = self.buckets.get(key)
            if b and c.cid in b:
                b.remove(c.cid)
                return
        for b in self.buckets.values():  # the first token changed since it was filed
            if c.cid in b:
                b.remove(c.cid)
                return

    def _retemplate(self, c: Cluster) -> None:
        key = (len(c.tokens), _bucket_key(c.tokens))
        if c.cid not in self.buckets.get(key, ()):
            self._unbucket(c)
            self.buckets.setdefault(key, []).append(c.cid)
        old = c.refresh_id()
        self.changed.add(c.cid)
        self._lists_note(c)
        if old is None:
            return
        self.by_id.pop(old, None)
        self._alias(old, c.pattern_id)
        other = self.by_id.get(c.pattern_id)
        if other is not None and other != c.cid and other in self.clusters:
            self._absorb(self.clusters[other], c)
        else:
            self.by_id[c.pattern_id] = c.cid

    def _alias(self, old: str, new: str) -> None:
        if old == new:
            return
        self.aliases[old] = new
        self._alias_log.append(old)
        for k, v in self.aliases.items():  # keep aliases resolved (chains stay short)
            if v == old:
                self.aliases[k] = new
        self.aliases.pop(new, None)

    def _absorb(self, keep: Cluster, gone: Cluster) -> None:
        """Merge ``gone`` into ``keep`` (same template reached from two sides)."""
        keep.count += gone.count
        keep.history.extend(gone.history)
        self.merged_into[gone.cid] = keep.cid
        self.clusters.pop(gone.cid, None)
        self._unbucket(gone)
        self.by_id[keep.pattern_id] = keep.cid
        self.changed.add(keep.cid)

    # ------------------------------------------------------------ word siblings
    def _families_note(self, c: Cluster) -> None:
        """Record ``c`` in the sibling family of each of its word positions; merge a
        family once it has enough members (the position is then a value)."""
        n = len(c.tokens)
        if n < 2:
            return
        keys = _family_keys(c.tokens)
        for p, t in enumerate(c.tokens):
            if t == WILDCARD or is_value_like(t):
                continue
            key = keys[p]
            fam = self.families.setdefault(key, [])
            fam.append(c.cid)
            live = [cid for cid in dict.fromkeys(self.resolve(x) for x in fam)
                    if cid in self.clusters and len(self.clusters[cid].tokens) == n]  # lists collapsed: moved on
            self.families[key] = live
            need = self.word_merge_siblings
            if p == 0:
                need *= self.first_word_factor  # the first word usually names the event (boot/halt/wait)
            elif "=" in t or _core(c.tokens[p - 1])[0].lower() in KEY_NOUNS or (
                p == n - 1 and c.tokens[p - 1][-1:] == ":" and c.tokens[p - 1][:-1].isalpha()):
                need = self.value_slot_siblings
            if len(live) >= need:
                self._merge_family(live, p)
                return

    def _merge_family(self, cids: list[int], p: int) -> None:
        keep = self.clusters[cids[0]]
        values = [self.clusters[cid].tokens[p] for cid in cids]
        olds: list[str] = []
        for cid in cids[1:]:
            gone = self.clusters[cid]
            olds.append(gone.pattern_id)
            self.by_id.pop(gone.pattern_id, None)
            self._absorb(keep, gone)
        keep.tokens[p] = generalize_tokens(values)
        self._retemplate(keep)
        for old in olds:
            self._alias(old, keep.pattern_id)

    # ------------------------------------------------------------ bounds
    def evict(self) -> int:
        """Forget the least-used tenth of the clusters once there are ``max_clusters``.

        Called by the parser between batches (never while cluster ids are held). A
        forgotten pattern that comes back is mined afresh and, its template being the
        same, gets the same fingerprint: IDs stay stable, memory stays bounded."""
        if len(self.clusters) <= self.max_clusters:
            return 0
        keep_n = int(self.max_clusters * 0.9)
        ranked = sorted(self.clusters.values(), key=lambda c: (c.count, c.cid), reverse=True)
        gone = ranked[keep_n:]
        for c in gone:
            del self.clusters[c.cid]
            if self.by_id.get(c.pattern_id) == c.cid:
                del self.by_id[c.pattern_id]
        self.buckets = {}
        for c in sorted(self.clusters.values(), key=lambda c: c.cid):
            self.buckets.setdefault((len(c.tokens), _bucket_key(c.tokens)), []).append(c.cid)
        self.families = {
            k: live for k, v in self.families.items() if (live := [x for x in v if x in self.clusters])
        }
        self.merged_into = {}
        self.lists = {k: v for k, v in self.lists.items() if v in self.clusters}
        self.changed = {x for x in self.changed if x in self.clusters}
        self.epoch += 1
        return len(gone)

    # ------------------------------------------------------------ access
    def cluster(self, cid: int) -> Cluster:
        return self.clusters[self.resolve(cid)]

    def drain_changes(self) -> tuple[list[Cluster], dict[str, str]]:
        """Clusters created/changed and aliases added since the last call."""
        changed = [self.clusters[c] for c in {self.resolve(x) for x in self.changed} if c in self.clusters]
        self.changed = set()
        aliases = dict(self.aliases)
        return changed, aliases

    def drain_aliases(self) -> dict[str, str]:
        """Aliases (old id -> current id) added since the last call."""
        out = {old: self.aliases[old] for old in self._alias_log if old in self.aliases}
        self._alias_log = []
        return {k: v for k, v in out.items() if k != v}

    # ------------------------------------------------------------ state
    def dump(self) -> dict[str, Any]:
        return {
            "v": 2,
            "params": [self.similarity, self.word_merge_siblings, self.max_value_mismatch],
            "next_cid": self.next_cid,
            "clusters": [[c.cid, c.tokens, c.count, c.history] for c in self.clusters.values()],
            "families": [[k, v] for k, v in self.families.items()],
            "aliases": self.aliases,
        }

    @classmethod
    def load(cls, state: dict[str, Any] | None, **kw: Any) -> Miner:
        m = cls(**kw)
        if not state or state.get("v") != 2:
            return m  # no state, or one from an older layout: start afresh (IDs are fingerprints)
        m.next_cid = int(state.get("next_cid", 1))
        for cid, tokens, count, history in state.get("clusters", []):
            c = Cluster(cid, list(tokens), count, "", list(history))
            c.refresh_id()
            m.clusters[cid] = c
            m.buckets.setdefault((len(tokens), _bucket_key(tokens)), []).append(cid)
            m.by_id[c.pattern_id] = cid
        for key, members in state.get("families", []):
            live = [x for x in members if x in m.clusters]
            if live:
                m.families[int(key)] = live
        m.aliases = dict(state.get("aliases", {}))
        for c in sorted(m.clusters.values(), key=lambda c: c.cid):
            m._lists_note(c)
        return m

    def templates(self) -> Iterable[tuple[str, str, int]]:
        for c in self.clusters.values():
            yield c.pattern_id, c.template, c.count
