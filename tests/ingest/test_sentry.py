"""Sentry SDK payloads read as spans and log records (issue 18: real SDK transaction events).

tests/data/sentry/python-sdk-cart.envelopes is what the real sentry-sdk (2.75.0, MIT) POSTed
to a capture server (see tests/data/sentry/README.md): an error event, a transaction with
a SQLAlchemy N+1 loop, an http.client call and a file.read span, and a Sentry Logs item.
"""

from __future__ import annotations

import json
from pathlib import Path

from runbrief.ingest._file_sources import ingest_local
from runbrief.ingest.sentry import SentryReader, parse_envelope, sniff
from runbrief.store.duck import Store

DATA = Path(__file__).resolve().parents[1] / "data" / "sentry"


def test_the_real_sdk_envelopes_become_spans_and_logs(tmp_path: Path) -> None:
    body = (DATA / "python-sdk-cart.envelopes").read_bytes()
    assert sniff(body) == "envelope"
    with Store.open(tmp_path / "s") as store:
        out = ingest_local(store, [str(DATA / "python-sdk-cart.envelopes")])
        assert out["files"][0]["format"] == "sentry:envelope" and out["bad_lines"] == 0
        spans = store.query("SELECT name, kind, parent_span_id, attributes FROM spans ORDER BY start_ns")
        logs = store.query("SELECT body, severity_number FROM logs ORDER BY ts")
        services = {r["service"] for r in store.query("SELECT DISTINCT service FROM spans")}
    assert services == {"shop"}  # from the release shop@2.0.0
    assert spans[0]["name"] == "GET /cart" and spans[0]["kind"] == "SERVER" and not spans[0]["parent_span_id"]
    db = [s for s in spans if s["name"] == "select name from item where id = ?"]
    assert len(db) == 6 and all(s["kind"] == "CLIENT" for s in db)
    attrs = json.loads(db[0]["attributes"]) if isinstance(db[0]["attributes"], str) else db[0]["attributes"]
    assert attrs["sentry.op"] == "db" and attrs["db.system"] == "sqlite"
    http = [s for s in spans if s["name"].startswith("GET http://")]
    assert len(http) == 1
    bodies = {r["body"]: r["severity_number"] for r in logs}
    assert bodies["ZeroDivisionError: division by zero"] == 17
    assert bodies["loyalty lookup failed for user 7"] == 17


def test_one_bad_span_does_not_sink_its_transaction() -> None:
    ev = {"type": "transaction", "event_id": "e1", "transaction": "GET /x", "start_timestamp": 1_700_000_000.0,
          "timestamp": 1_700_000_001.0, "contexts": {"trace": {"trace_id": "ab" * 16, "span_id": "cd" * 8}},
          "spans": [{"span_id": "zz", "start_timestamp": 1}, "not a span",
                    {"span_id": "ef" * 8, "parent_span_id": "cd" * 8, "op": "db", "description": "select 1",
                     "start_timestamp": 1_700_000_000.1, "timestamp": 1_700_000_000.2}]}
    r = SentryReader()
    r.value(ev)
    assert [s.name for s in r.batch.spans] == ["GET /x", "select 1"] and r.bad == 2


def test_a_stored_event_without_contexts_hangs_its_spans_from_the_common_parent() -> None:
    ev = {"event_id": "abc123", "type": "transaction", "transaction": "GET /api/example",
          "start_timestamp": 1747661893.761, "timestamp": 1747661895.07931,
          "spans": [{"span_id": "8fa89b11d6c49e68", "parent_span_id": "8fa89b11d6c49e68", "op": "middleware.express",
                     "trace_id": "d1cfb683e06b415b9f89742214dcbc12", "start_timestamp": 1747661893.762,
                     "timestamp": 1747661893.762268},
                    *({"span_id": f"{i:016x}", "parent_span_id": "8fa89b11d6c49e68", "op": "db",
                       "description": '{"characters":"?"}', "data": {"db.system": "mongodb"},
                       "trace_id": "d1cfb683e06b415b9f89742214dcbc12", "start_timestamp": 1747661893.8 + i / 100,
                       "timestamp": 1747661893.81 + i / 100} for i in range(1, 7))]}
    r = SentryReader()
    r.value(ev)
    root = r.batch.spans[0]
    assert root.span_id == "8fa89b11d6c49e68" and root.trace_id == "d1cfb683e06b415b9f89742214dcbc12"
    assert len(r.batch.spans) == 7 and {s.parent_span_id for s in r.batch.spans[1:]} == {root.span_id}


def test_envelope_items_with_and_without_length() -> None:
    body = (b'{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}\n'
            b'{"type":"attachment","length":10}\nhelloworld\n'
            b'{"type":"event"}\n{"message":"hi","level":"warning","timestamp":1700000000}\n')
    header, items = parse_envelope(body)
    assert header["event_id"].startswith("9ec7") and [i[0]["type"] for i in items] == ["attachment", "event"]
    assert items[0][1] == b"helloworld"
    r = SentryReader()
    r.envelope(body)
    assert r.skipped == 1 and [(x.body, x.severity_number) for x in r.batch.logs] == [("hi", 13)]


def test_pretty_printed_events_back_to_back_with_a_bad_one_between(tmp_path: Path) -> None:
    ev = {"type": "transaction", "event_id": "e1", "transaction": "GET /x", "start_timestamp": 1_700_000_000.0,
          "timestamp": 1_700_000_001.0, "contexts": {"trace": {"trace_id": "ab" * 16, "span_id": "cd" * 8}},
          "spans": []}
    text = json.dumps(ev, indent=2) + "\n{not json\n" + json.dumps({**ev, "event_id": "e2",
                                                                  "contexts": {"trace": {"trace_id": "ef" * 16,
                                                                                         "span_id": "01" * 8}}},
                                                                 indent=2)
    path = tmp_path / "events.json"
    path.write_text(text)
    with Store.open(tmp_path / "s") as store:
        out = ingest_local(store, [str(path)])
        assert out["files"][0]["format"] == "sentry:events" and out["bad_lines"] == 1
        assert store.scalar("SELECT count(DISTINCT trace_id) FROM spans") == 2
