"""SQL Server formats each row as one line of PostgreSQL ``COPY ... (FORMAT csv)``.

Why: decoding a typed row in pymssql (a ``Decimal``, ``datetime``, ``UUID`` object per
value) and formatting it again for COPY cost ~45 us per row of the benchmark's 13-column
table in one Python process -- the copy's whole budget. Asking SQL Server for the row as
one ``nvarchar(max)`` string in COPY's CSV syntax leaves pymssql one string per row to
decode and the loader a ``join``: ~11 us per row. The replica's values do not depend on
this choice; ``rows_match`` reads the source's typed values, not these strings, so a
formatting difference on some server version shows up as a failed check, never silently.
``format_on_server: false`` on the source's resource reads typed values instead.

Each field's text is what PostgreSQL's input function reads back as the value pymssql
would have returned (the exact value, or the type map's documented narrowing):

* integers, bit (``0``/``1``), decimal/numeric and uniqueidentifier: ``CAST`` to text,
  which is exact. money/smallmoney go through ``decimal(19,4)``/``decimal(10,4)`` first:
  a plain ``CAST(money AS varchar)`` rounds to 2 decimals (style 0).
* float and real: ``CONVERT(..., 3)`` -- 17 significant digits, lossless (SQL Server 2016+).
* datetime ``121`` (``.mmm``), smalldatetime ``120``, date ``23``, datetime2 ``121``,
  time and datetimeoffset their default text (``hh:mi:ss.nnnnnnn``, ``... +hh:mm``). A
  7th fractional digit is cut off, not rounded: pymssql truncates 100 ns ticks to
  microseconds and the replica keeps what pymssql would have read.
* text types (and xml as text): cast to ``nvarchar`` first -- the server's own code-page
  conversion -- then quoted, with ``"`` doubled by ``REPLACE`` under a *binary* collation:
  under a width-insensitive collation such as ``Japanese_CI_AS`` a fullwidth ``＂``
  compares equal to ``"`` and would be doubled too. A column of more than 2,000
  characters is cast to ``nvarchar(max)`` so that doubling quotes cannot reach the
  4,000-character limit where ``REPLACE`` truncates. NUL characters are left in: the
  loader strips and counts them per column, as on the typed path.
* binary types: ``\\x`` + hex (``CONVERT(..., 2)``), PostgreSQL's bytea hex input.
* NULL is an empty unquoted field; an empty string is ``""``.
* Before the first row of a run, :mod:`mctm_replica.read_check` compares these texts with
  the typed values for literals of every type, on the server itself: a server whose text
  differs (one before 2016 has no style 3) fails the run before anything is read.

The line is one ``CONCAT`` whose first argument is ``CAST(N'' AS nvarchar(max))``:
concatenating only non-``max`` strings truncates the result at 4,000 characters on SQL
Server, silently. ``CONCAT`` turns a NULL argument into an empty string whatever
``CONCAT_NULL_YIELDS_NULL`` says, which is exactly COPY's NULL, so the fields that are one
function of the column (numbers, dates, uniqueidentifier: NULL in, NULL out) go in bare.
Text and binary fields are built with ``+`` around the value (quotes, ``\\x``); with
``CONCAT_NULL_YIELDS_NULL OFF`` a NULL there would become ``""`` (an empty string), so
they test NULL explicitly. One ``CONCAT`` instead of a chain of ``+`` with a ``CASE`` per
field is also about half the work of forming the line in the stand-in's engine (issue 15).
"""

from __future__ import annotations

from collections.abc import Sequence

from mctm_replica.tsql.quoting import quote_tsql, table_ref
from mctm_replica.typemap import SourceType

# Text longer than this (in characters) is cast to nvarchar(max): every quote doubled plus
# the two enclosing quotes (2n + 2) must stay within nvarchar(n)'s 4,000 characters, where
# REPLACE and + cut the result silently.
_SHORT_TEXT = 1_999
# Any binary collation compares code points, so only '"' itself matches '"'.
_BINARY_COLLATION = "Latin1_General_100_BIN2"
# Enough for every value's text: decimal(38,s) is at most 40 characters, float's 17
# digits with exponent 23, datetimeoffset 34.
_SCALAR_TEXT = "nvarchar(64)"
# The 7th fractional digit's position in each type's text (1-based), for types whose
# precision is 7: 'hh:mi:ss.nnnnnnn' and 'yyyy-mm-dd hh:mi:ss.nnnnnnn[ +hh:mm]'.
_SEVENTH_DIGIT = {"time": 16, "datetime2": 27, "datetimeoffset": 27}

# SQL Server's CONCAT takes 2 to 254 arguments; a line of more fields nests them.
_CONCAT_MAX_ARGS = 254
_MAX_EMPTY = "CAST(N'' AS nvarchar(max))"

_INTEGERS = {"bit", "tinyint", "smallint", "int", "bigint"}
_EXACT_CAST = _INTEGERS | {"decimal", "numeric", "uniqueidentifier"}
_MONEY = {"money": "decimal(19,4)", "smallmoney": "decimal(10,4)"}
_STYLED = {"float": 3, "real": 3, "date": 23, "datetime": 121, "smalldatetime": 120, "datetime2": 121}
_TEXT = {"char", "varchar", "nchar", "nvarchar", "text", "ntext", "xml"}
_BINARY = {"binary", "varbinary", "image", "timestamp", "rowversion"}


def field_sql(column: str, source_type: SourceType) -> str:
    """The T-SQL expression for one column's CSV field; NULL stays NULL."""
    c, kind = quote_tsql(column), source_type.name.lower()
    if kind in _TEXT:
        n = source_type.max_length
        width = "max" if kind in ("text", "ntext", "xml") or n is None or n == -1 or n > _SHORT_TEXT else n
        text = f"CAST({c} AS nvarchar({width})) COLLATE {_BINARY_COLLATION}"
        return f"""N'"' + REPLACE({text}, N'"', N'""') + N'"'"""
    if kind in _BINARY:
        return f"N'\\x' + CONVERT(nvarchar(max), CAST({c} AS varbinary(max)), 2)"
    if kind in _EXACT_CAST:
        return f"CAST({c} AS {_SCALAR_TEXT})"
    if kind in _MONEY:
        return f"CAST(CAST({c} AS {_MONEY[kind]}) AS {_SCALAR_TEXT})"
    if kind in _STYLED:
        text = f"CONVERT({_SCALAR_TEXT}, {c}, {_STYLED[kind]})"
    elif kind in ("time", "datetimeoffset"):
        text = f"CAST({c} AS {_SCALAR_TEXT})"
    else:
        raise ValueError(f"column {column}: no CSV formatting for SQL Server type `{source_type.declared()}`")
    precision = source_type.datetime_precision
    if kind in _SEVENTH_DIGIT and (7 if precision is None else precision) == 7:
        return f"STUFF({text}, {_SEVENTH_DIGIT[kind]}, 1, N'')"
    return text


def csv_line_sql(columns: Sequence[tuple[str, SourceType]]) -> str:
    """One ``nvarchar(max)`` expression: the row's fields, comma-separated, as COPY CSV."""
    parts = []
    for i, (name, t) in enumerate(columns):
        if i:
            parts.append("N','")
        field = field_sql(name, t)
        # A field built with + must not meet a NULL (module docstring); the others are NULL
        # exactly when the column is, and CONCAT writes that as nothing.
        parts.append(f"CASE WHEN {quote_tsql(name)} IS NULL THEN N'' ELSE {field} END"
                     if t.name.lower() in _TEXT | _BINARY else field)
    return _concat(parts)


def _concat(parts: list[str]) -> str:
    """``CONCAT`` of ``parts`` in order as ``nvarchar(max)``. Every CONCAT starts with an
    ``nvarchar(max)`` argument (without one its result is cut at 4,000 characters), and
    more parts than one CONCAT takes are split into nested ones."""
    if len(parts) < _CONCAT_MAX_ARGS:
        return f"CONCAT({_MAX_EMPTY}, {', '.join(parts)})"
    step = _CONCAT_MAX_ARGS - 1
    return _concat([_concat(parts[i:i + step]) for i in range(0, len(parts), step)])


def select_lines_sql(schema: str, table: str, columns: Sequence[tuple[str, SourceType]], *,
                     nolock: bool, also: Sequence[str] = ()) -> str:
    """``SELECT <csv line>[, also...] FROM [s].[t]``: rows of (line, *also) tuples."""
    extra = "".join(f", {quote_tsql(c)}" for c in also)
    return f"SELECT {csv_line_sql(columns)}{extra} FROM {table_ref(schema, table, nolock=nolock)}"
