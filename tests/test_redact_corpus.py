"""Recall on real detector test corpora (gitleaks rule samples, detect-secrets keyword cases, test keys).

The floor per source is the recall measured when the suite was written (issue 16): a change that
loses a kind fails here. The Loghub false-positive check is in test_redact.py.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from runbrief.ingest.pipeline import Batch
from runbrief.records import MetricPoint, Resource, Span, SpanLink
from runbrief.redact import redact, redact_batch

DATA = Path(__file__).resolve().parent / "data" / "redact"


def _rows(name: str) -> list[dict[str, str]]:
    return [orjson.loads(line) for line in (DATA / name).read_bytes().splitlines() if line]


def _recall(rows: list[dict[str, str]]) -> float:
    return sum(r["secret"] not in redact(r["text"], emails=False) for r in rows) / len(rows)


def test_gitleaks_recall_floor() -> None:
    assert _recall(_rows("gitleaks.jsonl")) >= 0.83


def test_detect_secrets_keyword_recall_floor() -> None:
    assert _recall(_rows("detect_secrets.jsonl")) >= 0.48


def test_gcp_service_account_key_body_is_gone() -> None:
    line = " ".join((DATA / "gcp_service_account.json").read_text().split())
    out = redact(line)
    assert "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYw" not in out and "8lhVy3sgqT14vVKsiy" not in out


def test_pgp_private_key_block_is_gone() -> None:
    out = redact("loaded signing key: " + (DATA / "pgp_private_key.asc").read_text())
    assert "xVgEXZsWgRYJKwYBBAHaRw8BAQdAaOyGdv1sNIYJ" not in out and "m49PmVwF" not in out


def test_span_names_links_and_metric_points_are_redacted() -> None:
    res = Resource({"service.name": "checkout"})
    span = Span("ab" * 16, "cd" * 8, "GET /cb?token=zq81hd0aa9xk2", 1_000, 2_000, res,
                links=[SpanLink("ef" * 16, "01" * 8, {"note": "password=hunter2hunter"})])
    point = MetricPoint("db.calls", "sum", 1_000, res, value=1.0,
                        attributes={"db.url": "postgres://app:s3cretpw0rd@db/x"})
    redact_batch(Batch(spans=[span], metrics=[point]))
    dump = orjson.dumps([span.name, span.links[0].attributes, point.attributes]).decode()
    for secret in ("zq81hd0aa9xk2", "hunter2hunter", "s3cretpw0rd"):
        assert secret not in dump, secret
