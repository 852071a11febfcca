"""Fixtures for the stand-in tests.

``standin`` is a session-wide stand-in (thread mode, DuckDB engine, in memory);
``fresh_db`` gives each test its own database. ``fake_standin`` serves a tiny
scripted engine that implements the engine contract, so the TDS front end can
be tested value by value independently of the SQL engine (the clients are real
and talk over real TCP; only the SQL side is scripted).
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping

import pytds
import pytest

from mctm_replica.standin import StandIn
import real_server
from tls_helpers import tls_standin, tls_standin_factory  # noqa: F401 - fixtures for the TLS matrix
from mctm_replica.standin.contract import (
    Column,
    DatabaseChanged,
    Done,
    ResultSet,
    RowCount,
    SqlError,
    StatementResult,
)

# Rows per batch the scripted engine yields: small enough that cancel/drop
# tests exercise many batch boundaries, big enough to stay fast.
FAKE_BATCH = 1000


class FakeSession:
    def __init__(self, engine: FakeEngine, database: str, spid: int) -> None:
        self.engine = engine
        self.database = database
        self.spid = spid
        self._trancount = 0
        self.closed = False

    @property
    def trancount(self) -> int:
        return self._trancount

    def execute(self, sql: str, params: Mapping[str, object] | None = None) -> Iterator[StatementResult]:
        self.engine.log.append((sql, dict(params) if params is not None else None))
        if sql.startswith("EAGER"):  # an engine that validates the whole batch up front
            raise SqlError(102, "Incorrect syntax near 'EAGER'.")
        return self._statements(sql, params)

    def _statements(self, sql: str, params: Mapping[str, object] | None) -> Iterator[StatementResult]:
        for stmt in [s.strip() for s in sql.split(";") if s.strip()]:
            if params and not stmt.upper().startswith("ECHO"):
                stmt = " ".join(str(params[w[1:]]) if w[1:] in params else w for w in stmt.split())
            yield from self._statement(stmt)

    def _statement(self, stmt: str) -> Iterator[StatementResult]:
        words = stmt.split()
        head = words[0].upper()
        low = stmt.lower()
        if head == "SET":
            yield Done()
        elif low == "select @@spid":
            yield ResultSet([Column("", "smallint", nullable=False)], iter([[(self.spid,)]]))
        elif head == "TYPES":
            cols, rows = self.engine.typed_results[words[1]]
            yield ResultSet(cols, iter([list(rows)]))
        elif head == "RANGE":
            yield ResultSet([Column("n", "bigint", nullable=False)], self.engine.range_rows(int(words[1])))
        elif head == "FAILAFTER":
            yield ResultSet([Column("n", "int")], _fail_after(int(words[1])))
        elif head == "BUGAFTER":
            yield ResultSet([Column("n", "int")], _bug_after(int(words[1])))
        elif head == "COUNT":
            yield RowCount(int(words[1]))
        elif head == "XABORT":  # an error that rolls the transaction back (XACT_ABORT ON)
            self._trancount = 0
            raise SqlError(2627, "Violation of PRIMARY KEY constraint 'PK_t'.", severity=14)
        elif head == "ERROR":
            raise SqlError(int(words[1]), f"scripted error {words[1]}")
        elif head == "USE":
            old, self.database = self.database, words[1].strip("[]")
            yield DatabaseChanged(old, self.database)
        elif low in ("begin tran", "begin transaction"):
            self._trancount += 1
            yield Done()
        elif low in ("commit", "commit tran", "rollback", "rollback tran"):
            if not self._trancount:
                raise SqlError(3902, "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.")
            self._trancount = 0
            yield Done()
        elif head == "ECHO":
            yield Done()
        else:
            raise SqlError(102, f"Incorrect syntax near '{words[0]}'.")

    def begin(self) -> None:
        self._trancount += 1

    def commit(self) -> None:
        if not self._trancount:
            raise SqlError(3902, "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.")
        self._trancount = 0

    def rollback(self) -> None:
        self._trancount = 0

    def close(self) -> None:
        self.closed = True


def _fail_after(n: int) -> Iterator[list[tuple]]:
    yield [(i,) for i in range(n)]
    raise SqlError(245, "Conversion failed when converting the varchar value 'x' to data type int.")


def _bug_after(n: int) -> Iterator[list[tuple]]:
    yield [(i,) for i in range(n)]
    raise RuntimeError("engine bug")


class FakeEngine:
    """Scripted engine implementing contract.Engine (see FakeSession._statement)."""

    def __init__(self) -> None:
        self.databases = {"master", "fakedb"}
        self.log: list[tuple[str, dict | None]] = []
        self.typed_results: dict[str, tuple[list[Column], list[tuple]]] = {}
        self.closed_iterators = 0
        self.sessions: dict[int, FakeSession] = {}
        self._lock = threading.Lock()

    def range_rows(self, n: int) -> Iterator[list[tuple]]:
        try:
            it = iter(range(n))
            while batch := [(i,) for i in itertools.islice(it, FAKE_BATCH)]:
                yield batch
        finally:
            with self._lock:
                self.closed_iterators += 1

    def has_database(self, name: str) -> bool:
        return name.lower() in self.databases

    def create_database(self, name: str) -> None:
        self.databases.add(name.lower())

    def connect(self, database: str, *, spid: int, login: str) -> FakeSession:
        session = FakeSession(self, database.lower(), spid)
        self.sessions[spid] = session
        return session

    def close(self) -> None:
        pass


@pytest.fixture(scope="session")
def fake_engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture(scope="session")
def fake_standin(fake_engine: FakeEngine) -> Iterator[StandIn]:
    with StandIn(port=0, engine=fake_engine) as s:
        yield s


@pytest.fixture
def new_fake_standin() -> Iterator[Callable[[], StandIn]]:
    """Factory for a private, not yet started stand-in on a fresh scripted engine."""
    created: list[StandIn] = []

    def make() -> StandIn:
        s = StandIn(port=0, engine=FakeEngine())
        created.append(s)
        return s

    yield make
    for s in created:
        s.stop()


@pytest.fixture(scope="session")
def standin() -> Iterator[StandIn]:
    """The stand-in, or a real SQL Server when MSSQL_TEST_HOST is set (real_server.py)."""
    if real_server.configured():
        yield real_server.RealServer.from_env()  # type: ignore[misc]
        return
    with StandIn(port=0) as s:
        yield s


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if real_server.configured():
        real_server.adapt_items(items)


# Server-side sessions of connections a test just closed end asynchronously;
# DROP DATABASE is retried for this long while it fails with 3702 (in use).
DROP_RETRY_SECONDS = 5.0


@pytest.fixture
def fresh_db(standin: StandIn) -> Iterator[str]:
    """A new, uniquely named database for one test; dropped afterwards."""
    name = "t_" + uuid.uuid4().hex[:12]
    conn = standin.connect_pytds(autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE [{name}]")
        yield name
    finally:
        deadline = time.monotonic() + DROP_RETRY_SECONDS
        while True:
            try:
                with conn.cursor() as cur:
                    cur.execute(f"DROP DATABASE [{name}]")
                break
            except pytds.Error as e:
                # 3702: "Cannot drop database ... because it is currently in use."
                if getattr(e, "msg_no", None) != 3702 or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        conn.close()


# Autocommit connections of each client to the test's own database (conformance suite).
@pytest.fixture
def ms(standin, fresh_db):
    conn = standin.connect_pymssql(database=fresh_db, autocommit=True)
    yield conn
    conn.close()


@pytest.fixture
def td(standin, fresh_db):
    conn = standin.connect_pytds(database=fresh_db, autocommit=True)
    yield conn
    conn.close()
