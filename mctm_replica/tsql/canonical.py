"""One canonical text per copied value, written once in T-SQL and once in PostgreSQL SQL.

Both servers turn every row into the same string, hash its UTF-8 bytes with MD5 and sum
the hashes' first 8 bytes per segment (:mod:`mctm_replica.verify.checksum`). The string must be
equal on both sides for every value the type map copies (:mod:`mctm_replica.typemap`) and
differ for any change the type map would not make, so each type gets the form both
servers can print exactly:

* integers, decimal/numeric: their text (a numeric(p,s) column prints its scale on both
  sides; a decimal(p,p) gets the leading zero SQL Server leaves out); money/smallmoney via decimal(19,4)/decimal(10,4) like the copy; bit ``0``/``1``.
* float and real: their IEEE-754 bytes in hex (``CAST(x AS binary(8))`` / ``float8send``;
  ``binary(4)`` / ``float4send``): one flipped bit changes the text, -0 differs from 0.
* date: days since 1970-01-01 (``DATEDIFF(day, ..)`` / ``d - DATE '1970-01-01'``);
  datetime2, datetime and smalldatetime: microseconds since 1970-01-01
  (``DATEDIFF_BIG(microsecond, ..)`` / ``extract(epoch ..) * 1000000``, on PostgreSQL 18
  the binary send form's count from 2000 moved to 1970), the value at
  100 ns (datetime first rounded to the milliseconds it is copied with) with the 7th digit
  cut, as the copy cuts it: a count of microsecond boundaries floors, before 1970 too;
  datetimeoffset the same of its UTC instant (``SWITCHOFFSET(x, '+00:00')``; a timestamptz
  counts from 1970 in UTC), the offset is not copied. Integers are cheaper to print than
  formatted timestamps on both servers. time: ``hh:mi:ss.ffffff``, the 7th digit cut.
* uniqueidentifier: upper-case text (PostgreSQL prints lower case; both store 16 bytes).
* text types and xml: ``T`` + the text with NUL removed (the loader strips it) and ``|``
  doubled; binary types: upper-case hex.
* NULL is ``N``, which no non-NULL form is (text starts with ``T``); fields are joined by
  ``|``, which only text contains, doubled, so the joined string decodes one way.

SQL Server hashes the string as UTF-8 through a ``_UTF8`` collation (SQL Server 2019+;
its ``nvarchar`` bytes would be UTF-16, which PostgreSQL cannot produce). A server
without it is detected by :data:`UTF8_HASH_PROBE` and compared by rows instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg2 import sql as pgsql

from mctm_replica.tsql.quoting import quote_tsql
from mctm_replica.plan import ColumnPlan

# Text up to this many characters stays nvarchar(n): doubling every '|' must fit
# nvarchar's 4,000 characters, where REPLACE truncates silently (2n + 1 <= 4,000).
_SHORT_TEXT = 1_999
# Binary up to this many bytes prints as nvarchar(2n) hex, within nvarchar's 4,000.
_SHORT_BINARY = 2_000
_BIN2 = "Latin1_General_100_BIN2"
UTF8_COLLATION = "Latin1_General_100_BIN2_UTF8"

_INTEGERS = {"tinyint", "smallint", "int", "bigint"}
_MONEY = {"money": "decimal(19,4)", "smallmoney": "decimal(10,4)"}
_TEXT = {"char", "varchar", "nchar", "nvarchar", "text", "ntext", "xml"}
_BINARY = {"binary", "varbinary", "image", "timestamp", "rowversion"}
_TIMESTAMPS = {"datetime2": "{c}", "datetime": "CAST({c} AS datetime2(3))", "smalldatetime": "{c}",
               "datetimeoffset": "SWITCHOFFSET({c}, '+00:00')"}
# Dates count days and timestamps microseconds from 1970-01-01, PostgreSQL's epoch: integer
# text is cheaper to print than a formatted timestamp on both servers, and exact.
_TSQL_EPOCH = "CAST('1970-01-01' AS datetime2(7))"
_TSQL_EPOCH_DATE = "CAST('1970-01-01' AS date)"

#: Whether this SQL Server hashes UTF-8 text (2019+); the digest must equal Python's.
UTF8_HASH_PROBE = f"SELECT HASHBYTES('MD5', CAST(N'日本|x' COLLATE {UTF8_COLLATION} AS varchar(max)))"
UTF8_HASH_PROBE_TEXT = "日本|x"


def tsql_field(column: ColumnPlan) -> str:
    """The T-SQL canonical text of one column (nvarchar), ``N`` for NULL."""
    c, t = quote_tsql(column.source_name), column.source_type
    kind = t.name.lower()
    if kind in _TEXT:
        n = t.max_length
        width = "max" if kind in ("text", "ntext", "xml") or n in (None, -1) or n > _SHORT_TEXT else n
        text = f"CAST({c} AS nvarchar({width})) COLLATE {_BIN2}"
        f = f"N'T' + REPLACE(REPLACE({text}, NCHAR(0), N''), N'|', N'||')"
    elif kind in _BINARY:
        n = t.max_length
        if kind in ("timestamp", "rowversion"):
            n = 8
        short = n not in (None, -1) and n <= _SHORT_BINARY and kind != "image"
        f = (f"CONVERT(nvarchar({2 * n}), CAST({c} AS varbinary({n})), 2)" if short
             else f"CONVERT(nvarchar(max), CAST({c} AS varbinary(max)), 2)")
    elif kind in ("decimal", "numeric") and t.precision == t.scale:
        # decimal(p,p) prints no leading zero ('-.5', '.0000'); PostgreSQL prints '-0.5'.
        # Every such value has exactly one '.', so putting the zero in front of it gives
        # PostgreSQL's text (decimal(38,38) has no wider type to print through)
        f = f"REPLACE(CAST({c} AS nvarchar(64)), N'.', N'0.')"
    elif kind in _INTEGERS or kind in ("decimal", "numeric", "bit"):
        f = f"CAST({c} AS nvarchar(64))"
    elif kind in _MONEY:
        f = f"CAST(CAST({c} AS {_MONEY[kind]}) AS nvarchar(64))"
    elif kind == "float":
        f = f"CONVERT(nvarchar(16), CAST({c} AS binary(8)), 2)"
    elif kind == "real":
        f = f"CONVERT(nvarchar(8), CAST({c} AS binary(4)), 2)"
    elif kind == "date":
        f = f"CAST(DATEDIFF(day, {_TSQL_EPOCH_DATE}, {c}) AS nvarchar(11))"
    elif kind in _TIMESTAMPS:
        # microsecond boundaries crossed since 1970: the value with its 7th digit cut, as the
        # copy cuts it (a boundary count floors, also before 1970)
        stamp = f"CAST({_TIMESTAMPS[kind].format(c=c)} AS datetime2(7))"
        f = f"CAST(DATEDIFF_BIG(microsecond, {_TSQL_EPOCH}, {stamp}) AS nvarchar(20))"
    elif kind == "time":
        f = f"LEFT(CAST(CAST({c} AS time(7)) AS nvarchar(16)), 15)"  # 'hh:mi:ss.fffffff', 16 characters
    elif kind == "uniqueidentifier":
        f = f"CAST({c} AS nvarchar(36))"
    else:
        raise ValueError(f"column `{column.source_name}`: no canonical form for `{t.declared()}`")
    return f"CASE WHEN {c} IS NULL THEN N'N' ELSE {f} END"


# PostgreSQL 18 casts bytea to bigint: a timestamp's binary send form is its microseconds
# since 2000-01-01, so the count since 1970 is one integer addition, where extract(epoch ..)
# computes in numeric (measured at 1,000,000 rows: 0.21 s against 0.12 s a column).
PG_BYTEA_TO_INT = 180_000
_PG_EPOCH_US = 946_684_800_000_000  # microseconds from 1970-01-01 to 2000-01-01


def pg_field(column: ColumnPlan, pg_version: int = 0) -> pgsql.Composable:
    """The PostgreSQL canonical text of the replica's copy of ``column`` on a server of
    ``server_version_num`` ``pg_version`` (each version's expression prints the same text)."""
    c, kind = pgsql.Identifier(column.target_name), column.source_type.name.lower()
    if kind in _TEXT:
        f = pgsql.SQL("'T' || replace({c}::text, '|', '||')")
    elif kind in _BINARY:
        f = pgsql.SQL("upper(encode({c}, 'hex'))")
    elif kind == "bit":
        f = pgsql.SQL("CASE WHEN {c} THEN '1' WHEN NOT {c} THEN '0' END")  # NULL stays NULL
    elif kind in _INTEGERS or kind in ("decimal", "numeric") or kind in _MONEY:
        f = pgsql.SQL("{c}::text")
    elif kind == "float":
        f = pgsql.SQL("upper(encode(float8send({c}), 'hex'))")
    elif kind == "real":
        f = pgsql.SQL("upper(encode(float4send({c}), 'hex'))")
    elif kind == "date":
        f = pgsql.SQL("({c} - DATE '1970-01-01')::text")
    elif kind in _TIMESTAMPS and pg_version >= PG_BYTEA_TO_INT:  # timestamptz: UTC, as extract
        send = "timestamptz_send" if kind == "datetimeoffset" else "timestamp_send"
        f = pgsql.SQL(f"({send}({{c}})::bigint + {_PG_EPOCH_US})::text")
    elif kind in _TIMESTAMPS:  # timestamptz (datetimeoffset) counts from 1970 in UTC
        f = pgsql.SQL("(extract(epoch FROM {c}) * 1000000)::bigint::text")
    elif kind == "time":
        f = pgsql.SQL("to_char({c}::interval, 'HH24:MI:SS.US')")
    elif kind == "uniqueidentifier":
        f = pgsql.SQL("upper({c}::text)")
    else:
        raise ValueError(f"column `{column.target_name}`: no canonical form for `{column.source_type.declared()}`")
    return pgsql.SQL("coalesce({f}, 'N')").format(f=f.format(c=c))


# SQL Server's CONCAT takes at most 254 arguments; a wider row nests them.
_CONCAT_ARGS = 254


def tsql_row(columns: Sequence[ColumnPlan]) -> str:
    """The row's canonical text as nvarchar(max): one CONCAT of the fields and separators
    (no field is NULL, so CONCAT's NULL-as-empty never applies), which builds the string
    once where a chain of ``+`` copies it once per operator. Starting from an
    nvarchar(max) keeps CONCAT from cutting the result at 4,000 characters."""
    parts = ["CAST(N'' AS nvarchar(max))"]
    for i, c in enumerate(columns):
        parts += ([] if i == 0 else ["N'|'"]) + [tsql_field(c)]
    while len(parts) > _CONCAT_ARGS:
        parts = ["CONCAT(" + ", ".join(parts[:_CONCAT_ARGS]) + ")", *parts[_CONCAT_ARGS:]]
    if len(parts) == 1:
        return parts[0]
    return "CONCAT(" + ", ".join(parts) + ")"


def pg_row(columns: Sequence[ColumnPlan], pg_version: int = 0) -> pgsql.Composable:
    return pgsql.SQL(" || '|' || ").join(pg_field(c, pg_version) for c in columns)


def tsql_md5(row_text: str) -> str:
    """MD5 of the text's UTF-8 bytes, varbinary(16)."""
    return f"HASHBYTES('MD5', CAST(({row_text}) COLLATE {UTF8_COLLATION} AS varchar(max)))"


def pg_md5(row_text: pgsql.Composable, utf8: bool = False) -> pgsql.Composable:
    """MD5 of the text's UTF-8 bytes as 32 hex digits. ``md5(text)`` hashes the bytes in the
    database's encoding: those are UTF-8 when ``utf8`` (server_encoding UTF8), else the
    text is converted first (a copy per row)."""
    return pgsql.SQL("md5({})" if utf8 else "md5(convert_to({}, 'UTF8'))").format(row_text)


# Each row's MD5 counts by its first 8 bytes as a signed bigint, summed per segment as an
# exact decimal: a multiset sum (duplicates add up, unlike XOR) of 64 bits of hash that
# cannot overflow (2^31 rows of at most 2^63 stay far below 10^38). One value per row, so
# PostgreSQL reads each digest once without a fence around the hash. No '%' operator: both
# drivers read '%' as a placeholder.
def tsql_part(h: str) -> str:
    """The bigint of the first 8 bytes of varbinary ``h``, as decimal(38,0) for SUM."""
    return f"CAST(CAST(CAST({h} AS binary(8)) AS bigint) AS decimal(38,0))"


def pg_part(m: pgsql.Composable, pg_version: int = 0) -> pgsql.Composable:
    """:func:`tsql_part` of an MD5 in hex (PostgreSQL's sum of bigint is an exact numeric)."""
    return pg_digest_int(m, 8, pg_version)


def pg_digest_int(m: pgsql.Composable, size: int, pg_version: int = 0) -> pgsql.Composable:
    """The first ``size`` bytes (4 or 8) of MD5 hex ``m`` as a bigint, most significant first
    (4 bytes unsigned, 8 signed, as SQL Server reads binary(4) and binary(8) as bigint).
    PostgreSQL 18 casts bytea to bigint (shorter bytea zero-extended); older servers parse
    the hex digits as a bit string, which costs more per row (measured at 1,000,000 rows:
    0.2 s of CPU less on 18)."""
    if pg_version >= PG_BYTEA_TO_INT:
        return pgsql.SQL(f"substr(decode({{}}, 'hex'), 1, {size})::bigint").format(m)
    return pgsql.SQL(f"('x' || substr({{}}, 1, {2 * size}))::bit({8 * size})::bigint").format(m)
