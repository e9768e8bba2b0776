"""A trace as a tree of spans, repaired where the telemetry is broken, with self times.

Real traces arrive broken: the root span is missing (the edge service is not
instrumented, or its batch was lost), spans point at parents that never arrived
(orphans), a span ID repeats, parents form a cycle, a child starts before its parent
because two hosts disagree on the time (clock skew), a span ends before it starts.
None of these may crash an analysis, and none may be hidden: ``build`` repairs what it
must to keep the arithmetic sound and records each repair in ``Trace.issues``:

- several roots, or none → a virtual root spans the whole trace; its own time is
  "uninstrumented";
- an orphan → hung under the virtual root;
- a duplicate span ID → the first copy kept, the others counted;
- a cycle → the spans on it hung under the virtual root;
- a child of another service outside its parent's window → the child's subtree is
  shifted into the parent (Jaeger's clock-skew adjustment), the shift reported. A
  remote child that starts inside its caller but ends after it is not shifted (servers
  end their span after writing the reply, which the caller may already have read); it
  is reported as outside its parent only when late by over 100 ms and its own duration;
- a child of the same service outside its parent → kept where it is (asynchronous work
  may outlive its parent) but clamped to the parent's window for self time and the
  critical path.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from runbrief.errors import NotFound, UsageError
from runbrief.traces.sqlnorm import Describe, describe

__all__ = ["Node", "Trace", "build", "load", "load_many", "parse_trace_id", "SPAN_COLUMNS"]

# A remote child that starts inside its caller may end this much (or its own duration)
# after it before it is reported as outside its parent: a loaded server can take a
# while to close its span after the reply has gone out.
_LATE_END_NS = 100_000_000
SPAN_COLUMNS = (
    "trace_id, span_id, parent_span_id, service, name, kind, start_ns, end_ns, status_code, "
    "status_message, route, attributes, events"
)


class Node:
    """One span (or the virtual root, whose ``span_id`` is empty)."""

    __slots__ = ("span_id", "parent_id", "service", "name", "kind", "start", "end", "status", "status_message",
                 "route", "attrs", "events", "children", "parent", "cstart", "cend", "self_ns", "depth",
                 "shift", "is_error", "_desc")

    def __init__(self, span_id: str, parent_id: str, service: str, name: str, kind: str, start: int, end: int,
                 status: str, status_message: str, route: str, attrs: dict[str, Any], events: list[Any]) -> None:
        self.span_id = span_id
        self.parent_id = parent_id
        self.service = service
        self.name = name
        self.kind = kind or "INTERNAL"
        self.start = start
        self.end = end
        self.status = status or "UNSET"
        self.status_message = status_message or ""
        self.route = route or ""
        self.attrs = attrs
        self.events = events
        self.children: list[Node] = []
        self.parent: Node | None = None
        self.cstart = start  # clamped to the parent's window
        self.cend = end
        self.self_ns = 0
        self.depth = 0
        self.shift = 0  # clock-skew shift applied to this span, ns
        # Failed: status ERROR, or an exception recorded on it (even if the status was left unset).
        self.is_error = self.status == "ERROR" or (bool(events) and any(
            isinstance(e, dict) and e.get("name") == "exception" for e in events))
        self._desc: Describe | None = None

    @property
    def virtual(self) -> bool:
        return not self.span_id

    @property
    def duration_ns(self) -> int:
        return self.end - self.start

    @property
    def desc(self) -> Describe:
        if self._desc is None:
            if self.virtual:
                self._desc = Describe("uninstrumented", "(missing root)", "(missing root)", False)
            else:
                self._desc = describe(self.name, self.kind, self.attrs)
        return self._desc

    def __repr__(self) -> str:
        return f"Node({self.span_id or 'virtual'} {self.name!r})"


@dataclass
class Trace:
    trace_id: str
    root: Node
    nodes: dict[str, Node]
    issues: list[dict[str, Any]] = field(default_factory=list)

    @property
    def start(self) -> int:
        return self.root.start

    @property
    def end(self) -> int:
        return self.root.end

    @property
    def duration_ns(self) -> int:
        return self.root.end - self.root.start

    def walk(self) -> Iterator[Node]:
        """Depth-first, children by start time (iterative: traces can be deep)."""
        stack = [self.root]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def spans(self) -> Iterator[Node]:
        return (n for n in self.walk() if not n.virtual)


def parse_trace_id(text: str) -> str:
    key = (text or "").strip().lower().removeprefix("trc_")
    if not key or any(c not in "0123456789abcdef" for c in key):
        raise UsageError(f"{text!r} is not a trace ID; use the 32-hex ID or trc_<32 hex> from `runbrief traces`")
    return key


def _json(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return default


def _nodes(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[str, Node]]:
    for r in rows:
        yield r[0], Node(r[1], r[2] or "", r[3], r[4] or "", r[5] or "INTERNAL", int(r[6]), int(r[7]), r[8] or "UNSET",
                         r[9] or "", r[10] or "", _json(r[11], {}), _json(r[12], []))


def build(trace_id: str, nodes_in: Iterable[Node]) -> Trace:
    issues: list[dict[str, Any]] = []
    nodes: dict[str, Node] = {}
    dups: dict[str, int] = {}
    for n in nodes_in:
        if n.end < n.start:
            issues.append({"type": "negative_duration", "span_ids": [n.span_id],
                           "detail": f"ends {(n.start - n.end) / 1e6:.3f} ms before it starts; treated as 0 ms"})
            n.end = n.start
        if n.span_id in nodes:
            dups[n.span_id] = dups.get(n.span_id, 1) + 1
            continue
        nodes[n.span_id] = n
    if dups:
        issues.append({"type": "duplicate_span_ids", "span_ids": sorted(dups),
                       "detail": f"{sum(dups.values()) - len(dups)} extra copies of {len(dups)} span ID(s); "
                                 "the first copy of each is used"})
    roots: list[Node] = []
    orphans: list[Node] = []
    for n in nodes.values():
        parent = nodes.get(n.parent_id) if n.parent_id else None
        if parent is None or parent is n:
            (orphans if n.parent_id else roots).append(n)
        else:
            n.parent = parent
            parent.children.append(n)
    # Spans on a parent cycle are reachable from no root: find them by walking down.
    reached: set[str] = set()
    stack = roots + orphans
    while stack:
        node = stack.pop()
        if node.span_id not in reached:
            reached.add(node.span_id)
            stack.extend(node.children)
    if orphans:
        issues.append({"type": "orphan_spans", "span_ids": [n.span_id for n in orphans],
                       "detail": f"{len(orphans)} span(s) name a parent that is not in the trace "
                                 "(lost, not yet arrived, or not instrumented)"})
    cyclic = [n for n in nodes.values() if n.span_id not in reached]
    if cyclic:
        issues.append({"type": "parent_cycle", "span_ids": [n.span_id for n in cyclic],
                       "detail": "these spans' parent links form a cycle; hung under the trace root"})
        for n in cyclic:
            if n.parent is not None:
                n.parent.children.remove(n)
                n.parent = None
        orphans.extend(cyclic)
    if len(roots) == 1 and not orphans:
        root = roots[0]
    else:
        if not roots:
            issues.append({"type": "missing_root", "span_ids": [],
                           "detail": "no span without a parent; a virtual root stands in for it"})
        elif len(roots) > 1:
            issues.append({"type": "multiple_roots", "span_ids": [n.span_id for n in roots],
                           "detail": f"{len(roots)} spans without a parent; a virtual root joins them"})
        tops = roots + orphans
        root = Node("", "", tops[0].service if tops else "", "(trace)", "INTERNAL",
                    min((n.start for n in nodes.values()), default=0), max((n.end for n in nodes.values()), default=0),
                    "UNSET", "", "", {}, [])
        for n in tops:
            n.parent = root
        root.children = tops
    _settle(root, issues)
    return Trace(trace_id, root, nodes, issues)


def _settle(root: Node, issues: list[dict[str, Any]]) -> None:
    """Top-down: skew shifts, windows clamped to the parent, depth, then self time."""
    outside: list[str] = []
    skewed: list[dict[str, Any]] = []
    order: list[Node] = []
    stack = [root]
    while stack:
        node = stack.pop()
        order.append(node)
        for c in node.children:
            c.depth = node.depth + 1
            if node.shift:
                c.start += node.shift
                c.end += node.shift
                c.shift = node.shift
            if not node.virtual and (c.start < node.start or c.end > node.end):
                if c.service == node.service:
                    outside.append(c.span_id)
                elif c.start >= node.start:
                    # A server ends its span after writing the reply, which the caller may
                    # already have read: a late end is normal unless it is large.
                    if c.end - node.end > max(_LATE_END_NS, c.end - c.start):
                        outside.append(c.span_id)
                else:
                    delta = _skew_shift(node, c)
                    c.start += delta
                    c.end += delta
                    c.shift += delta
                    skewed.append({"span_id": c.span_id, "shift_ms": round(delta / 1e6, 3)})
            c.cstart = min(max(c.start, node.cstart), node.cend)
            c.cend = max(min(c.end, node.cend), c.cstart)
        node.children.sort(key=lambda n: (n.start, n.end))
        stack.extend(node.children)
    if skewed:
        issues.append({"type": "clock_skew", "span_ids": [s["span_id"] for s in skewed], "shifts": skewed[:20],
                       "detail": f"{len(skewed)} span(s) of another service lay outside their parent; "
                                 "shifted into it (their subtrees with them)"})
    if outside:
        issues.append({"type": "child_outside_parent", "span_ids": outside,
                       "detail": f"{len(outside)} span(s) run outside their parent's time (asynchronous work, "
                                 "or broken instrumentation); clamped to the parent for self time"})
    for node in order:
        covered, cur_s, cur_e = 0, -1, -1
        for c in node.children:  # sorted by start; union of clamped intervals
            if c.cstart >= cur_e:
                covered += cur_e - cur_s if cur_e > cur_s else 0
                cur_s, cur_e = c.cstart, c.cend
            elif c.cend > cur_e:
                cur_e = c.cend
        covered += cur_e - cur_s if cur_e > cur_s else 0
        node.self_ns = max(0, (node.cend - node.cstart) - covered)


def _skew_shift(parent: Node, child: Node) -> int:
    """How far to move a remote child so that it lies inside its parent (centred if longer)."""
    pdur, cdur = parent.end - parent.start, child.end - child.start
    if cdur > pdur:
        return parent.start - (cdur - pdur) // 2 - child.start
    return parent.start - child.start if child.start < parent.start else parent.end - child.end


def _fetch(store: Any, where: str, params: list[Any]) -> list[tuple[Any, ...]]:
    return store.cursor().execute(f"SELECT {SPAN_COLUMNS} FROM spans WHERE {where}", params).fetchall()


def load(store: Any, trace_id: str) -> Trace:
    """The trace ``trace_id`` (``trc_…`` or bare hex) from the store; NotFound if it has no span."""
    key = parse_trace_id(trace_id)
    rows = _fetch(store, "trace_id = ?", [key])
    if not rows:
        raise NotFound(f"no trace trc_{key} in {store.path}; list recent traces with `runbrief traces`")
    return build(key, (n for _, n in _nodes(rows)))


def load_many(store: Any, trace_ids: list[str]) -> dict[str, Trace]:
    """Several traces in one query (for aggregates across traces)."""
    if not trace_ids:
        return {}
    rows = _fetch(store, "trace_id IN (SELECT unnest(?::VARCHAR[]))", [trace_ids])
    groups: dict[str, list[Node]] = {}
    for tid, node in _nodes(rows):
        groups.setdefault(tid, []).append(node)
    return {tid: build(tid, groups[tid]) for tid in trace_ids if tid in groups}
