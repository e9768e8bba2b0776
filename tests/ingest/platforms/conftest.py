"""In-process servers for the drain tests: loopback without a token, and reachable with one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from runbrief.server.app import RunbriefServer, ServerConfig, build_app
from runbrief.store.duck import Store

from ._util import TOKEN


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    server = RunbriefServer(store, ServerConfig(jobs=False, ingest_workers=0))
    try:
        with TestClient(build_app(server), base_url="http://127.0.0.1") as c:
            yield c
    finally:
        server.close()


@pytest.fixture
def token_client(store: Store) -> Iterator[TestClient]:
    """A server reachable from the network: bound to 0.0.0.0 with --token."""
    server = RunbriefServer(store, ServerConfig(jobs=False, ingest_workers=0, host="0.0.0.0", token=TOKEN))
    try:
        with TestClient(build_app(server), base_url="http://runbrief.example.com") as c:
            yield c
    finally:
        server.close()
