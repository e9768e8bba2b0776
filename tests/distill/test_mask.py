"""Masking rules: what becomes <*>, what stays, configuration, and the digit invariance
the parser's line-key cache relies on."""

from __future__ import annotations

import random

import pytest

from runbrief.distill.mask import Masker, MaskRule

M = Masker()


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("user 42 logged in from 10.0.0.7:5432", "user <*> logged in from <*>"),
        ("req 3f2a9c1b-0d4e-4f60-8a1b-2c3d4e5f6a7b done", "req <*> done"),
        ("GET https://api.example.com/v1/users/17?x=1 ok", "GET <*> ok"),
        ("mail to ops@example.com bounced", "mail to <*> bounced"),
        ("wrote /var/lib/db/file_17.dat", "wrote <*>"),
        ("addr 0x7fed806eb5d and fe80::1ff:fe23:4567:890a", "addr <*> and <*>"),
        ("mac 00:1A:2b:3C:4d:5E up", "mac <*> up"),
        ("took 12ms, then 3.5s and 80%", "took <*>, then <*> and <*>"),
        ("size 1.2 KB, free 3 GB", "size <*>, free <*>"),
        ("sent 1039 bytes (1.01 KB) in total", "sent <*> in total"),
        ("lifetime <1 sec", "lifetime <*>"),
        ("at Sun Jul 24 02:38:22 2005 and 2024-01-02 10:00:00", "at <*> and <*>"),
        ("(HWID=1973) uid=0 tty=:0 node-246 core.114", "(HWID=<*>) uid=<*> tty=:<*> node-<*> core.<*>"),
        ("block blk_-123456789 and rdd_42_3 and broadcast_9", "block <*> and <*> and <*>"),
        ("10.1.2.3:50010:Got exception", "<*>:Got exception"),
        ("CurrentState:112, touch......0", "CurrentState:<*>, touch......<*>"),
        ("interface alt0 and tty2 via SOCKS5 with log4j", "interface alt0 and tty2 via SOCKS5 with log4j"),
        ("plain words only", "plain words only"),
    ],
)
def test_shapes(text: str, shape: str) -> None:
    assert M.mask_text(text) == shape


def test_value_spans_point_at_the_values() -> None:
    text = "user 42 from 10.0.0.7 took 12ms"
    m = M.mask(text)
    values = [text[a:b] for spans in m.value_spans for a, b in spans]
    assert values == ["42", "10.0.0.7", "12ms"]
    assert [text[a:b] for a, b in m.token_spans] == text.split()


def test_rules_can_be_disabled_and_added() -> None:
    custom = Masker(disable={"email"}, extra=[MaskRule("ticket", r"TCK-[A-Z]+")])
    assert custom.mask_text("ticket TCK-ABC from ops@example.com") == "ticket <*> from ops@example.com"
    assert "email" not in custom.config() and "ticket" in custom.config()
    assert Masker(rules=()).mask_text("a 1 b") == "a 1 b"


def test_digit_substitution_does_not_move_spans() -> None:
    """Two lines that differ only in which digits they carry mask at the same spans."""
    rng = random.Random(7)
    samples = [
        "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660",
        "2015-07-29 17:41:44,747 - INFO [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:Fast@774] - time out: 3200",
        "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: failure; logname= uid=0 euid=0 rhost=218.188.2.4",
        "[10.30 16:49:06] chrome.exe - proxy.cse.cuhk.edu.hk:5070 close, 1039 bytes (1.01 KB) sent, lifetime 00:01",
        "node-246 (HWID=1973) 0x1f00 core.114 00000001@2016/9/27:20:30:31.455 rdd_42_37 v6.1.7601.23505 12ms",
    ]
    for s in samples:
        base = M.mask(s)
        for _ in range(50):
            t = "".join(rng.choice("0123456789") if c.isdigit() else c for c in s)
            other = M.mask(t)
            zero = str.maketrans("123456789", "000000000")
            assert [x.translate(zero) for x in other.tokens] == [x.translate(zero) for x in base.tokens], (s, t)
            assert other.value_spans == base.value_spans, (s, t)


@pytest.mark.parametrize(("text", "shape"), [
    # code locations (Thunderbird's OpenSM, Android's stack frames and fields): the name is text
    ("[ib_sm_sweep.c:520]: No topology change", "[ib_sm_sweep.c:<*>]: No topology change"),
    ("called by com.android.server.wm.Session.onTransact:136", "called by com.android.server.wm.Session.onTransact:<*>"),
    ("state.clipTopAmount:0, i:7", "state.clipTopAmount:<*>, i:<*>"),
    ("at Foo.java:42) done", "at Foo.java:<*>) done"),
    # hosts keep being one value, whatever the case of their labels
    ("connect to node-41.example.com:9000", "connect to <*>"),
    ("proxy MININT-FNANLI5.fareast.corp.microsoft.com:52368 open", "proxy <*> open"),
    ("to HOST.CORP.LOCAL:445", "to <*>"),
])
def test_code_locations_are_not_hosts(text: str, shape: str) -> None:
    assert Masker().mask_text(text) == shape


@pytest.mark.parametrize(("text", "shape"), [
    # Android's setSystemUiVisibility: a hex mask written without a digit
    ("vis=0x8008 mask=ffffffff oldVal=0x40000", "vis=<*> mask=<*> oldVal=<*>"),
    ("magic DEADBEEF seen", "magic <*> seen"),
    ("a cafe facade decade", "a cafe facade decade"),  # words of hex letters stay words
    # Hadoop's "Starting Socket Reader #1", Mac's "reason #8,": the number is the value
    ("Starting Socket Reader #1 for port 62260", "Starting Socket Reader #<*> for port <*>"),
    ("Roamed or switched channel, reason #8, bssid", "Roamed or switched channel, reason #<*>, bssid"),
    ("relay=#7#@localhost", "relay=#7#@localhost"),
])
def test_hex_letters_and_numbered_signs(text: str, shape: str) -> None:
    assert Masker().mask_text(text) == shape
