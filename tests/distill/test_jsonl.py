"""``runbrief parse``'s fast output path writes exactly what serializing each line's
object on its own writes (distill.jsonl), whatever the chunk and batch boundaries."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest

from runbrief.distill import jsonl
from runbrief.distill.parse import Parser, line_keys

DATA = Path(__file__).resolve().parents[1] / "data" / "logs"
# CRLF, a blank line, invalid UTF-8, a cut multi-byte character, NUL, TAB, a lone CR at the end
EDGE = (b"a\r\n\nb\xff\xfe 12 x\r\n\xe2\x82\n  \nnul\x00 7\tz\n"
        b'quotes "," \\"," and },{"line": 3 \\\\\n' b"\xc3\xa9t\xc3\xa9 \xf0\x9f\x94\xa5 4\nlast\r")


def _reference(raw: bytes, batch: int) -> bytes:
    """The per-line path: decode each line, ``Parser.iter_batches``, one dumps per line."""
    lines = []
    for ln in io.BytesIO(raw):
        ln = ln[:-1] if ln.endswith(b"\n") else ln
        ln = ln[:-1] if ln.endswith(b"\r") else ln
        lines.append(ln.decode("utf-8", "replace"))
    out = []
    for b in Parser().iter_batches(lines, batch=batch):
        for line, pid, tpl, prm, lvl in b.rows():
            obj = {"line": line, "pattern_id": pid, "template": tpl, "params": prm, "content_template": tpl}
            if lvl:
                obj["level"] = lvl
            out.append(orjson.dumps(obj) + b"\n")
    return b"".join(out)


def _corpus() -> bytes:
    parts = [f.read_bytes() for f in sorted((DATA / "loghub-more").glob("*.log"))]
    parts += [f.read_bytes() for f in sorted((DATA / "elastic").glob("*.log"))]
    return b"".join(p if p.endswith(b"\n") else p + b"\n" for p in parts) + EDGE


@pytest.mark.parametrize(("batch", "chunk"), [(100_000, jsonl.CHUNK), (300, 4096), (7, 97)])
def test_fast_path_writes_the_reference_bytes(batch: int, chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = _corpus()
    monkeypatch.setattr(jsonl, "CHUNK", chunk)
    monkeypatch.setattr(jsonl, "PIECE", 50)
    out = io.BytesIO()
    n = jsonl.write_jsonl(Parser(), io.BytesIO(raw), out, batch)
    assert n == raw.count(b"\n") + 1
    assert out.getvalue() == _reference(raw, batch)


def test_edge_bytes_alone() -> None:
    out = io.BytesIO()
    jsonl.write_jsonl(Parser(), io.BytesIO(EDGE), out)
    rows = [orjson.loads(x) for x in out.getvalue().splitlines()]
    assert [r["line"] for r in rows][-1] == "last" and len(rows) == 9
    assert rows[6]["line"] == 'quotes "," \\"," and },{"line": 3 \\\\'
    assert out.getvalue() == _reference(EDGE, 100_000)


def test_chunks_of_any_size_give_the_lines() -> None:
    """Reads cut anywhere (inside a UTF-8 character, between CR and LF, in a long line) give
    the lines and keys of splitting the whole input."""
    raw = _corpus()[:3000] + EDGE + "é€😀\r\n\r\r\nx\ry\n".encode() * 3 + b"\xe2\x82" + b"end\r"
    parts = [p[:-1] if p.endswith(b"\r") else p for p in raw.split(b"\n")]
    want = ([p.decode("utf-8", "replace") for p in parts], [line_keys(p)[0] for p in parts])
    for size in [*range(1, 70), 97, 255, 256, 1000, 4096]:
        lines: list[str] = []
        keys: list[bytes] = []
        for ls, ks in jsonl.read_chunks(io.BytesIO(raw), size):
            lines += ls
            keys += ks
        assert (lines, keys) == want, size
