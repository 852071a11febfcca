"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mctm_replica_tests.integration.webhook import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running local webhook receiver, shut down after the test."""
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()
