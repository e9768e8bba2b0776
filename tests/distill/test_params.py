"""Parameters read back from a stored line's template agree with the miner's own."""

from __future__ import annotations

from pathlib import Path

from runbrief.distill.params import params_of, params_of_many
from runbrief.distill.parse import Parser

LOGHUB = Path(__file__).resolve().parents[1] / "data" / "loghub-2k"


def test_read_back_params_agree_with_the_parsers_on_real_lines() -> None:
    files = sorted(LOGHUB.glob("*/*_2k.log"))
    assert len(files) == 8, "tests/data/loghub-2k holds the eight raw logs"
    lines = [ln for f in files for ln in f.read_text(errors="replace").splitlines()]
    parsed = Parser().parse(lines)
    got = params_of_many([p.template for p in parsed], [p.message for p in parsed])
    agree = sum(g == p.params for g, p in zip(got, parsed, strict=True))
    assert None not in got
    # Adjacent <*> with nothing between them can split differently; anything else is a bug.
    assert agree / len(parsed) > 0.999, agree


def test_blanks_tabs_and_lines_that_do_not_fit() -> None:
    assert params_of("took <*> ms for <*>", "took\t12  ms for  user 7") == ["12", "user 7"]
    assert params_of("no values here", "no values here") == []
    assert params_of("took <*> ms", "something else entirely") is None
    assert params_of(None, "anything") is None
    # regex syntax in the line or the template is literal text
    assert params_of("match (a+)+ in <*>", "match (a+)+ in x.*y") == ["x.*y"]


def test_many_placeholders_on_a_line_that_does_not_fit_answers_at_once() -> None:
    # A backtracking engine takes exponential time here; RE2 is linear.
    tpl = " ".join(["<*>"] * 40) + " end"
    assert params_of(tpl, "a " * 5000 + "x") is None
