"""A stored line's parameters, read back from its pattern's template when it is shown.

Why not at ingest: the values are the line minus its template, and the line and template
are both stored, so slicing them out of every record (and storing them again as JSON)
cost about 2 us a record on the ingest path for a column nothing queried. A reader asks
for tens or hundreds of lines; matching those against their templates costs nothing
worth measuring.

Matching uses RE2 (through Arrow compute), so a template with many ``<*>`` cannot make a
non-matching line backtrack for long. Blanks in the template match any run of blanks
(the miner sees tabs as spaces and splits on blanks). A line that no longer fits its
template (the template evolved further than an alias can say) gets ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

from runbrief.distill.mask import WILDCARD
from runbrief.distill.parse import MAX_LINE

__all__ = ["params_of", "params_of_many"]


@lru_cache(maxsize=4096)
def _pattern(template: str) -> str | None:
    """An anchored RE2 pattern with one named group per ``<*>``; None without any."""
    parts = template.split(WILDCARD)
    if len(parts) == 1:
        return None
    lit = [r"\s+".join(re.escape(w) for w in part.split(" ")) for part in parts]
    body = "".join(f"{text}(?P<p{i}>.*?)" for i, text in enumerate(lit[:-1])) + lit[-1]
    return rf"(?s)^\s*{body}\s*$"


def params_of_many(templates: Sequence[str | None], messages: Sequence[str | None]) -> list[list[str] | None]:
    """The values of each message's ``<*>`` in its template, in order: ``[]`` for a template
    without placeholders, ``None`` where there is no template or it does not match."""
    out: list[list[str] | None] = [None] * len(messages)
    rows: dict[str, list[int]] = {}
    for i, (tpl, msg) in enumerate(zip(templates, messages, strict=True)):
        if tpl is not None and msg is not None:
            rows.setdefault(tpl, []).append(i)
    for tpl, idx in rows.items():
        pattern = _pattern(tpl)
        if pattern is None:
            for i in idx:
                out[i] = []
            continue
        # The miner saw at most MAX_LINE characters of a line: so does the template.
        got = pc.extract_regex(pa.array([messages[i][:MAX_LINE] for i in idx], pa.string()), pattern=pattern)
        fields = [got.field(k).to_pylist() for k in range(got.type.num_fields)]
        valid = got.is_valid().to_pylist()
        for j, i in enumerate(idx):
            if valid[j]:
                out[i] = [f[j] for f in fields]
    return out


def params_of(template: str | None, message: str | None) -> list[str] | None:
    """``params_of_many`` for one line."""
    return params_of_many([template], [message])[0]
