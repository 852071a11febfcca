"""The engine tier's shared pieces: a session on a fresh in-process engine, and the rows a
statement returns (no network; the conformance tests drive the same engine over TDS)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from mctm_replica.standin.contract import ResultSet
from mctm_replica.standin.engine import DuckEngine


@contextmanager
def engine_session(statements: Sequence[str], *, spid: int = 54) -> Iterator:
    """A ``sa`` session on a new engine after ``statements`` ran; both closed afterwards."""
    engine = DuckEngine()
    s = engine.connect("master", spid=spid, login="sa")
    try:
        for stmt in statements:
            list(s.execute(stmt))
        yield s
    finally:
        s.close()
        engine.close()


def result(s, sql: str) -> tuple[ResultSet, list[tuple]]:
    """The last result set ``sql`` returns (its columns) and its rows."""
    rs = list(s.execute(sql))[-1]
    assert isinstance(rs, ResultSet)
    return rs, [r for b in rs.value_batches() for r in b]


def rows(s, sql: str) -> list[tuple]:
    """The rows of the last result set ``sql`` returns."""
    return result(s, sql)[1]
