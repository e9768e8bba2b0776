"""File ingest over real loghub logs and realistic samples of the other formats."""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from runbrief.ingest._file_sources import ingest_local
from runbrief.ingest.logfiles import LogStream
from runbrief.store.duck import Store

from . import samples
from .conftest import LOGHUB


def _ingest(store: Store, path: Path, content: str | bytes, **kw: Any) -> dict[str, Any]:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return ingest_local(store, [str(path)], **kw)


def _logs(store: Store, service: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT * FROM logs" + (" WHERE service = ?" if service else "") + " ORDER BY id"
    rows = store.query(sql, [service] if service else [])
    for r in rows:
        r["attributes"] = json.loads(r["attributes"]) if r["attributes"] else {}
    return rows


@pytest.mark.parametrize("dataset", ["BGL", "HDFS", "HPC", "Linux", "OpenStack", "Proxifier", "Spark", "Windows"])
def test_loghub_file_one_record_per_line_with_its_own_time(store: Store, dataset: str) -> None:
    path = LOGHUB / dataset / f"{dataset}_2k.log"
    result = ingest_local(store, [str(path)])
    assert result["errors"] == []
    assert result["logs"] == 2000 and result["lines"] == 2000
    rows = _logs(store)
    assert len(rows) == 2000
    # every line of these files carries its own time: none may fall back to ingest time
    years = {r["ts"].year for r in rows}
    assert min(years) >= 2003 and max(years) <= datetime.now().year
    assert max(r["ts"] for r in rows) < min(r["observed_ts"] for r in rows)
    assert all(r["observed_ts"] is not None for r in rows)
    first_raw = path.read_text().splitlines()[0]
    assert rows[0]["body"] and rows[0]["body"] in first_raw and len(rows[0]["body"]) < len(first_raw)
    assert rows[0]["service"] == f"{dataset}_2k"


def test_loghub_header_fields(store: Store) -> None:
    ingest_local(store, [str(LOGHUB / "HDFS" / "HDFS_2k.log"), str(LOGHUB / "Linux" / "Linux_2k.log")])
    hdfs = _logs(store, "HDFS_2k")[0]
    assert hdfs["body"] == "PacketResponder 1 for block blk_38865049064139660 terminating"
    assert hdfs["severity_text"] == "INFO" and hdfs["severity_number"] == 9
    assert hdfs["attributes"]["logger"] == "dfs.DataNode$PacketResponder"
    assert hdfs["ts"] == datetime(2008, 11, 9, 20, 36, 15)
    linux = _logs(store, "Linux_2k")[0]
    assert linux["attributes"]["host"] == "combo" and linux["attributes"]["process"].startswith("sshd(pam_unix)")
    # syslog has no year: it takes the file's year, never 1970
    assert linux["ts"].year >= 2024 and (linux["ts"].month, linux["ts"].day) == (6, 14)


def test_json_lines_common_keys(store: Store, tmp_path: Path) -> None:
    result = _ingest(store, tmp_path / "app.jsonl", samples.JSON_LINES)
    assert result["files"][0]["format"] == "json" and result["logs"] == 5
    rows = _logs(store)
    assert [r["body"] for r in rows] == ["listening", "request completed", "pool exhausted", "slow query",
                                         "card declined"]
    assert [r["severity_text"] for r in rows] == ["info", "INFO", "error", "warn", "ERROR"]
    assert [r["severity_number"] for r in rows] == [9, 9, 17, 13, 17]
    assert rows[0]["ts"] == datetime(2024, 5, 1, 10, 0, 0, 123456)
    assert rows[1]["ts"] == datetime(2024, 5, 1, 10, 0, 1)  # epoch milliseconds
    assert rows[3]["ts"] == datetime(2024, 5, 1, 10, 0, 3, 500000)  # epoch seconds with fraction
    assert rows[4]["ts"] == datetime(2024, 5, 1, 10, 0, 4, 250000)
    assert rows[0]["service"] == "checkout" and rows[2]["service"] == "checkout"  # flat and ECS nesting
    assert rows[1]["service"] == "app"  # no service key: the file name
    assert rows[2]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736" and rows[2]["span_id"] == "00f067aa0ba902b7"
    assert rows[3]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"  # upper-case hex normalized
    assert rows[0]["attributes"]["port"] == 8080 and rows[1]["attributes"]["req"] == {"url": "/cart"}
    assert rows[2]["attributes"]["logger"] == "db"


def test_service_option_overrides(store: Store, tmp_path: Path) -> None:
    _ingest(store, tmp_path / "app.jsonl", samples.JSON_LINES, service="cart")
    assert {r["service"] for r in _logs(store)} == {"cart"}


def test_logfmt(store: Store, tmp_path: Path) -> None:
    result = _ingest(store, tmp_path / "gw.log", samples.LOGFMT)
    assert "logfmt" in result["files"][0]["format"]
    rows = _logs(store)
    assert [r["body"] for r in rows] == ["starting server", "upstream slow", 'request failed "POST /pay"', "tick"]
    assert [r["severity_text"] for r in rows] == ["info", "warn", "error", "debug"]
    assert rows[0]["service"] == "gateway" and rows[1]["service"] == "gw"
    assert rows[2]["attributes"] == {"status": "502", "err": "EOF", "log.file.name": str(tmp_path / "gw.log")}
    assert rows[1]["ts"] == datetime(2024, 5, 1, 10, 0, 1, 500000)


def test_klog_and_nginx_access(store: Store, tmp_path: Path) -> None:
    _ingest(store, tmp_path / "kcm.log", samples.KLOG)
    _ingest(store, tmp_path / "access.log", samples.NGINX_ACCESS)
    klog = _logs(store, "kcm")
    assert [r["severity_text"] for r in klog] == ["INFO", "WARN", "ERROR"]
    assert klog[0]["body"].startswith('"Starting controller"') and klog[0]["attributes"]["logger"] == "controller.go:120"
    assert klog[0]["ts"].month == 5 and klog[0]["ts"].day == 1 and klog[0]["ts"].year >= 2024
    access = _logs(store, "access")
    assert len(access) == 3 and access[1]["attributes"]["host"] == "10.0.0.2"
    assert access[1]["body"].startswith('"POST /checkout HTTP/1.1" 502')
    assert access[0]["ts"] == datetime(2024, 5, 1, 10, 0, 0)


def test_python_traceback_joined_to_its_line(store: Store, tmp_path: Path) -> None:
    result = _ingest(store, tmp_path / "checkout.log", samples.PYTHON_TRACEBACK)
    assert result["logs"] == 3 and result["files"][0]["multiline_records"] == 1
    rows = _logs(store)
    err = rows[1]
    assert err["severity_text"] == "ERROR"
    assert err["body"].startswith("payment failed for order 1001\nTraceback (most recent call last):")
    assert err["body"].endswith("checkout.payments.PaymentError: card declined")
    assert rows[2]["body"] == "order 1002 received"


def test_log4j_stack_trace_joined(store: Store, tmp_path: Path) -> None:
    result = _ingest(store, tmp_path / "cart.log", samples.LOG4J_STACK)
    assert result["logs"] == 3
    rows = _logs(store)
    assert rows[1]["severity_text"] == "ERROR" and rows[1]["body"].count("\n") == 7
    assert "Caused by: java.sql.SQLTransientConnectionException" in rows[1]["body"]
    assert rows[2]["severity_text"] == "WARN"


def test_kubectl_logs_timestamps_with_json_app(store: Store, tmp_path: Path) -> None:
    result = _ingest(store, tmp_path / "checkout.txt", samples.KUBECTL_TS_JSON)
    assert result["files"][0]["format"].startswith("kubectl-ts")
    rows = _logs(store)
    assert [r["body"] for r in rows] == ["listening", "starting worker pool size=8", "db timeout"]
    assert rows[0]["ts"] == datetime(2024, 5, 1, 10, 0, 0, 100000)  # kubectl's time when the app gave none
    assert rows[2]["ts"] == datetime(2024, 5, 1, 10, 0, 1, 250000)  # the record's own time wins
    assert rows[2]["severity_text"] == "error"


def test_kubectl_logs_prefix_names_pod_and_workload(store: Store, tmp_path: Path) -> None:
    _ingest(store, tmp_path / "all.log", samples.KUBECTL_PREFIX)
    rows = _logs(store)
    assert {r["service"] for r in rows} == {"checkout"}
    assert [r["body"] for r in rows] == ["ready", "connection refused to payments:443", "retrying"]
    assert [r["severity_text"] for r in rows] == ["INFO", "ERROR", "WARN"]
    res = store.query("""SELECT json_extract_string(attributes, '$."k8s.pod.name"') pod,
                                json_extract_string(attributes, '$."k8s.deployment.name"') dep FROM resources
                         ORDER BY pod""")
    assert res == [{"pod": "checkout-7d9f8b6c5-q8w4z", "dep": "checkout"},
                   {"pod": "checkout-7d9f8b6c5-x2x7k", "dep": "checkout"}]


def test_cri_partial_lines_rejoined(store: Store, tmp_path: Path) -> None:
    _ingest(store, tmp_path / "0.log", samples.CRI, service="worker")
    rows = _logs(store)
    assert [r["body"] for r in rows] == ["listening on :8080", "panic: runtime error: index out of range [5] with length 3",
                                         "shutting down"]
    assert rows[0]["ts"] == datetime(2024, 5, 1, 10, 0, 0)


def test_unknown_format_stored_with_ingest_time(store: Store, tmp_path: Path) -> None:
    before = datetime.utcnow()
    result = _ingest(store, tmp_path / "batch.out", samples.UNKNOWN)
    rows = _logs(store)
    assert result["logs"] == 3 and [r["body"] for r in rows] == samples.UNKNOWN.splitlines()
    assert all(r["ts"] >= before.replace(microsecond=0) for r in rows)
    assert all(r["severity_number"] == 0 for r in rows)


def test_gzip_glob_and_plain_give_the_same_records(store: Store, tmp_path: Path) -> None:
    raw = (LOGHUB / "Spark" / "Spark_2k.log").read_bytes()
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "spark.log.1.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "a" / "spark.log").write_bytes(raw)
    result = ingest_local(store, [str(tmp_path / "a" / "spark.log*")])
    assert [f["logs"] for f in result["files"]] == [2000, 2000] and result["errors"] == []
    a, b = (store.query("SELECT list(body ORDER BY id) b FROM logs WHERE json_extract_string(attributes, "
                        "'$.\"log.file.name\"') = ?", [str(tmp_path / "a" / n)])[0]["b"]
            for n in ("spark.log", "spark.log.1.gz"))
    assert a == b and len(a) == 2000


def test_truncated_gzip_keeps_what_was_read(store: Store, tmp_path: Path) -> None:
    raw = (LOGHUB / "OpenStack" / "OpenStack_2k.log").read_bytes()
    data = gzip.compress(raw)
    cut = data[: len(data) * 2 // 3]
    result = _ingest(store, tmp_path / "nova.log.gz", cut)
    n = result["logs"]
    assert 1000 < n < 2000
    assert len(result["errors"]) == 1 and "truncated" in result["errors"][0] and "nova.log.gz" in result["errors"][0]
    bodies = [r["body"] for r in _logs(store)]
    # every line before the cut is there, in order, intact
    expected = raw.decode().splitlines()[: n - 1]
    assert all(e.endswith(b) for e, b in zip(expected, bodies[: n - 1], strict=True))


def test_invalid_utf8_counted_and_kept(store: Store, tmp_path: Path) -> None:
    content = (b"2024-05-01 10:00:00,000 INFO shop.app: caf\xe9 opened\n"
               b"2024-05-01 10:00:01,000 INFO shop.app: fine line\n"
               b"2024-05-01 10:00:02,000 ERROR shop.app: bad \xff\xfe bytes\x00 here\r\n"
               b"2024-05-01 10:00:03,000 INFO shop.app: last line without newline")
    result = _ingest(store, tmp_path / "mixed.log", content)
    f = result["files"][0]
    assert f["invalid_utf8_lines"] == 2 and f["nul_lines"] == 1 and result["logs"] == 4
    bodies = [r["body"] for r in _logs(store)]
    assert bodies == ["caf\\xe9 opened", "fine line", "bad \\xff\\xfe bytes here", "last line without newline"]


def test_streaming_in_tiny_chunks_matches_whole(tmp_path: Path) -> None:
    data = (samples.PYTHON_TRACEBACK + samples.PYTHON_TRACEBACK).encode()
    whole = LogStream("a.log", batch_size=2)
    recs_whole = [r.body for b in whole.feed(data) + whole.close() for r in b.logs]
    parts = LogStream("a.log", batch_size=2)
    batches = []
    for i in range(0, len(data), 7):
        batches += parts.feed(data[i : i + 7])
    batches += parts.close()
    assert [r.body for b in batches for r in b.logs] == recs_whole
    assert len(recs_whole) == 6 and all(len(b.logs) <= 2 for b in batches)


def test_bad_paths_are_usage_errors(store: Store, tmp_path: Path) -> None:
    from runbrief.errors import UsageError

    with pytest.raises(UsageError, match="no file matches"):
        ingest_local(store, [str(tmp_path / "*.nothing")])
    with pytest.raises(UsageError, match="is a directory"):
        ingest_local(store, [str(tmp_path)])


def test_docker_json_file_with_json_app_lines(store: Store, tmp_path: Path) -> None:
    content = "\n".join([
        '{"log":"{\\"level\\":\\"warn\\",\\"msg\\":\\"cache miss\\",\\"key\\":\\"cart:42\\"}\\n",'
        '"stream":"stdout","time":"2024-05-01T10:00:00.5Z"}',
        '{"log":"plain startup line\\n","stream":"stderr","time":"2024-05-01T10:00:01Z"}',
    ])
    _ingest(store, tmp_path / "abc-json.log", content, service="cart")
    rows = _logs(store)
    assert [r["body"] for r in rows] == ["cache miss", "plain startup line"]
    assert rows[0]["severity_text"] == "warn" and rows[0]["attributes"]["key"] == "cart:42"
    assert rows[0]["attributes"]["stream"] == "stdout"
    assert rows[0]["ts"] == datetime(2024, 5, 1, 10, 0, 0, 500000)


def test_pretty_printed_json_array_and_stray_text_in_json_lines(store: Store, tmp_path: Path) -> None:
    doc = json.dumps([{"timestamp": "2024-05-01T10:00:00Z", "level": "ERROR", "message": "boom"},
                      {"timestamp": "2024-05-01T10:00:01Z", "level": "INFO", "message": "ok"}], indent=2)
    r = _ingest(store, tmp_path / "export.json", doc)
    assert r["files"][0]["format"] == "json-doc" and r["logs"] == 2
    mixed = ('{"time":"2024-05-01T10:00:00Z","level":"error","msg":"handler crashed"}\n'
             "Traceback (most recent call last):\n"
             '  File "/app/h.py", line 3, in handle\n'
             "KeyError: 'user'\n"
             '{"time":"2024-05-01T10:00:02Z","level":"info","msg":"next"}\n')
    _ingest(store, tmp_path / "mixed.jsonl", mixed)
    bodies = [r["body"] for r in _logs(store) if r["attributes"].get("log.file.name", "").endswith("mixed.jsonl")]
    assert bodies == ["handler crashed\nTraceback (most recent call last):\n  File \"/app/h.py\", line 3, in handle\n"
                      "KeyError: 'user'", "next"]
