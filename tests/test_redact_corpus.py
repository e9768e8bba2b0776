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
    assert _recall(_rows("gitleaks.jsonl")) >= 0.99


def test_detect_secrets_keyword_recall_floor() -> None:
    assert _recall(_rows("detect_secrets.jsonl")) >= 0.70


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


# Hand-written beside the corpora: the shapes issue 16 found leaking.
ISSUE16 = [
    ("redis://:s3cr3tpw@cache:6379/0", "s3cr3tpw"),
    ("postgres://app:pa/ss@w0rd@db:5432/x", "w0rd"),
    ("Cookie: sid=abc123; csrftoken=zzz999", "zzz999"),
    ("Set-Cookie: session=9f8e7d6c5b; Path=/; HttpOnly", "9f8e7d6c5b"),
    ("exec: migrate --db-password hunter2x --verbose", "hunter2x"),
    ("exec: app --password=s3cr3tvalue", "s3cr3tvalue"),
    ("DB_PASS=hunter2hunter", "hunter2hunter"),
    ("passphrase=correct-horse", "correct-horse"),
    ("SECRET_KEY_BASE=9a8b7c6d5e4f3a2b1c", "9a8b7c6d5e4f3a2b1c"),
    ("'password' => 'php-secret-1'", "php-secret-1"),
    ('{"password": "has spaces, and; separators"}', "separators"),
    ("posted to https://hooks.slack.com/services/T0000000/B0000000/XXXXXXXXXXXXXXXXXXXXXXXX", "XXXXXXXXXXXX"),
    ("stripe webhook whsec_1234567890abcdefABCDEF", "whsec_1234567890"),
    # Session 10: the classes the corpora still missed.
    ("curl -s -u deploy:Tr0ub4dor&3 https://ci.example/api", "Tr0ub4dor"),
    ("curl --user 'ops:correct horse' https://ci.example/api", "correct horse"),
    ("auth=ok client_secret: abc8Q~Zx9yWv7uT6sR5qP4oN3mL2kJ1iH0gF.e end", "Zx9yWv7uT6sR5qP4oN3mL2kJ1iH0gF"),
    ("db login failed password=ab;cd,ef&gh for app", "cd,ef&gh"),
    ('invalid password "p4ss w0rd" for user admin', "p4ss w0rd"),
    ('password_prod = "has spaces too"', "has spaces too"),
    ("rejected: api key 9f8e7d6c5b4a39281706f5e4d3c2b1a0 expired", "9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
    ("unsigned jwt eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9. accepted", "eyJzdWIiOiJhZG1pbiJ9"),
]


# Values that look like the shapes above but hold no secret: they must come through unchanged.
NOT_SECRETS = [
    "mysql -u root -h db.internal shop",
    "sort -u /var/log/app.log",
    "SyntaxError: Unexpected token '<' in JSON at position 0",
    "login ok user=alice&password_reset=false",
    "GET /search?q=password+reset&page=2 200",
    "pass_count=100 fail_count=3",
]


def test_lookalikes_are_left_alone() -> None:
    changed = [(t, redact(t)) for t in NOT_SECRETS if redact(t) != t]
    assert changed == []


def test_next_pair_after_a_password_is_kept() -> None:
    assert redact("login password=hunter22&user=alice") == "login password=[REDACTED:secret]&user=alice"


def test_deploy_fields_are_redacted() -> None:
    from runbrief.records import Deploy

    dep = Deploy(1_000, "shop", "https://ci:glpat-ABCDEFGHIJKLMNOPQRST@git.example/shop.git#v2",
                 environment="prod token=zq81hd0aa9xk2")
    redact_batch(Batch(deploys=[dep]))
    assert "glpat-ABCDEFGHIJKLMNOPQRST" not in dep.version and "zq81hd0aa9xk2" not in dep.environment


def test_issue16_shapes() -> None:
    leaks = [(text, redact(text)) for text, secret in ISSUE16 if secret in redact(text)]
    assert leaks == []


def test_go_dsn_and_array_valued_cookie_header() -> None:
    from runbrief.redact import redact_value

    assert "dbpw99" not in redact("dial app:dbpw99@tcp(mysql:3306)/shop failed")
    out = redact_value({"http.request.header.cookie": ["sid=abc123", "csrftoken=zzz999"]})
    assert out == {"http.request.header.cookie": ["[REDACTED:secret]", "[REDACTED:secret]"]}
