"""SQL Server declared type -> PostgreSQL column type: the one table of truth.

Used for the replica's DDL, the check that an existing replica table still has the
expected layout, the column schema shown in Dagster, and the README's type map (a test
keeps the README table equal to :data:`TYPE_MAP`).

PostgreSQL type names are written the way ``format_type()`` prints them, so a replica
table's columns can be compared with the expected ones as plain strings.

Where PostgreSQL cannot hold a value exactly, the mapping says so in ``note`` and the
README repeats it: time-of-day precision stops at microseconds (SQL Server goes to
100 ns, and pymssql already truncates to microseconds when it reads), and a
datetimeoffset keeps its instant but not its original offset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# PostgreSQL's time/timestamp precision is at most 6 digits (microseconds).
PG_MAX_TIME_PRECISION = 6


class UnmappedTypeError(TypeError):
    """A source column whose SQL Server type has no PostgreSQL mapping."""


@dataclass(frozen=True)
class SourceType:
    """A declared SQL Server type as INFORMATION_SCHEMA.COLUMNS describes it."""

    name: str  # DATA_TYPE, lower case: 'nvarchar', 'decimal', 'timestamp' (= rowversion)...
    max_length: int | None = None  # CHARACTER_MAXIMUM_LENGTH; -1 for (max)
    precision: int | None = None  # NUMERIC_PRECISION
    scale: int | None = None  # NUMERIC_SCALE
    datetime_precision: int | None = None  # DATETIME_PRECISION

    def declared(self) -> str:
        """The type as T-SQL would declare it, for messages and metadata."""
        n = self.name
        if n in ("decimal", "numeric"):
            return f"{n}({self.precision},{self.scale})"
        if n in ("char", "varchar", "nchar", "nvarchar", "binary", "varbinary"):
            return f"{n}({'max' if self.max_length == -1 else self.max_length})"
        if n in ("time", "datetime2", "datetimeoffset") and self.datetime_precision is not None:
            return f"{n}({self.datetime_precision})"
        return n


@dataclass(frozen=True)
class Mapping:
    source: str  # how the README names the source type(s)
    target: str  # how the README names the PostgreSQL type
    to_pg: Callable[[SourceType], str]
    value: str  # value family the loader uses: 'text', 'bytes' or 'plain'
    note: str = ""


def _fixed(pg: str) -> Callable[[SourceType], str]:
    return lambda _t: pg


def _varchar(t: SourceType) -> str:
    return "text" if t.max_length in (None, -1) else f"character varying({t.max_length})"


def _numeric(t: SourceType) -> str:
    return f"numeric({t.precision},{t.scale})"


def _frac(t: SourceType, default: int) -> int:
    p = default if t.datetime_precision is None else t.datetime_precision
    return min(p, PG_MAX_TIME_PRECISION)


def _timestamp(default: int) -> Callable[[SourceType], str]:
    return lambda t: f"timestamp({_frac(t, default)}) without time zone"


_TYPE_ROWS: list[tuple[tuple[str, ...], Mapping]] = [
    (("bit",), Mapping("bit", "boolean", _fixed("boolean"), "plain")),
    (("tinyint",), Mapping("tinyint", "smallint", _fixed("smallint"), "plain",
                           "PostgreSQL has no 1-byte integer; 0..255 fits smallint")),
    (("smallint",), Mapping("smallint", "smallint", _fixed("smallint"), "plain")),
    (("int",), Mapping("int", "integer", _fixed("integer"), "plain")),
    (("bigint",), Mapping("bigint", "bigint", _fixed("bigint"), "plain")),
    (("decimal", "numeric"), Mapping("decimal(p,s), numeric(p,s)", "numeric(p,s)", _numeric, "plain")),
    (("money",), Mapping("money", "numeric(19,4)", _fixed("numeric(19,4)"), "plain")),
    (("smallmoney",), Mapping("smallmoney", "numeric(10,4)", _fixed("numeric(10,4)"), "plain")),
    (("float",), Mapping("float", "double precision", _fixed("double precision"), "plain")),
    (("real",), Mapping("real", "real", _fixed("real"), "plain")),
    (("date",), Mapping("date", "date", _fixed("date"), "plain")),
    (("time",), Mapping("time(n)", "time(min(n,6))",
                        lambda t: f"time({_frac(t, 7)}) without time zone", "plain",
                        "7th fractional digit (100 ns) is below PostgreSQL's resolution")),
    (("datetime",), Mapping("datetime", "timestamp(3)", _timestamp(3), "plain")),
    (("smalldatetime",), Mapping("smalldatetime", "timestamp(0)", _timestamp(0), "plain")),
    (("datetime2",), Mapping("datetime2(n)", "timestamp(min(n,6))", _timestamp(7), "plain",
                             "7th fractional digit (100 ns) is below PostgreSQL's resolution")),
    (("datetimeoffset",), Mapping("datetimeoffset(n)", "timestamptz(min(n,6))",
                                  lambda t: f"timestamp({_frac(t, 7)}) with time zone", "plain",
                                  "same instant; the original offset is not kept")),
    (("char", "varchar", "nchar", "nvarchar"), Mapping(
        "char(n), varchar(n), nchar(n), nvarchar(n)", "varchar(n)", _varchar, "text",
        "NUL (U+0000) is stripped and counted; char(n) keeps its padding")),
    (("varchar(max)", "nvarchar(max)", "text", "ntext"), Mapping(
        "varchar(max), nvarchar(max), text, ntext", "text", _fixed("text"), "text",
        "NUL (U+0000) is stripped and counted")),
    (("binary", "varbinary", "image", "timestamp", "rowversion"), Mapping(
        "binary(n), varbinary(n), varbinary(max), image, rowversion", "bytea", _fixed("bytea"), "bytes")),
    (("uniqueidentifier",), Mapping("uniqueidentifier", "uuid", _fixed("uuid"), "plain")),
    (("xml",), Mapping("xml", "text", _fixed("text"), "text",
                       "exact text; cast with ::xml where the server has libxml")),
]

#: Lookup by INFORMATION_SCHEMA DATA_TYPE (``varchar(max)`` is resolved through max_length).
TYPE_MAP: dict[str, Mapping] = {name: m for names, m in _TYPE_ROWS for name in names}


def lookup(t: SourceType) -> Mapping:
    key = t.name.lower()
    if key in ("varchar", "nvarchar", "char", "nchar") and t.max_length == -1:
        key = f"{key}(max)" if key in ("varchar", "nvarchar") else key
    try:
        return TYPE_MAP[key]
    except KeyError:
        raise UnmappedTypeError(t.name) from None


def pg_type(t: SourceType, *, table: str, column: str) -> str:
    """The PostgreSQL type for ``column`` of ``table``; a clear error if there is none."""
    try:
        return lookup(t).to_pg(t)
    except UnmappedTypeError:
        raise UnmappedTypeError(
            f"table `{table}`, column `{column}`: SQL Server type `{t.declared()}` has no "
            f"PostgreSQL mapping; exclude the column (`columns: {{exclude: [{column}]}}` in "
            f"tables.yaml) or convert it in a view on the source"
        ) from None


def readme_rows() -> list[tuple[str, str, str]]:
    """(SQL Server, PostgreSQL, note) rows, in map order, for the README table."""
    return [(m.source, m.target, m.note) for _names, m in _TYPE_ROWS]
