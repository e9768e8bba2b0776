"""Tables that fit the terminal without cutting an evidence ID.

An evidence ID is what a reader copies into the next command (``runbrief show pat_…``),
so a table never ellipsizes one: an ID column is as wide as its longest ID. When the
terminal is too narrow for everything, the columns a command marks as expendable go
first (and a caption says which); only then do text columns wrap. Every cell is plain
text: telemetry is never read as markup and its control characters are shown escaped.
"""

import re
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group
from rich.table import Column, Table
from rich.text import Text

from runbrief.cli._common import visible

__all__ = ["fitted", "plain", "ID_CELL"]

ID_CELL = re.compile(r"(?:(?:pat|log|dep|evt|trc|spn|inc)_[0-9A-Za-z_-]+)(?:[ ,]+(?:pat|log|dep|evt|trc|spn|inc)_[0-9A-Za-z_-]+)*")
_TEXT_MIN = 20  # a free-text column narrower than this reads as noise


def plain(value: Any) -> Text:
    """A cell: the value as text, markup inert, control and bidi characters made visible."""
    s = "" if value is None else str(value)
    return Text(visible(s, newlines=True))


def _is_id_column(cells: list[str]) -> bool:
    filled = [c for c in cells if c]
    return bool(filled) and all(ID_CELL.fullmatch(c) for c in filled)


def _stacked(headers: Sequence[str], cells: list[list[str]]) -> Group:
    """One ``header: value`` line per cell, a blank line between rows: for a terminal too
    narrow for even the ID columns side by side."""
    width = max(map(len, headers))
    parts: list[Text] = []
    for r in cells:
        for h, v in zip(headers, r, strict=True):
            if v:
                line = Text(f"{h:>{width}}  ", style="dim")
                line.append_text(plain(v))
                parts.append(line)
        parts.append(Text(""))
    return Group(*parts)


def fitted(con: Console, headers: Sequence[str], rows: Sequence[Sequence[Any]], *,
           drop: Sequence[str] = (), **table_kw: Any) -> Table | Group:
    """A rich Table of ``rows`` under ``headers`` that fits ``con.width``.

    ``drop`` names expendable columns, the first to go first; on a terminal narrower still,
    the other text columns go from the right; narrower than the ID columns side by side,
    each row is printed as ``header: value`` lines. An ID is never cut."""
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    cols = list(range(len(headers)))

    def longest(i: int, tokens: bool = False) -> int:
        vals = [r[i] for r in cells if r[i]]
        if tokens:
            vals = [t for v in vals for t in re.split(r"[ ,]+", v)]
        return max([len(headers[i]), *map(len, vals)])

    is_id = {i: _is_id_column([r[i] for r in cells]) for i in cols}

    def need(i: int) -> int:
        if is_id[i]:
            return longest(i, tokens=True)
        return min(longest(i), max(_TEXT_MIN, len(headers[i])) if longest(i) > 12 else longest(i))

    shown = list(cols)
    dropped: list[str] = []
    def fits() -> bool:
        return sum(need(i) + 2 for i in shown) <= con.width

    # the expendable columns first, then other text columns from the right: never an ID
    order = [headers.index(n) for n in drop if n in headers]
    order += [i for i in reversed(cols) if not is_id[i] and i not in order]
    for i in order:
        if fits() or len(shown) == 1:
            break
        if i in shown:
            shown.remove(i)
            dropped.append(headers[i])
    if not fits():
        return _stacked(headers, cells)
    columns = []
    for i in shown:
        if is_id[i]:
            columns.append(Column(headers[i], min_width=longest(i, tokens=True),
                                  no_wrap=longest(i) == longest(i, tokens=True), overflow="fold"))
        else:
            columns.append(Column(headers[i], min_width=min(need(i), 8), overflow="fold"))
    kw = {"box": None, **table_kw}
    if dropped:
        kw.setdefault("caption", f"(left out to fit the terminal: {', '.join(dropped)}; --json has everything)")
        kw.setdefault("caption_style", "dim")
        kw.setdefault("caption_justify", "left")
    t = Table(*columns, **kw)
    for r in cells:
        t.add_row(*(plain(r[i]) for i in shown))
    return t


def _scalar(key: str, v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int) and key.endswith("bytes"):
        return f"{v / 2**20:.1f} MiB ({v:,} bytes)"
    if isinstance(v, float):
        return f"{v:,.6g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def render_object(con: Console, obj: dict[str, Any], *, title: str | None = None) -> None:
    """Any answer object for a person: scalars as aligned ``key  value`` lines, lists of
    objects as fitted tables, nested objects indented under their key."""
    if title:
        con.print(plain(title), style="bold")
    _render_mapping(con, obj, 0)


def _render_mapping(con: Console, obj: dict[str, Any], depth: int) -> None:
    pad = "  " * depth
    scalars = [(k, v) for k, v in obj.items() if not isinstance(v, (dict, list)) and v not in (None, "")]
    if scalars:
        t = Table(Column(no_wrap=True, style="dim"), Column(overflow="fold"), box=None, show_header=False,
                  padding=(0, 1, 0, len(pad) + 1))
        for k, v in scalars:
            t.add_row(plain(k.replace("_", " ")), plain(_scalar(k, v)))
        con.print(t)
    for k, v in obj.items():
        if isinstance(v, dict) and v:
            con.print(plain(f"{pad} {k.replace('_', ' ')}:"), style="bold")
            _render_mapping(con, v, depth + 1)
        elif isinstance(v, list) and v:
            con.print(plain(f"{pad} {k.replace('_', ' ')} ({len(v)}):"), style="bold")
            if all(isinstance(x, dict) for x in v):
                keys = list(dict.fromkeys(key for x in v for key in x))
                rows = [[_cell(x.get(key)) for key in keys] for x in v]
                con.print(fitted(con, keys, rows, drop=keys[::-1][: max(0, len(keys) - 2)]))
            else:
                for x in v:
                    con.print(plain(f"{pad}   {_cell(x)}"))


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (dict, list)):
        import orjson

        return orjson.dumps(v, default=str).decode()
    return str(v)
