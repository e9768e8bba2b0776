"""Values are variables (issue 17, item 2): lists of varying length and ``key: value``."""

from __future__ import annotations

from runbrief.distill.miner import Miner
from runbrief.distill.parse import Parser

# HDFS's NameNode lists the blocks it asks a DataNode to delete, as many as there are
BLOCKS = [
    "BLOCK* ask 10.250.14.224:50010 to delete blk_-1608999687919862906 blk_7503483334202473044",
    "BLOCK* ask 10.250.11.85:50010 to delete blk_-3544583377289625738",
    "BLOCK* ask 10.251.39.242:50010 to delete blk_-9073992586687739851 blk_7128370237687728475 "
    "blk_-5009020203888190378 blk_2771937497598466934 blk_11",
    "BLOCK* ask 10.250.14.224:50010 to delete blk_-2918118818249673980 blk_3964935937399543587 blk_-71",
]


def test_lists_of_varying_length_are_one_pattern_with_one_value() -> None:
    parsed = Parser().parse(BLOCKS)
    assert len({p.pattern_id for p in parsed}) == 1
    assert parsed[0].template == "BLOCK* ask <*> to delete <*>"
    assert parsed[2].params is not None and "blk_11" in " ".join(parsed[2].params)
    # bracketed, comma-separated lists keep their brackets
    ids = Parser().parse(["granted [1, 2, 3] to worker", "granted [7] to worker", "granted [4, 5] to worker"])
    assert {p.template for p in ids} == {"granted [<*>] to worker"}


def test_lists_that_keep_one_length_keep_their_template() -> None:
    # the stream shows the position constant: six fans, six values, as the ground truth has it
    lines = [f"Fan speeds ( {a} 3534 3375 4245 3515 {b} )" for a, b in ((3552, 3479), (3600, 3400), (3500, 3300))]
    parsed = Parser().parse(lines)
    assert {p.template for p in parsed} == {"Fan speeds ( <*> <*> <*> <*> <*> <*> )"}


def test_a_list_pattern_survives_a_restart_with_the_same_id() -> None:
    p1 = Parser()
    first = p1.parse(BLOCKS)
    state = p1.miner.dump()
    p2 = Parser(Miner.load(state))
    again = p2.parse(list(reversed(BLOCKS)) + ["BLOCK* ask 10.251.7.3:50010 to delete " + " ".join(f"blk_-{n}7919862906" for n in range(6))])
    assert {p.pattern_id for p in again} == {first[0].pattern_id}


def test_first_list_pattern_id_becomes_an_alias() -> None:
    p = Parser()
    a = p.parse(BLOCKS[:1])[0].pattern_id
    b = p.parse(BLOCKS[2:3])[0].pattern_id
    assert a != b and p.miner.aliases.get(a) == b


def test_key_colon_value_at_the_end_is_a_value_at_its_second_sibling() -> None:
    parsed = Parser().parse(["config reloaded, status: ok", "config reloaded, status: degraded"])
    assert {p.template for p in parsed} == {"config reloaded, status: <*>"}
    # a word after "subject:" in the middle still names the event (Mac's "en0: BSSID changed")
    parsed = Parser().parse(["en0: BSSID changed to 0a:1b", "en0: channel changed to 11"])
    assert len({p.pattern_id for p in parsed}) == 2


def test_a_collapsed_list_cluster_leaves_its_word_families() -> None:
    # "batch 11 12 13 from alpha" is in the word family of position 5 of its length; once its
    # list collapses it has four tokens, and the family's merge must not index it
    lines = ["batch 11 12 13 from alpha", "batch 11 12 13 14 from alpha"]
    lines += [f"batch 11 12 13 from {w}" for w in ("beta", "gamma", "delta", "eps", "zeta", "eta", "theta")]
    parsed = Parser().parse(lines)
    assert {x.template for x in parsed} == {"batch <*> from alpha", "batch <*> <*> <*> from <*>"}
