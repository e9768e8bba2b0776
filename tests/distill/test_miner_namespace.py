"""A slot whose values share a package or bundle-ID namespace keeps it (issue 17, Build 2).

Real lines: loghub-more Hadoop (``Registering class org.apache.hadoop.mapreduce.<*>``), the
generalizing rule on its own with Mac's bundle IDs and Android's components (a value with
``/`` in every line, ``pkg/.Activity``, stays one value)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbrief.distill.miner import generalize_tokens
from runbrief.distill.parse import Parser

DATA = Path(__file__).resolve().parents[1] / "data" / "logs" / "loghub-more"


@pytest.mark.parametrize(
    ("tokens", "out"),
    [
        (["com.apple.CacheDelete.daily:", "com.apple.icloud.fmfd.heartbeat:",
          "com.apple.ical.sync.x-coredata://DB05755C-483D-44B7-B93B-ED06E57FF420/CalDAVPrincipal/p11:"],
         "com.apple.<*>:"),
        (["org.apache.hadoop.mapreduce.jobhistory.EventType", "org.apache.hadoop.mapreduce.v2.app.job.event.JobEventType"],
         "org.apache.hadoop.mapreduce.<*>"),
        (["cmp=com.tencent.mobileqq/.activity.SplashActivity", "cmp=com.tencent.qt.qtl/.activity.info.NewsDetailXmlActivity"],
         "cmp=<*>"),
        (["1.5", "1.7"], "<*>"),  # numbers are not a namespace
        (["v.alpha", "v.beta"], "<*>"),  # one label is not either
        (["user=root", "user=guest"], "user=<*>"),
    ],
)
def test_generalize_keeps_a_shared_namespace(tokens: list[str], out: str) -> None:
    assert generalize_tokens(tokens) == out


def test_hadoop_registering_class() -> None:
    lines = [ln for ln in (DATA / "Hadoop_300.log").read_text(encoding="utf-8").splitlines()
             if "Registering class" in ln]
    assert len(lines) >= 9
    parsed = Parser().parse(lines, params=False)
    assert {p.template for p in parsed} == {
        "Registering class org.apache.hadoop.mapreduce.<*> for class org.apache.hadoop.mapreduce.<*>"}
