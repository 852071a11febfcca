"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mctm_replica_tests.conftest import REPLICA_DB
from mctm_replica_tests.integration.source_helpers import source_env
from mctm_replica_tests.integration.webhook import Receiver


def set_env(monkeypatch, values: dict[str, str]) -> dict[str, str]:
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


@pytest.fixture
def base_env(monkeypatch, mssql_server, source_db, pg_server) -> dict[str, str]:
    """The environment of one source `SRC` (this test's stand-in database) and the
    replica database, as production sets it; fast retries."""
    return set_env(monkeypatch, {
        **source_env(mssql_server, source_db), **pg_server.env(REPLICA_DB), "PG_SSLMODE": "disable",
        "REPLICA_RETRY_BASE_DELAY_S": "0.05"})


@pytest.fixture
def env(base_env) -> dict[str, str]:
    """Overridden by test modules that need more variables."""
    return base_env


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running local webhook receiver, shut down after the test."""
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()
