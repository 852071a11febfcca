"""SQL-level conversions between declared types, as DuckDB expressions.

Used for CAST/CONVERT, for values assigned by INSERT/UPDATE and for one side of
a comparison: the result of ``convert_sql(x, src, dst)`` is in ``dst``'s
storage representation (see ``decl.storage_type``). Conversions that SQL Server
rejects at run time raise through DuckDB's ``error()`` with a message carrying
SQL Server's error number (``__MSSQL__<n>__``), which ``errors.py`` decodes.
"""

from __future__ import annotations

from mctm_replica.standin.contract import SqlError
from mctm_replica.standin.engine import collations
from mctm_replica.standin.engine.binary import binary_fit, binary_to_int, float_bytes
from mctm_replica.standin.engine.sqlshapes import dto_local, hex_digits
from mctm_replica.standin.engine.decl import (
    BINARY_TYPES, CODE_PAGE_TYPES, UNICODE_TYPES, EXACT_TYPES, INT_RANGES, INT_TYPES, NUMERIC_TYPES, STRING_TYPES, TICK_TYPES,
    TIMESTAMP_TYPES, DATE_TYPES, Decl, storage_type,
)

TPD = 864_000_000_000  # ticks per day
# Temp macros created on every session connection; ticks <-> TIMESTAMP and SQL
# Server's datetime/smalldatetime rounding.
# Code page 1252 is ASCII, Latin-1's printable upper half and 27 characters at 0x80-0x9F.
_CP1252_HIGH = "".join(bytes([b]).decode("cp1252", "ignore") for b in range(0x80, 0xA0))
_NOT_CP1252 = "[^\\x{00}-\\x{7F}\\x{A0}-\\x{FF}" + _CP1252_HIGH + "]"

MACROS = [
    "CREATE OR REPLACE TEMP MACRO __ts2t(x) AS (epoch_us(x) + 62135596800000000) * 10",
    "CREATE OR REPLACE TEMP MACRO __t2ts(x) AS make_timestamp(CAST((x) // 10 - 62135596800000000 AS BIGINT))",
    "CREATE OR REPLACE TEMP MACRO __dtround(x) AS date_trunc('second', x) + to_milliseconds(CAST(((("
    "(epoch_us(x) - epoch_us(date_trunc('second', x))) * 600 + 1000000) // 2000000) * 10 + 1) // 3 AS BIGINT))",
    # datetime -> ticks of its exact 1/300 s (stored as the shown .000/.003/.007 ms)
    "CREATE OR REPLACE TEMP MACRO __dtticks(x) AS __ts2t(date_trunc('second', x)) + (((("
    "epoch_us(x) - epoch_us(date_trunc('second', x))) * 3 + 5000) // 10000) * 10000000 + 150) // 300",
    "CREATE OR REPLACE TEMP MACRO __sdtround(x) AS date_trunc('minute', x + to_microseconds(30001000))",
    "CREATE OR REPLACE TEMP MACRO __dto_utc(x) AS CAST((x) // 2048 AS BIGINT)",
    "CREATE OR REPLACE TEMP MACRO __dto_off(x) AS CAST((x) % 2048 - 1024 AS BIGINT)",
    "CREATE OR REPLACE TEMP MACRO __dto_local(x) AS __dto_utc(x) + __dto_off(x) * 600000000",
    "CREATE OR REPLACE TEMP MACRO __rnd(x, u) AS ((x) + (u) // 2) // (u) * (u)",
    # nvarchar -> char/varchar/text: '?' for each character outside code page 1252
    "CREATE OR REPLACE TEMP MACRO __cp1252(x) AS regexp_replace(x, '" + _NOT_CP1252 + "', '?', 'g')",
]
_INT_RE = r"^\s*[+-]?\d+\s*$"
_DEC_RE = r"^\s*[+-]?(\d+\.?\d*|\.\d+)\s*$"
_FLOAT_RE = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"


def _err(number: int, message_sql: str) -> str:
    """An error() call; ``message_sql`` is a SQL string expression."""
    return f"error('__MSSQL__{number}__' || {message_sql})"


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _tname(d: Decl) -> str:
    return "numeric" if d.type == "decimal" else d.type


def _src_label(src: Decl) -> str:
    return "nvarchar" if src.type in ("nchar", "nvarchar", "ntext", "xml") else "varchar"


def _checked_string(x: str, regex: str, target: str, error: str) -> str:
    return f"(CASE WHEN ({x}) IS NULL THEN NULL WHEN regexp_full_match({x}, {_q(regex)}) THEN {target} ELSE {error} END)"


def _scale(d: Decl) -> int:
    return 7 if d.scale is None else d.scale


def ticks_round(x: str, d: Decl) -> str:
    s = _scale(d)
    return x if s >= 7 else f"__rnd({x}, {10 ** (7 - s)})"


def to_timestamp(x: str, src: Decl) -> str:
    """Any date/time expression as a DuckDB TIMESTAMP (local time; microseconds)."""
    t = src.type
    if t in TIMESTAMP_TYPES:
        return x
    if t == "date":
        return f"CAST({x} AS TIMESTAMP)"
    if t in TICK_TYPES:
        return f"__t2ts({x})"
    if t == "datetimeoffset":
        return f"__t2ts({dto_local(x)})"
    return x


def _temporal_ticks(x: str, src: Decl) -> str:
    """Local ticks since 0001-01-01 of a date/time expression."""
    t = src.type
    if t == "datetime2":
        return x
    if t == "time":
        return f"({x} + {693595 * TPD})"  # time -> 1900-01-01 + time
    if t == "date":
        return f"(({x} - DATE '0001-01-01') * {TPD})"
    if t == "datetime":
        # the exact 1/300 s SQL Server stores (.993 is .9933333), not the shown milliseconds
        return f"__dtticks({x})"
    if t in TIMESTAMP_TYPES:
        return f"__ts2t({x})"
    if t == "datetimeoffset":
        return dto_local(x)
    raise AssertionError(t)


def _date_to_string(x: str, src: Decl, style: int | None) -> str:
    t = src.type
    ts = to_timestamp(x, src)
    if t in ("datetime2", "datetimeoffset", "time"):
        s = _scale(src)
        ticks = f"({x})" if t != "datetimeoffset" else dto_local(x)
        frac = f"'.' || substr(lpad(CAST({ticks} % 10000000 AS VARCHAR), 7, '0'), 1, {s})" if s else "''"
        if t == "time":
            return f"(strftime({ts}, '%H:%M:%S') || {frac})"
        base = f"(strftime({ts}, '%Y-%m-%d{'T' if style == 126 else ' '}%H:%M:%S') || {frac}"
        if t == "datetimeoffset":
            off = f"__dto_off({x})"
            base += (f" || ' ' || CASE WHEN {off} < 0 THEN '-' ELSE '+' END || lpad(CAST(abs({off}) // 60 AS VARCHAR), 2, '0')"
                     f" || ':' || lpad(CAST(abs({off}) % 60 AS VARCHAR), 2, '0')")
        return base + ")"
    if t == "date":
        return f"strftime({ts}, '%Y-%m-%d')" if style != 112 else f"strftime({ts}, '%Y%m%d')"
    # datetime / smalldatetime
    fmts = {120: "%Y-%m-%d %H:%M:%S", 20: "%Y-%m-%d %H:%M:%S", 121: "%Y-%m-%d %H:%M:%S.%g",
            21: "%Y-%m-%d %H:%M:%S.%g", 126: "%Y-%m-%dT%H:%M:%S.%g", 23: "%Y-%m-%d", 112: "%Y%m%d",
            108: "%H:%M:%S", 8: "%H:%M:%S", 111: "%Y/%m/%d", 101: "%m/%d/%Y", 103: "%d/%m/%Y"}
    if style in fmts:
        return f"strftime({ts}, {_q(fmts[style])})"
    if style not in (None, 0, 100):
        raise SqlError(50000, f"The SQL Server stand-in does not support CONVERT style {style}.")
    return (f"(strftime({ts}, '%b ') || lpad(strftime({ts}, '%-d'), 2, ' ') || strftime({ts}, ' %Y ')"
            f" || lpad(strftime({ts}, '%-I:%M'), 5, ' ') || strftime({ts}, '%p'))")


def _to_string(x: str, src: Decl, style: int | None) -> str:
    t = src.type
    if t in STRING_TYPES:
        return x
    if t == "bit":
        return f"CAST(CAST({x} AS INTEGER) AS VARCHAR)"
    if t in ("float", "real"):
        return float_text(x, t, style)
    if t in NUMERIC_TYPES:
        return f"CAST({x} AS VARCHAR)"
    if t in ("date", "time", "datetime", "datetime2", "smalldatetime", "datetimeoffset"):
        return _date_to_string(x, src, style)
    if t == "uniqueidentifier":
        return f"upper(CAST({x} AS VARCHAR))"
    if t in BINARY_TYPES:
        if style in (1, 2):
            prefix = "'0x' || " if style == 1 else ""
            digits = hex_digits(x)  # DuckDB's hex() is upper case already; digits read back may not be
            return f"({prefix}{digits if digits.startswith('hex(') else f'upper({digits})'})"
        return f"decode({x})" if t != "rowversion" else f"decode(from_hex(lpad(to_hex({x}), 16, '0')))"
    raise SqlError(529, f"Explicit conversion from data type {t} to varchar is not allowed.")


# CONVERT(varchar, float|real, style): printf formats SQL Server's output matches --
# 0 (and CAST): at most 6 significant digits, scientific below 1e-4 or from 1e6 on;
# 1: 8 digits, 2: 16 digits, always scientific; 3: 17 significant digits for float and
# real alike (a real is widened to float first), trailing zeros dropped as %g does. SQL Server writes at least three
# exponent digits ("1e+006"); printf writes two, so a zero is inserted. Any other style
# is processed as 0, as SQL Server does.
_FLOAT_FORMATS = {0: "%.6g", 1: "%.7e", 2: "%.15e", 3: "%.17g"}


def _longest_text(src: Decl, style: int | None = None) -> float:
    """The most characters a value of ``src`` prints as text (inf when unknown): a
    decimal(p,s) prints a sign, p digits and a point (no leading zero when p == s: '-.5');
    a binary(n) in CONVERT style 1/2 its 2n hex digits (and '0x')."""
    t = src.type
    if t in ("decimal", "numeric") and src.precision is not None and src.scale is not None:
        return 1 + src.precision + (src.scale > 0)
    if t in ("binary", "varbinary") and src.length is not None and src.length > 0 and style in (1, 2):
        return 2 * src.length + (2 if style == 1 else 0)
    return float("inf")


def float_text(x: str, t: str, style: int | None) -> str:
    fmt = _FLOAT_FORMATS.get(style or 0, "%.6g")
    text = f"printf('{fmt}', CAST({x} AS DOUBLE))"
    return f"regexp_replace({text}, 'e([+-])([0-9][0-9])$', 'e\\10\\2')"


def convert_sql(x: str, src: Decl | None, dst: Decl, *, assign: dict | None = None,
                style: int | None = None) -> str:
    """``x`` (declared ``src``) converted to ``dst``'s storage representation.

    ``assign`` carries {table, column} for INSERT/UPDATE (truncation is then an
    error 2628 instead of CAST's silent truncation).
    """
    st = storage_type(dst)
    if src is None:
        return f"CAST({x} AS {st})"
    s, t = src.type, dst.type
    if s == t and src == dst and t not in ("char", "nchar", "binary") and not collations.code_page_changes(src, dst):
        return x
    # ---- to strings
    if t in STRING_TYPES:
        v = _to_string(x, src, style)
        coll = collations.of(dst.collation) if t in CODE_PAGE_TYPES else None
        if coll is not None and (s in UNICODE_TYPES or (
                s in CODE_PAGE_TYPES and collations.of(src.collation).code_page != coll.code_page)):
            v = collations.fit_sql(v, coll)  # '?' for each character the code page lacks

        def size(e: str) -> str:  # char/varchar lengths count the code page's bytes
            return collations.byte_length_sql(e, coll) if coll is not None else f"length({e})"

        def left(e: str, k: int) -> str:
            return collations.left_sql(e, k, coll) if coll is not None else f"left({e}, {k})"
        n = dst.length
        if n is not None and n > 0 and t not in ("text", "ntext", "xml"):
            if assign is not None and s in STRING_TYPES:
                trunc = _err(2628, f"{_q('String or binary data would be truncated in table ' + repr(assign['table']) + ', column ' + repr(assign['column']) + '. Truncated value: ')} || '''' || {left(v, n)} || '''.'")
                v = f"(CASE WHEN {size(v)} > {n} THEN {trunc} ELSE {v} END)"
            elif s in STRING_TYPES or (s in BINARY_TYPES and n < _longest_text(src, style)):
                v = left(v, n)
            elif s in ("tinyint", "smallint", "int") and t in ("char", "varchar"):
                # SQL Server's documented result for an int too long for char/varchar: '*'
                v = f"(CASE WHEN {size(v)} > {n} THEN '*' ELSE {v} END)"
            elif s in INT_RANGES and n >= max(len(str(v)) for v in INT_RANGES[s]):
                pass  # the integer's longest text fits: no overflow to check for
            elif n >= _longest_text(src):
                pass  # no value of the source type prints longer: nothing can overflow or be cut
            elif s in NUMERIC_TYPES:
                v = f"(CASE WHEN {size(v)} > {n} THEN {_err(8115, _q('Arithmetic overflow error converting expression to data type ' + t + '.'))} ELSE {v} END)"
            elif s in DATE_TYPES:  # date and time text is cut to the length (CONVERT(varchar(10), d, 120))
                v = left(v, n)
            if t == "nchar":
                v = f"rpad({v}, {n}, ' ')"
            elif t == "char":  # padded to n bytes
                v = f"({v} || repeat(' ', CAST(greatest({n} - {size(v)}, 0) AS BIGINT)))"
        return v
    # ---- from strings
    if s in STRING_TYPES:
        lab = _src_label(src)
        if t == "bit":
            msg = f"{_q(f'Conversion failed when converting the {lab} value ' + chr(39))} || {x} || {_q(chr(39) + ' to data type bit.')}"
            return (f"(CASE WHEN {x} IS NULL THEN NULL WHEN lower(trim({x})) IN ('true','false') THEN lower(trim({x})) = 'true'"
                    f" WHEN regexp_full_match({x}, {_q(_INT_RE)}) THEN CAST(trim({x}) AS HUGEINT) <> 0 ELSE {_err(245, msg)} END)")
        if t in INT_RANGES:
            msg = f"{_q(f'Conversion failed when converting the {lab} value ' + chr(39))} || {x} || {_q(chr(39) + f' to data type {t}.')}"
            return _checked_string(x, _INT_RE, f"CAST(trim({x}) AS {st})", _err(245, msg))
        if t in EXACT_TYPES:
            num = 235 if t in ("money", "smallmoney") else 8114
            msg = ("Cannot convert a char value to money. The char value has incorrect syntax." if num == 235
                   else f"Error converting data type {lab} to numeric.")
            return _checked_string(x, _DEC_RE, money_check(f"CAST(trim({x}) AS {st})", dst), _err(num, _q(msg)))
        if t in ("float", "real"):
            return _checked_string(x, _FLOAT_RE, f"CAST(trim({x}) AS {st})",
                                   _err(8114, _q(f"Error converting data type {lab} to float.")))
        if t == "uniqueidentifier":
            return (f"(CASE WHEN {x} IS NULL THEN NULL ELSE coalesce(TRY_CAST(trim(trim({x}), '{{}}') AS UUID), "
                    f"{_err(8169, _q('Conversion failed when converting from a character string to uniqueidentifier.'))}) END)")
        if t in ("date", "time", "datetime", "datetime2", "smalldatetime", "datetimeoffset"):
            bad = _err(241, _q("Conversion failed when converting date and/or time from character string."))
            if t == "time":
                parsed = f"coalesce(TRY_CAST(TRY_CAST({x} AS TIME) AS VARCHAR), TRY_CAST(TRY_CAST({x} AS TIMESTAMP) AS VARCHAR))"
                ts = f"coalesce(TRY_CAST({x} AS TIMESTAMP), TRY_CAST('1900-01-01 ' || trim({x}) AS TIMESTAMP))"
                return f"(CASE WHEN {x} IS NULL THEN NULL WHEN {parsed} IS NULL THEN {bad} ELSE {ticks_round('(__ts2t(' + ts + ') % ' + str(TPD) + ')', dst)} END)"
            ts_src = "TIMESTAMPTZ" if t == "datetimeoffset" else "TIMESTAMP"
            ts = f"TRY_CAST({x} AS {ts_src})"
            if t == "datetimeoffset":
                inner = f"(CAST(__ts2t(CAST(timezone('UTC', {ts}) AS TIMESTAMP)) AS HUGEINT) * 2048 + 1024)"
            elif t == "datetime2":
                inner = ticks_round(f"__ts2t(CAST({ts} AS TIMESTAMP))", dst)
            elif t == "date":
                inner = f"CAST({ts} AS DATE)"
            elif t == "datetime":
                inner = f"__dtround(CAST({ts} AS TIMESTAMP))"
            else:
                inner = f"__sdtround(CAST({ts} AS TIMESTAMP))"
            return f"(CASE WHEN {x} IS NULL THEN NULL WHEN {ts} IS NULL THEN {bad} ELSE {inner} END)"
        if t in BINARY_TYPES:
            raw = collations.text_bytes_sql(x, s in UNICODE_TYPES, src.collation)
            if assign is None and t in ("binary", "varbinary") and dst.length and dst.length > 0:
                return binary_fit(raw, dst)
            return raw
    # ---- numbers
    if t in ("tinyint", "smallint", "int", "bigint") and s in ("binary", "varbinary"):
        return binary_to_int(x, t)
    if t in INT_RANGES:
        if s == "bit":
            return f"CAST({x} AS {st})"
        if t == "bit":
            if s in NUMERIC_TYPES:
                return f"(({x}) <> 0)"
        elif s in INT_TYPES:
            return f"CAST({x} AS {st})"
        elif s in EXACT_TYPES or s in ("float", "real"):
            return f"CAST(trunc({x}) AS {st})"
        elif s == "rowversion" and t == "bigint":
            return x
    if t in EXACT_TYPES and s in NUMERIC_TYPES:
        v = f"CAST({x} AS {st})" if s != "bit" else f"CAST(CAST({x} AS INTEGER) AS {st})"
        return money_check(v, dst) if s not in ("money", "smallmoney") else v
    if t in ("float", "real") and s in NUMERIC_TYPES:
        return f"CAST({x} AS {st})" if s != "bit" else f"CAST(CAST({x} AS INTEGER) AS {st})"
    # ---- dates and times
    if t in ("date", "time", "datetime", "datetime2", "smalldatetime", "datetimeoffset") and s in (
            "date", "time", "datetime", "datetime2", "smalldatetime", "datetimeoffset"):
        if s == "date" and t == "time":
            raise SqlError(529, "Explicit conversion from data type date to time is not allowed.")
        if s == "time" and t == "date":
            raise SqlError(529, "Explicit conversion from data type time to date is not allowed.")
        if t == "datetimeoffset":
            if s == "datetimeoffset":
                return f"(CAST({ticks_round(f'__dto_utc({x})', dst)} AS HUGEINT) * 2048 + __dto_off({x}) + 1024)"
            return f"(CAST({ticks_round(_temporal_ticks(x, src), dst)} AS HUGEINT) * 2048 + 1024)"
        ticks = _temporal_ticks(x, src)
        if t == "datetime2":
            return ticks_round(ticks, dst)
        if t == "time":
            return ticks_round(f"({ticks} % {TPD})", dst) if s != "time" else ticks_round(x, dst)
        if t == "date":
            return f"CAST({to_timestamp(x, src)} AS DATE)" if s != "date" else x
        ts = to_timestamp(x, src) if s != "time" else f"__t2ts({ticks})"
        if t == "datetime":
            return ts if s in ("datetime", "smalldatetime", "date") else f"__dtround({ts})"
        return f"__sdtround({ts})" if s != "smalldatetime" else ts
    if t == "datetime" and s in INT_TYPES:
        return f"(TIMESTAMP '1900-01-01' + to_days(CAST({x} AS INTEGER)))"
    if t == "uniqueidentifier" and s == "uniqueidentifier":
        return x
    if t in BINARY_TYPES:
        if s in BINARY_TYPES:
            if s == "rowversion" and t != "rowversion":
                return f"from_hex(lpad(to_hex({x}), 16, '0'))"
            if t == "rowversion":
                return f"CAST(('0x' || hex({x})) AS BIGINT)" if s != "rowversion" else x
            if dst.length and dst.length > 0:
                if assign is not None:
                    trunc = _err(2628, _q(f"String or binary data would be truncated in table '{assign['table']}', column '{assign['column']}'. Truncated value: ''."))
                    return f"(CASE WHEN octet_length({x}) > {dst.length} THEN {trunc} ELSE {x} END)"
                return binary_fit(x, dst)
            return x
        if s in INT_TYPES:
            return f"from_hex(lpad(to_hex(CAST({x} AS BIGINT)), 16, '0'))"
        if s == "uniqueidentifier":
            return f"from_hex(replace(CAST({x} AS VARCHAR), '-', ''))"
        if s in ("float", "real"):
            return float_bytes(x, src, dst)
    if t == "rowversion" and s == "bigint":
        return x
    if assign is not None:  # INSERT/UPDATE converts implicitly: SQL Server's 206
        raise SqlError(206, f"Operand type clash: {_tname(src)} is incompatible with {_tname(dst)}")
    raise SqlError(529, f"Explicit conversion from data type {_tname(src)} to {_tname(dst)} is not allowed.")


def money_check(v: str, dst: Decl) -> str:
    if dst.type not in ("money", "smallmoney"):
        return v
    lim = "922337203685477.5807" if dst.type == "money" else "214748.3647"
    return (f"(CASE WHEN abs({v}) > {lim} THEN "
            f"{_err(8115, _q('Arithmetic overflow error converting expression to data type ' + dst.type + '.'))} ELSE {v} END)")
