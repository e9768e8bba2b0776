"""The miner: clustering decisions, template evolution with aliases, fingerprints, state."""

from __future__ import annotations

import random

from runbrief.distill.mask import Masker
from runbrief.distill.miner import Miner, fingerprint, generalize_tokens, is_value_like
from runbrief.distill.parse import Parser

MASK = Masker()


def mine(lines: list[str], miner: Miner | None = None) -> tuple[Miner, list[int]]:
    m = miner or Miner()
    return m, [m.resolve(m.add(MASK.mask(s).tokens)) for s in lines]


def test_values_merge_but_words_name_different_events() -> None:
    m, cids = mine([
        "open through proxy host-a.example.com:443 HTTPS",
        "open through proxy host-b.example.com:80 HTTPS",
        "open through proxy host-c.example.com:80 SOCKS5",
        "cupsd startup succeeded",
        "cupsd shutdown succeeded",
    ])
    cids = [m.resolve(c) for c in cids]
    assert cids[0] == cids[1] != cids[2]
    assert cids[3] != cids[4]
    assert m.cluster(cids[0]).template == "open through proxy <*> HTTPS"


def test_a_word_with_many_siblings_becomes_a_value() -> None:
    names = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
    m, cids = mine([f"worker {n} finished its shift" for n in names])
    assert len({m.resolve(c) for c in cids}) == 1
    assert m.cluster(cids[0]).template == "worker <*> finished its shift"
    # a few siblings stay apart: they may be distinct events (VM Started/Stopped...)
    m2, c2 = mine([f"VM {s} (Lifecycle Event)" for s in ["Started", "Stopped", "Paused", "Resumed"]])
    assert len({m2.resolve(c) for c in c2}) == 4


def test_after_a_key_noun_two_values_suffice_and_key_value_keeps_the_key() -> None:
    m, cids = mine(["session opened for user root by sshd", "session opened for user news by sshd"])
    assert m.resolve(cids[0]) == m.resolve(cids[1])
    assert m.cluster(cids[0]).template == "session opened for user <*> by sshd"
    m, cids = mine(["login failed user=root", "login failed user=guest"])
    assert m.cluster(cids[0]).template == "login failed user=<*>"
    # one value only: the word stays (check pass; user unknown)
    m, cids = mine(["check pass; user unknown"] * 3)
    assert m.cluster(cids[0]).template == "check pass; user unknown"


def test_evolution_records_aliases_and_ids_are_fingerprints() -> None:
    m, cids = mine(["job 17 done on host alpha", "job 18 done on host bravo"])
    c = m.cluster(cids[0])
    assert c.template == "job <*> done on host <*>"
    assert c.pattern_id == fingerprint(c.template)
    old = fingerprint("job <*> done on host alpha")
    assert m.aliases.get(old) == c.pattern_id
    assert m.drain_aliases() == {k: v for k, v in m.aliases.items()}
    assert m.drain_aliases() == {}


def test_same_template_same_id_in_two_miners() -> None:
    a, ca = mine(["disk /dev/sda1 is 91% full", "disk /dev/sdb2 is 97% full"])
    b, cb = mine(["disk /dev/nvme0n1 is 99% full"])
    assert a.cluster(ca[0]).pattern_id == b.cluster(cb[0]).pattern_id


def test_state_round_trip_continues_identically() -> None:
    lines = [f"request {i} from 10.0.0.{i % 9} served in {i}ms" for i in range(50)] + [
        "cache miss for key user:17", "cache miss for key user:18"]
    m, cids = mine(lines)
    restored = Miner.load(m.dump())
    assert {c.pattern_id for c in restored.clusters.values()} == {c.pattern_id for c in m.clusters.values()}
    _, again = mine(["request 99 from 10.0.0.1 served in 3ms"], restored)
    assert restored.cluster(again[0]).pattern_id == m.cluster(cids[0]).pattern_id


def test_value_like_and_generalize() -> None:
    assert is_value_like("<*>") and is_value_like("host8.example.net") and is_value_like("()")
    assert not is_value_like("HTTPS") and not is_value_like("alt0") and not is_value_like('"GET')
    assert not is_value_like("user=") and is_value_like("rhost=db.example.com")
    assert generalize_tokens(["user=root", "user=guest"]) == "user=<*>"
    assert generalize_tokens(["()", "(a.b.net)"]) == "(<*>)"
    assert generalize_tokens(["a,", "b,"]) == "<*>,"


def test_parser_cache_keeps_names_with_digits_apart() -> None:
    p = Parser(headers=False)
    out = p.parse(["link up on interface alt0", "link up on interface ee0", "link up on interface alt1",
                   "link up on interface alt0"])
    assert [o.template for o in out] == ["link up on interface alt0", "link up on interface ee0",
                                         "link up on interface alt1", "link up on interface alt0"]
    assert out[0].pattern_id == out[3].pattern_id != out[2].pattern_id


def test_parser_hex_key_reuses_shapes_and_params_follow_the_template() -> None:
    p = Parser(headers=False)
    lines = [f"request {u} took {i}ms" for i, u in enumerate(
        ["3f2a9c1b-0d4e-4f60-8a1b-2c3d4e5f6a7b", "aa2a9c1b-0d4e-4f60-8a1b-2c3d4e5f6a7c",
         "bb2a9c1b-ffff-4f60-8a1b-2c3d4e5f6a7d"])]
    out = p.parse(lines)
    assert {o.template for o in out} == {"request <*> took <*>"}
    assert out[1].params == ["aa2a9c1b-0d4e-4f60-8a1b-2c3d4e5f6a7c", "1ms"]
    assert p.misses == 1
    assert p.miner.cluster(out[0].cid).count == 3


def test_eviction_bounds_memory_and_keeps_ids_stable() -> None:
    p = Parser(Miner(max_clusters=100), headers=False)
    frequent = [f"heartbeat from worker {i} ok" for i in range(50)]
    first = p.parse(frequent)[0].pattern_id
    rng = random.Random(3)
    junk = [" ".join("".join(rng.choice("abcdefghij") for _ in range(rng.randint(3, 6)))
                     for _ in range(rng.randint(2, 8))) for _ in range(400)]
    before = {line: o.pattern_id for line, o in zip(junk, p.parse(junk), strict=True)}
    for _ in range(5):  # eviction happens between batches
        p.parse(["heartbeat from worker 1 ok"])
    assert len(p.miner.clusters) <= 100
    assert p.miner.epoch >= 1
    assert p.parse(["heartbeat from worker 7 ok"])[0].pattern_id == first
    again = p.parse(junk[:20])
    assert [o.pattern_id for o in again] == [before[s] for s in junk[:20]]
