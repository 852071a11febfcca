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

RPC *parameters* (``EngineSession.execute``'s ``params``) use the same
representations, except that the three tick-based types arrive as the marked
subclasses below, so the engine can tell a datetime2/time parameter from an int
one and bind it with its declared type and scale (SQL Server types ``@p`` as
the client declared it):

==========================  ==================================================
parameter declared as       Python value the front end passes
==========================  ==================================================
time(n)                     ``TimeTicks`` (an ``int`` of ticks, ``.scale`` = n)
datetime2(n)                ``DateTime2Ticks`` (an ``int`` of ticks, ``.scale`` = n)
datetimeoffset(n)           ``DateTimeOffsetTicks`` (a ``tuple[int, int]`` as above,
                            ``.scale`` = n)
==========================  ==================================================

Packed columns: for speed, the engine may yield some columns in a cheaper form
and list their indexes in ``ResultSet.packed``; the encoder then reads exactly
that form for those columns and the value form above for all others, so it
never has to guess from a value's Python type:

==========================  ==================================================
declared type               packed value
==========================  ==================================================
decimal/numeric/money/      ``int``: the unscaled value, value * 10**scale
smallmoney                  (money and smallmoney: scale 4)
uniqueidentifier            ``bytes``: the 16 bytes in wire order (``UUID.bytes_le``)
time(n)                     ``int``: the value in 10**-n s units (its wire bytes, little-endian)
datetime2(n)                ``int``: days << (8 * time bytes) | time units, i.e. the integer
                            whose little-endian bytes are the wire value (time bytes: 3 for
                            n <= 2, 4 for n <= 4, else 5; then 3 bytes of days)
datetimeoffset(n)           ``int``: its UTC date and time packed as for datetime2(n); its
                            offset (``int`` minutes) is an extra value appended to every
                            row after the last column, one per packed datetimeoffset
                            column, in column order
==========================  ==================================================

``ResultSet.value_batches()`` turns packed rows back into the value forms (for
tests and tools; the TDS encoder reads the packed forms directly).

Declared lengths: ``Column.length`` is in *characters* for nchar/nvarchar and in
*bytes* for char/varchar/binary/varbinary (as T-SQL declares them); ``-1``
means ``(max)``; ``None`` where the type has no length. ``Column.scale`` is the
fractional-second precision for time/datetime2/datetimeoffset (0..7).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
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


class TimeTicks(int):
    """A time(n) RPC parameter: 100-ns ticks since midnight, with its scale n."""

    scale: int

    def __new__(cls, ticks: int, scale: int = 7) -> TimeTicks:
        obj = super().__new__(cls, ticks)
        obj.scale = scale
        return obj


class DateTime2Ticks(int):
    """A datetime2(n) RPC parameter: 100-ns ticks since 0001-01-01, with its scale n."""

    scale: int

    def __new__(cls, ticks: int, scale: int = 7) -> DateTime2Ticks:
        obj = super().__new__(cls, ticks)
        obj.scale = scale
        return obj


class DateTimeOffsetTicks(tuple):
    """A datetimeoffset(n) RPC parameter: (UTC ticks, offset minutes), with its scale n."""

    scale: int

    def __new__(cls, utc_ticks: int, offset: int, scale: int = 7) -> DateTimeOffsetTicks:
        obj = super().__new__(cls, (utc_ticks, offset))
        obj.scale = scale
        return obj


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
    collation: str | None = None  # char/text types: the collation's name (None = the server's)


@dataclass
class ResultSet:
    """A result set whose rows stream in batches (lists of tuples).

    ``rows`` is a lazy iterator; the server may stop consuming it early (client
    cancel) and then calls ``close()`` on it if it has one. The iterator may raise
    ``SqlError`` after some batches were produced (error mid-stream).
    ``packed`` lists the columns whose values use the packed form (module docstring).
    """

    columns: list[Column]
    rows: Iterator[list[tuple]]
    packed: frozenset[int] = frozenset()  # indexes of columns in their packed form

    def value_batches(self) -> Iterator[list[tuple]]:
        """``rows`` with packed columns turned into their value forms, for consumers
        other than the encoder (tests, tools); consumes ``rows``."""
        if not self.packed:
            yield from self.rows
            return
        ncols = len(self.columns)
        cols = [(i, self.columns[i]) for i in sorted(self.packed)]
        offsets = dict(zip((i for i, c in cols if c.type == "datetimeoffset"), range(ncols, 2 * ncols)))
        for batch in self.rows:
            out = []
            for row in batch:
                r = list(row[:ncols])
                for i, col in cols:
                    if i in offsets:
                        r[i] = None if r[i] is None else (
                            unpack_value(Column("", "datetime2", scale=col.scale), r[i]), row[offsets[i]])
                    else:
                        r[i] = unpack_value(col, r[i])
                out.append(tuple(r))
            yield out


def _time_bytes(scale: int) -> int:
    return 3 if scale <= 2 else 4 if scale <= 4 else 5


def unpack_value(col: Column, value: object) -> object:
    """A packed value (see the module docstring) in its value form."""
    if value is None:
        return None
    t = col.type
    if t in ("money", "smallmoney"):
        return Decimal(value).scaleb(-4)  # type: ignore[arg-type]
    if t in ("decimal", "numeric"):
        return Decimal(value).scaleb(-(col.scale or 0))  # type: ignore[arg-type]
    if t == "uniqueidentifier":
        return uuid.UUID(bytes_le=value)  # type: ignore[arg-type]
    scale = 7 if col.scale is None else col.scale
    unit = 10 ** (7 - scale)
    if t == "time":
        return value * unit  # type: ignore[operator]
    if t == "datetime2":
        shift = 8 * _time_bytes(scale)
        return (value >> shift) * TICKS_PER_DAY + (value & ((1 << shift) - 1)) * unit  # type: ignore[operator]
    raise ValueError(f"no packed form for declared type {t!r}")


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


class Params(dict):
    """RPC parameter values (name without '@' -> value) with their declaration list.

    ``declarations`` is sp_executesql's / sp_prepare's ``@params`` text (``@P1
    decimal(18,4), @P2 nvarchar(max)``): in SQL Server a parameter has its declared
    type, not its value's, so an engine should type parameters from it.
    """

    def __init__(self, values: Mapping[str, object], declarations: str = "") -> None:
        super().__init__(values)
        self.declarations = declarations


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
        the representations above (from RPC sp_executesql); it may be a ``Params``
        carrying the parameters' declarations. The first error
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
