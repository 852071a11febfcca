"""Fixtures of the topology tier: one deployed stack per session, alerts to a local receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mctm_replica_tests.integration.webhook import Receiver
from mctm_replica_tests.topology.stack import Stack, topology_stack


@pytest.fixture(scope="session")
def alert_receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture(scope="session")
def stack(alert_receiver: Receiver) -> Iterator[Stack]:
    with topology_stack(alert_receiver.url()) as s:
        yield s
