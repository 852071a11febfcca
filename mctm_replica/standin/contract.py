"""The contract between the stand-in's SQL engine and its TDS front end.

The stand-in is two halves that meet here and nowhere else:

* ``mctm_replica.standin.engine`` executes T-SQL on an embedded DuckDB and keeps
  a catalog of *declared* SQL Server types (DuckDB alone does not know money,
  nvarchar lengths or datetime).
* ``mctm_replica.standin.tds`` and ``mctm_replica.standin.server`` speak TDS 7.4
  to real clients (pymssql over FreeTDS, python-tds) and encode what the engine
  returns.

Values cross this boundary in the *wire-ready* representations below, so the
encoder never guesses: a mismatch between column metadata and row bytes makes
clients show wrong values without any error, which is the worst failure a
stand-in can have.

Value representation per declared type (``None`` is NULL in every type):

==========================  ==================================================
declared type               Python value the engine yields
==========================  ==================================================
bit                         ``bool``
tinyint/smallint/int/bigint ``int`` (tinyint is 0..255)
decimal(p,s)/numeric(p,s)   ``decimal.Decimal`` quantized to scale ``s``
money, smallmoney           ``decimal.Decimal`` with 4 decimal places
float (float(53))           ``float``
real (float(24))            ``float`` holding a value exactly representable in 32 bits
date                        ``datetime.date``
time(n)                     ``int``: 100-ns ticks since midnight, already rounded to n digits
datetime2(n)                ``int``: 100-ns ticks since 0001-01-01 00:00:00, rounded to n digits
datetimeoffset(n)           ``tuple[int, int]``: (UTC ticks since 0001-01-01 as for datetime2,
                            offset in minutes, -840..840)
datetime                    ``datetime.datetime`` (naive), already rounded as SQL Server
                            rounds (.000/.003/.007 s); the encoder converts to 1/300 s ticks
smalldatetime               ``datetime.datetime`` (naive) on a whole minute
char/varchar/text           ``str``
nchar/nvarchar/ntext/xml    ``str``
binary/varbinary/image      ``bytes``
rowversion (timestamp)      ``bytes`` of length 8
uniqueidentifier            ``uuid.UUID``
==========================  ==================================================

Declared lengths: ``Column.length`` is in *characters* for nchar/nvarchar and in
*bytes* for char/varchar/binary/varbinary (as T-SQL declares them); ``-1``
means ``(max)``; ``None`` where the type has no length. ``Column.scale`` is the
fractional-second precision for time/datetime2/datetimeoffset (0..7).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol, Union

# One TDS tick of datetime2/time/datetimeoffset is 100 ns.
TICKS_PER_SECOND = 10_000_000
TICKS_PER_DAY = 86_400 * TICKS_PER_SECOND

# Every declared base type the stand-in supports, in T-SQL spelling.
SUPPORTED_TYPES = frozenset(
    {
        "bit", "tinyint", "smallint", "int", "bigint",
        "decimal", "numeric", "money", "smallmoney", "float", "real",
        "date", "time", "datetime", "datetime2", "smalldatetime", "datetimeoffset",
        "char", "varchar", "text", "nchar", "nvarchar", "ntext", "xml",
        "binary", "varbinary", "image", "rowversion", "uniqueidentifier",
    }
)


@dataclass(frozen=True)
class Column:
    """One result column with its declared SQL Server type."""

    name: str
    type: str  # lower-case T-SQL base type name from SUPPORTED_TYPES
    length: int | None = None  # see module docstring; -1 = (max)
    precision: int | None = None  # decimal/numeric precision
    scale: int | None = None  # decimal scale, or fractional-second digits
    nullable: bool = True
    identity: bool = False


@dataclass
class ResultSet:
    """A result set whose rows stream in batches (lists of tuples).

    ``rows`` is a lazy iterator; the server may stop consuming it early (client
    cancel) and then calls ``close()`` on it if it has one. The iterator may raise
    ``SqlError`` after some batches were produced (error mid-stream).
    """

    columns: list[Column]
    rows: Iterator[list[tuple]]


@dataclass(frozen=True)
class RowCount:
    """INSERT/UPDATE/DELETE/TRUNCATE outcome: DONE with the COUNT flag, never rows."""

    count: int


@dataclass(frozen=True)
class Done:
    """A statement with neither rows nor a count (DDL, SET, BEGIN TRAN...)."""


@dataclass(frozen=True)
class DatabaseChanged:
    """``USE db`` succeeded: the server sends ENVCHANGE(database) then DONE."""

    old: str
    new: str


StatementResult = Union[ResultSet, RowCount, Done, DatabaseChanged]


@dataclass
class SqlError(Exception):
    """An error as SQL Server reports it (ERROR token fields).

    ``number`` is the number SQL Server itself would report: 208 invalid
    object, 207 invalid column, 102/156 syntax, 2627 duplicate key, 515 NULL
    into NOT NULL, 245/8114 conversion, 4060 cannot open database, 18456 login
    failed. Only for something SQL Server supports but the stand-in does not,
    use 50000 with a message starting "The SQL Server stand-in does not
    support ..." and naming the feature -- never a silently wrong result.
    """

    number: int
    message: str
    severity: int = 16
    state: int = 1
    line: int = 1
    extra: dict = field(default_factory=dict)

    def __str__(self) -> str:  # pragma: no cover - trivial
        return f"Msg {self.number}, Level {self.severity}, State {self.state}: {self.message}"


class EngineSession(Protocol):
    """One client connection's view of the engine (its own transaction state)."""

    database: str  # current database (changes on USE)
    spid: int

    @property
    def trancount(self) -> int: ...

    def execute(
        self, sql: str, params: Mapping[str, object] | None = None
    ) -> Iterator[StatementResult]:
        """Run a T-SQL batch; yield one result per statement, lazily.

        ``params`` maps parameter names *without* the leading ``@`` to values in
        the representations above (from RPC sp_executesql). The first error
        raises ``SqlError`` and ends the batch.
        """
        ...

    def begin(self) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def close(self) -> None: ...


class Engine(Protocol):
    """The whole server's data: several databases, in memory or in a directory."""

    def has_database(self, name: str) -> bool: ...

    def create_database(self, name: str) -> None: ...

    def connect(self, database: str, *, spid: int, login: str) -> EngineSession: ...

    def close(self) -> None: ...
