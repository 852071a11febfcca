"""Unit tests describe the packaged tables.yaml: a MCTM_REPLICA_TABLES left in the worker's
environment by an earlier tier (the demo's registry) must not change what they load."""

from __future__ import annotations

import pytest

from mctm_replica.config import TABLES_ENV


@pytest.fixture(autouse=True)
def packaged_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TABLES_ENV, raising=False)
