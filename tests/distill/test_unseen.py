"""Distill on real logs of systems whose lines no rule was chosen on (issue 17).

The samples (tests/data/logs/loghub-more) are eight Loghub-2k datasets with their corrected
ground truth. Two properties are checked per dataset: the header splitter leaves exactly
the ground-truth Content as the message, and one Parser groups lines as the ground truth
does. Floors sit a little under the measured values, so a regression fails."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

from runbrief.distill.parse import Parser
from runbrief.ingest.formats import split_header

DATA = Path(__file__).resolve().parents[1] / "data" / "logs" / "loghub-more"
DATASETS = ["Android", "Apache", "Hadoop", "HealthApp", "Mac", "OpenSSH", "Thunderbird", "Zookeeper"]


def _load(name: str) -> tuple[list[str], list[dict[str, str]]]:
    raw = (DATA / f"{name}_300.log").read_bytes().decode("utf-8", "replace").split("\n")
    lines = [ln.rstrip("\r") for ln in raw[:300]]
    with open(DATA / f"{name}_300_structured_corrected.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(lines) == 300
    return lines, rows


def _ga(pred: list[str], truth: list[str]) -> float:
    """LogPAI grouping accuracy: a line is right iff its predicted group is its true group."""
    by_p: dict[str, set[int]] = defaultdict(set)
    by_t: dict[str, set[int]] = defaultdict(set)
    for i, (p, t) in enumerate(zip(pred, truth, strict=True)):
        by_p[p].add(i)
        by_t[t].add(i)
    return sum(1 for i in range(len(pred)) if by_p[pred[i]] == by_t[truth[i]]) / len(pred)


# Thunderbird's ground truth keeps some kernel sub-system prefixes in the Content
# ("scsi0 : LSI Logic ...") and strips others, so its floor is lower.
HEADER_FLOOR = {"Thunderbird": 0.97}


@pytest.mark.parametrize("name", DATASETS)
def test_header_split_leaves_the_ground_truth_content(name: str) -> None:
    lines, rows = _load(name)
    ok = 0
    bad = []
    for line, row in zip(lines, rows, strict=True):
        msg = split_header(line.replace("\t", " "), ts=False).message
        if " ".join(msg.split()) == " ".join(row["Content"].split()):
            ok += 1
        else:
            bad.append(line)
    assert ok / len(lines) >= HEADER_FLOOR.get(name, 0.99), bad[:5]


GA_FLOOR = {"Android": 0.87, "OpenSSH": 0.85, "Mac": 0.95}  # measured: 0.893, 0.877, 0.970


@pytest.mark.parametrize("name", DATASETS)
def test_grouping_on_raw_lines(name: str) -> None:
    lines, rows = _load(name)
    parsed = Parser().parse(lines, params=False)
    ga = _ga([p.pattern_id for p in parsed], [r["EventTemplate"] for r in rows])
    assert ga >= GA_FLOOR.get(name, 0.97), ga


@pytest.mark.parametrize(
    ("line", "message", "level", "process"),
    [
        # real lines (Loghub Hadoop, Zookeeper, HealthApp, Mac, Thunderbird) whose header
        # shape no fixed format names: a thread holding ":"/"@", an unpadded clock, a tag
        # with a space and an address annotation, a program without a pid after a host
        ("2015-10-18 18:05:27,570 WARN [LeaseRenewer:msrabi@msra-sa-41:9000] org.apache.hadoop.ipc.Client: "
         "Address change detected.", "Address change detected.", "WARN", "LeaseRenewer:msrabi@msra-sa-41:9000"),
        ("2015-08-20 17:14:13,880 - WARN  [LearnerHandler-/10.10.34.13:42241:Leader@576] - First is 0x0",
         "First is 0x0", "WARN", ""),
        ("20171224-0:0:0:215|Step_LSC|30002312|processHandleBroadcastAction action:android.intent.action.TIME_TICK",
         "processHandleBroadcastAction action:android.intent.action.TIME_TICK", "", "30002312"),
        ("Jul  1 09:29:02 calvisitor-10-105-160-95 sandboxd[129] ([31211]): com.apple.Addres(31211) deny "
         "network-outbound /private/var/run/mDNSResponder",
         "com.apple.Addres(31211) deny network-outbound /private/var/run/mDNSResponder", "", "sandboxd[129]"),
        ("Jul  3 16:29:31 calvisitor-10-105-162-124 Microsoft Word[14463]: Cocoa scripting error for '0x00000000'",
         "Cocoa scripting error for '0x00000000'", "", "Microsoft Word[14463]"),
        ("- 1131566501 2005.11.09 aadmin1 Nov 9 12:01:41 src@aadmin1 dhcpd: DHCPDISCOVER from 00:11:43:e3:ba:c3 "
         "via eth1", "DHCPDISCOVER from 00:11:43:e3:ba:c3 via eth1", "", "dhcpd"),
    ],
)
def test_header_shapes_no_format_names(line: str, message: str, level: str, process: str) -> None:
    h = split_header(line)
    assert (h.message, h.level) == (message, level)
    if process:
        assert h.process == process
    assert h.ts_ns is not None


def test_unpadded_clock_is_the_same_instant_as_padded() -> None:
    a = split_header("20171224-0:0:0:215|Step_LSC|30002312|x").ts_ns
    b = split_header("20171224-00:00:00:215|Step_LSC|30002312|x").ts_ns
    assert a == b == 1514073600215000000


def test_time_zone_abbreviation_is_part_of_the_time() -> None:
    """``CEST`` is read as +02:00 and not left in the message (the instant is 11:36:42 UTC)."""
    h = split_header("2017-07-31 13:36:42.585 CEST INFO [main] com.example.Boot: started in 3 s")
    assert h.ts_ns == 1501501002585000000
    assert h.message == "started in 3 s"
    h = split_header("2014-03-10 19:57:38.562264131 -0400 EDT worker started")
    assert h.ts_ns == 1394495858562264131
    assert h.message == "worker started"


@pytest.mark.parametrize(
    ("message", "masked"),
    [
        # real messages (Loghub Android, Hadoop): literals, Java's host/address form, a
        # host:port without dots, a one-component path are values
        ("ready=true,policy=3,wakefulness=1,bootcompleted=true,mode=false",
         "ready=<*>,policy=<*>,wakefulness=<*>,bootcompleted=<*>,mode=<*>"),
        ("setLightsOn(true)", "setLightsOn(<*>)"),
        ("cancelPeek: false", "cancelPeek: <*>"),
        ("Address change detected. Old: msra-sa-41/10.190.173.170:9000 New: msra-sa-41:9000",
         "Address change detected. Old: <*> New: <*>"),
        ("Resolved MSRA-SA-39.fareast.corp.microsoft.com to /default-rack", "Resolved <*> to <*>"),
        ("Truevision nullable flags stay words", "Truevision nullable flags stay words"),
    ],
)
def test_values_are_variables(message: str, masked: str) -> None:
    from runbrief.distill.mask import Masker

    assert Masker().mask_text(message) == masked
