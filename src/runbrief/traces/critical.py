"""The critical path: the chain of work that decided how long the trace took.

Jaeger's algorithm: walk back from the root's end; at each step the child that finished
last before the cursor is on the path, the time between its end and the cursor belongs
to the parent itself, then the path descends into that child and, when it comes back,
the cursor moves to the child's start. Children that ran concurrently with a later
child on the path are skipped: making them faster would not shorten the trace. Windows
are clamped to the parent (see ``tree``), so the segments tile the root exactly and the
time by kind adds up to the trace's duration.
"""

from __future__ import annotations

from dataclasses import dataclass

from runbrief.traces.sqlnorm import CATEGORIES
from runbrief.traces.tree import Node, Trace

__all__ = ["Segment", "critical_path", "by_span", "time_by_kind", "time_by_service"]


@dataclass(slots=True)
class Segment:
    node: Node
    start: int
    end: int


class _Frame:
    __slots__ = ("node", "cursor", "i", "children")

    def __init__(self, node: Node, cursor: int) -> None:
        self.node, self.cursor, self.i = node, cursor, 0
        self.children = _by_end(node)


def critical_path(trace: Trace) -> list[Segment]:
    """Segments of the critical path in time order; each is time a span spent on its own."""
    segments: list[Segment] = []
    stack = [_Frame(trace.root, trace.root.cend)]
    while stack:
        frame = stack[-1]
        node = frame.node
        children = frame.children
        i = frame.i
        while i < len(children) and children[i].cend > frame.cursor:
            i += 1
        if i < len(children):
            child = children[i]
            if frame.cursor > child.cend:
                segments.append(Segment(node, child.cend, frame.cursor))
            frame.cursor, frame.i = child.cstart, i + 1
            stack.append(_Frame(child, child.cend))
        else:
            if frame.cursor > node.cstart:
                segments.append(Segment(node, node.cstart, frame.cursor))
            stack.pop()
    segments.reverse()
    return segments


def _by_end(node: Node) -> list[Node]:
    # Last-finishing first; among equal ends the longer (earlier start) wins.
    return sorted((c for c in node.children if c.cend > c.cstart), key=lambda c: (-c.cend, c.cstart))


def by_span(segments: list[Segment]) -> list[tuple[Node, int, int]]:
    """(span, first time on the path, ns it contributed), in path order."""
    first: dict[int, tuple[Node, int]] = {}
    total: dict[int, int] = {}
    for seg in segments:
        key = id(seg.node)
        if key not in first:
            first[key] = (seg.node, seg.start)
        total[key] = total.get(key, 0) + (seg.end - seg.start)
    return [(node, start, total[key]) for key, (node, start) in first.items()]


def time_by_kind(segments: list[Segment]) -> dict[str, int]:
    """Critical-path time per category (db, http_client, cache…), ns, in ``CATEGORIES`` order."""
    totals: dict[str, int] = {}
    for seg in segments:
        cat = seg.node.desc.category
        totals[cat] = totals.get(cat, 0) + (seg.end - seg.start)
    return {c: totals[c] for c in CATEGORIES if totals.get(c)}


def time_by_service(segments: list[Segment]) -> dict[str, int]:
    """Critical-path time per service, ns, largest first: where a remote call's time was really spent."""
    totals: dict[str, int] = {}
    for seg in segments:
        name = seg.node.service if not seg.node.virtual else "(uninstrumented)"
        totals[name] = totals.get(name, 0) + (seg.end - seg.start)
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))
