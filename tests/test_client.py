"""runbrief.client through a real server: kept-alive calls, errors mapped to their type,
a server restarted between two calls, and the store opened in-process once none runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbrief import client
from runbrief.errors import NotFound, UsageError
from runbrief.testing import ServerProcess


def test_calls_through_a_server_and_after_it(tmp_path: Path) -> None:
    store = tmp_path / "s"
    with ServerProcess(store, grpc=False, jobs=False):
        assert client.server_url(store) is not None
        for _ in range(3):  # one kept-alive connection
            assert client.call("services", {}, store=store) == {"services": []}
        with pytest.raises(NotFound, match="log_999"):
            client.call("show", {"id": "log_999"}, store=store)
        with pytest.raises(UsageError, match="unknown parameter"):
            client.call("services", {"bogus": 1}, store=store)
    with ServerProcess(store, grpc=False, jobs=False):  # a new server: the old connection is dead
        assert client.call("services", {}, store=store) == {"services": []}
    assert client.server_url(store) is None
    assert client.call("services", {}, store=store) == {"services": []}  # in-process now
