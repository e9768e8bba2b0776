"""Bounded work per line (issue 16/17): a token cap, the rest kept whole as one value,
and sibling-family keys computed in one pass over the tokens."""

from __future__ import annotations

from pathlib import Path

from runbrief.distill.miner import _family_keys
from runbrief.distill.parse import MAX_TOKENS, Parser

DATA = Path(__file__).resolve().parents[1] / "data" / "loghub-2k"


def test_a_long_line_is_mined_on_its_first_tokens_and_keeps_the_rest_as_one_value() -> None:
    # a real OpenStack line, then the same line with a long variable tail
    base = (DATA / "OpenStack" / "OpenStack_2k.log").read_text().splitlines()[0]
    tail = " ".join(f"item{i % 7}={i}" for i in range(5_000))  # ~45 KB, under MAX_LINE
    line = f"{base} {tail}"
    p = Parser().parse([line, base + " " + tail.replace("=1", "=9")])
    tpl = p[0].template.split(" ")
    assert len(tpl) <= MAX_TOKENS
    assert tpl[-1] == "<*>"
    assert p[0].pattern_id == p[1].pattern_id
    assert p[0].params is not None and p[0].params[-1].endswith("item1=4999")
    assert len(p[0].params[-1]) > len(tail) // 2  # the rest is kept as text, not dropped


def test_lines_under_the_cap_are_mined_whole() -> None:
    lines = (DATA / "HDFS" / "HDFS_2k.log").read_text().splitlines()[:50]
    for p in Parser().parse(lines):
        assert len(p.template.split(" ")) == len(p.message.split())


def test_family_keys_name_the_other_tokens_and_the_position() -> None:
    a = ["user", "root", "logged", "in"]
    b = ["user", "guest", "logged", "in"]
    ka, kb = _family_keys(a), _family_keys(b)
    assert ka[1] == kb[1]  # they differ at position 1 only: one family there
    assert ka[0] != kb[0] and ka[2] != kb[2]
    assert _family_keys(["a", "b"])[0] != _family_keys(["a", "b"])[1]
    assert _family_keys(["a b", "c"])[1] != _family_keys(["a", "b c"])[1]
    assert len(_family_keys(["w"] * 10_000)) == 10_000
