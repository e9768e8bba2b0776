"""Detection: platform shapes are recognized (also past the sniffed prefix), and nothing else is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbrief.ingest.platforms import detect, open_stream
from runbrief.store.duck import Store

from ._util import DATA, ingest, logs

ROOT = Path(__file__).resolve().parents[2] / "data"
OTHERS = sorted(p for d in ("logs", "k8s", "loghub-2k", "genai", "github") for p in (ROOT / d).rglob("*")
                if p.is_file() and p.suffix in (".log", ".json", ".jsonl", ".ndjson", ".txt"))


@pytest.mark.parametrize("path", OTHERS[:120], ids=lambda p: str(p.relative_to(ROOT)))
def test_other_inputs_are_no_platform(path: Path) -> None:
    assert detect(path.read_bytes()[:65536].decode("utf-8", "replace")) is None


def test_every_platform_sample_is_detected() -> None:
    for path in sorted(DATA.rglob("*")):
        if path.is_file() and path.name != "README.md":
            found = detect(path.read_bytes()[:65536].decode("utf-8", "replace"))
            assert found is not None and found[0] == path.parent.name, path


def test_a_document_longer_than_the_sample(store: Store, tmp_path: Path) -> None:
    events = [{"logStreamName": "2024/05/09/[$LATEST]abc", "timestamp": 1712567843827 + i,
               "message": f"request {i} done in {i % 97} ms", "ingestionTime": 1712567844822 + i,
               "eventId": str(10**20 + i)} for i in range(3000)]
    f = tmp_path / "orders.json"
    f.write_text(json.dumps({"events": events, "searchedLogStreams": []}, indent=4))
    assert f.stat().st_size > 65536
    summary = ingest(store, f)
    assert summary["files"][0]["format"] == "aws:json" and summary["logs"] == 3000
    assert logs(store)[-1]["body"] == "request 2999 done in 89 ms"


def test_stats_asked_before_the_sample_is_complete_lose_nothing() -> None:
    body = (DATA / "vercel" / "docs-format.ndjson").read_bytes()
    s = open_stream("drain.ndjson")
    assert s.feed(body[:100]) == []
    assert s.stats is not None  # asking decides early, on a partial sample (a generic reader here)
    batches = s.feed(body[100:]) + s.close()
    assert [r.body for b in batches for r in b.logs] == ["Build completed successfully", "API request processed"]
