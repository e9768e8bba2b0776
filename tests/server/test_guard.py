"""A real server with a token: nothing a request names is run or read, every receiver
authenticates (HTTP, gRPC through the real SDK exporter), DNS rebinding and simple-request
writes are refused, and the local user's own CLI still may name its files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from runbrief.server.guard import bearer_ok, check_token_strength, is_loopback
from runbrief.testing import ServerProcess

TOKEN = "tok-" + "a1b2c3d4" * 4
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {**AUTH, "Content-Type": "application/json"}
SECRET_LINE = "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("guard")
    with ServerProcess(d / "store", jobs=False, extra_args=["--token", TOKEN]) as sp:
        yield sp


def _span(sp: ServerProcess, headers: dict[str, str] | None) -> bool:
    """Export one span with the real SDK gRPC exporter; did the server take it?"""
    from opentelemetry.sdk.trace.export import SpanExportResult

    exp = OTLPSpanExporter(endpoint=sp.grpc_endpoint, insecure=True, headers=headers, timeout=5)
    results: list[SpanExportResult] = []

    class Probe(SimpleSpanProcessor):
        def on_end(self, span) -> None:  # type: ignore[no-untyped-def]
            results.append(exp.export([span]))

    tp = TracerProvider(resource=Resource.create({"service.name": "guarded"}))
    tp.add_span_processor(Probe(exp))
    with tp.get_tracer("t").start_as_current_span("GET /x"):
        pass
    tp.shutdown()
    return results == [SpanExportResult.SUCCESS]


def test_grpc_needs_the_token(srv: ServerProcess) -> None:
    assert not _span(srv, None)
    assert not _span(srv, {"authorization": "Bearer wrong-token-0123456789"})
    assert _span(srv, {"authorization": f"bearer {TOKEN}"})  # the scheme is case-insensitive


def test_http_token_is_checked_whatever_the_scheme_case(srv: ServerProcess) -> None:
    assert httpx.get(f"{srv.url}/api/ops").status_code == 401
    assert httpx.get(f"{srv.url}/api/ops", headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 401
    assert httpx.get(f"{srv.url}/api/ops", headers={"Authorization": f"BEARER {TOKEN}"}).status_code == 200
    assert httpx.get(f"{srv.url}/api/health").status_code == 200


def test_no_file_a_request_names_is_read(srv: ServerProcess, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(SECRET_LINE + "\n")
    for op, params in [("gate", {"config": str(env_file)}), ("agents", {"config": str(env_file)}),
                       ("gate", {"config": "/etc/passwd"}), ("eval", {"since": "1h", "config": str(env_file)}),
                       ("trace_compare", {"id": "trc_" + "0" * 32, "plan": str(env_file)}),
                       ("trace_compare", {"id": "trc_" + "0" * 32, "plan": str(tmp_path / "plan.md")})]:
        r = httpx.post(f"{srv.url}/api/op/{op}", json=params, headers=AUTH)
        assert r.status_code == 403, (op, r.text)
        assert "wJalr" not in r.text and "root:" not in r.text
        assert "cannot name a file" in r.json()["error"]


def test_no_code_a_request_names_is_run(srv: ServerProcess, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('x')\ndef f(ctx):\n    return True\n")
    for spec in [f"{evil}:f", "os:getcwd", "runbrief.evals.builtins:error_free"]:
        r = httpx.post(f"{srv.url}/api/op/eval", json={"since": "1h", "evaluators": [spec], "save": False},
                       headers=AUTH)
        assert r.status_code == 200, r.text
        (check,) = r.json()["checks"]
        assert check["status"] == "error" and "cannot be loaded" in check["error"]
    # a config sent as text may not name code either
    cfg = f'[[gate.check]]\nevaluator = "{evil}:f"\n'
    r = httpx.post(f"{srv.url}/api/op/gate", json={"config": cfg, "since": "1h", "save": False}, headers=AUTH)
    assert r.status_code == 200 and r.json()["checks"][0]["status"] == "error"
    assert not marker.exists()
    # built-ins still work over the network
    r = httpx.post(f"{srv.url}/api/op/eval", json={"since": "1h", "evaluators": ["error_free"], "save": False},
                   headers=AUTH)
    assert r.json()["checks"][0]["error"] is None


def test_writes_need_post_with_json(srv: ServerProcess) -> None:
    r = httpx.get(f"{srv.url}/api/op/deploy_mark", params={"service": "x", "version": "1"}, headers=AUTH)
    assert r.status_code == 405 and "POST" in r.json()["error"]
    for path in ["/api/deploys", "/api/ingest", "/api/op/retention", "/api/op/deploy_mark"]:
        for ctype in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]:
            headers = dict(AUTH) | ({"Content-Type": ctype} if ctype else {})
            r = httpx.post(f"{srv.url}{path}", content=b'{"service": "x", "version": "1"}', headers=headers)
            assert r.status_code == 415, (path, ctype, r.text)
    deploys = httpx.post(f"{srv.url}/api/op/deploys", json={}, headers=AUTH).json()["deploys"]
    assert deploys == []


def test_dns_rebinding_and_cross_origin_are_refused(srv: ServerProcess) -> None:
    r = httpx.get(f"{srv.url}/api/ops", headers={**AUTH, "Host": "evil.example:4318"})
    assert r.status_code == 421
    r = httpx.get(f"{srv.url}/api/ops", headers={**AUTH, "Origin": "http://evil.example"})
    assert r.status_code == 403
    r = httpx.get(f"{srv.url}/api/ops", headers={**AUTH, "Origin": srv.url})
    assert r.status_code == 200
    r = httpx.get(f"{srv.url}/", headers={"Host": "attacker.test"})
    assert r.status_code == 421


def test_the_users_own_cli_may_name_its_files(srv: ServerProcess, tmp_path: Path) -> None:
    """`runbrief eval -e file.py:fn` through the server: server.json's secret says it is the user."""
    ev = tmp_path / "mine.py"
    ev.write_text("def always(ctx):\n    return True\n")
    r = subprocess.run([sys.executable, "-m", "runbrief", "eval", "--since", "1h", "-e", f"{ev}:always",
                        "--no-save", "--json", "--store", str(srv.store)], capture_output=True, text=True,
                       timeout=60, cwd=tmp_path)
    out = json.loads(r.stdout)
    assert out["checks"][0]["error"] is None, out


def test_weak_tokens_are_refused_at_start(tmp_path: Path) -> None:
    for weak in ["short", "   ", " " + TOKEN]:
        r = subprocess.run([sys.executable, "-m", "runbrief", "serve", "--store", str(tmp_path / "s"),
                            "--http-port", "0", "--grpc-port", "-1", "--token", weak],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "token" in r.stderr, r.stderr


def test_auth_helpers() -> None:
    assert bearer_ok(f"Bearer {TOKEN}", TOKEN) and bearer_ok(f"bEaReR  {TOKEN} ", TOKEN)
    assert not bearer_ok(f"Basic {TOKEN}", TOKEN) and not bearer_ok(TOKEN, TOKEN) and not bearer_ok(None, TOKEN)
    assert not bearer_ok("Bearer ", TOKEN) and not bearer_ok(f"Bearer {TOKEN}", "")
    assert check_token_strength(TOKEN) is None and check_token_strength("x" * 15) and check_token_strength("a b" * 9)
    assert is_loopback("127.0.0.1") and is_loopback("[::1]") and is_loopback("localhost") and is_loopback("127.3.4.5")
    assert not is_loopback("0.0.0.0") and not is_loopback("evil.example") and not is_loopback("10.0.0.1")


def test_mcp_runners_are_remote_callers(tmp_path: Path) -> None:
    """The MCP tools run as a remote caller whether or not a server holds the store."""
    from runbrief.agent.server import client_runner, store_runner
    from runbrief.errors import Forbidden, NotFound
    from runbrief.store.duck import Store

    (tmp_path / "plan.md").write_text("1. open the cart\n")
    s = Store.open(tmp_path / "s.duckdb")
    try:
        with pytest.raises(Forbidden, match="over MCP"):
            store_runner(s)("trace_compare", {"id": "trc_" + "0" * 32, "plan": str(tmp_path / "plan.md")})
        with pytest.raises(Forbidden, match="over MCP"):
            store_runner(s)("gate", {"config": "/etc/passwd"})
        # one line of plan text that names a route is text, not a path to refuse
        with pytest.raises(NotFound):
            store_runner(s)("trace_compare", {"id": "trc_" + "0" * 32, "plan": "1. `GET /cart` under 200 ms"})
    finally:
        s.close()
    with pytest.raises(Forbidden, match="over MCP"):
        client_runner(tmp_path / "s.duckdb")("agents", {"config": str(tmp_path / "plan.md")})


def test_a_new_store_is_the_users_alone(tmp_path: Path) -> None:
    from runbrief.store.duck import Store

    Store.open(tmp_path / "new" / "store").close()
    assert (tmp_path / "new" / "store").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "new" / "store" / "runbrief.duckdb").stat().st_mode & 0o777 == 0o600
