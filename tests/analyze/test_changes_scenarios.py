"""The scenario suite, small: real loghub lines through the real Pipeline and Distiller, a
synthetic deploy, injected changes — ``changes`` must find every one of them.

The full suite (8 datasets, more seeds, precision/recall) is ``bench/changes_scenarios.py``;
this runs two seeds on four datasets each (chosen by the seed), a shorter timeline and
clear injected shifts. A change is findable when the miner kept the injected template in
patterns of its own (it is then "isolated"); the test requires that of most of them, and
requires every isolated one to be found among the service's top 10 items.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import changes_scenarios as cs  # noqa: E402

pytestmark = pytest.mark.skipif(not cs.LOGHUB.exists(), reason="loghub-2k data not present")


@pytest.mark.parametrize("seed", [11, 29])
def test_every_injected_change_is_found(tmp_path: Path, seed: int) -> None:
    datasets = tuple(random.Random(seed).sample(cs.DATASETS, 4))
    res = cs.run(seed, tmp_path, datasets=datasets, distiller="real", base_min=240, after_min=60,
                 rate=(6.0, 12.0), factor=(6.0, 10.0))
    kinds = {k for k, (_, n) in res["by_kind"].items() if n}
    assert {"new", "rate_up", "stopped"} <= kinds
    assert res["isolated"] >= 0.75 * res["truths"], res["missed"]
    assert res["found_isolated"] == res["isolated"], res["missed"]
    # few false ones: at most one per service on average, control services included
    assert res["fp"] <= len(datasets), res["false"]
