"""The fast read path proves itself on the server it runs against, before the first row.

The default read path asks SQL Server to format each row as a PostgreSQL COPY CSV line
(:mod:`mctm_replica.source_csv`). Its expressions are right for SQL Server 2016-2022 on
paper; a server whose text for some type differed would write the replica wrong, and only
the content check would notice, after the commit. So before the first row of each run on
a source, :func:`require_same_reads` SELECTs a fixed set of literal values of every type
in the type map -- extremes, NULL, empty and blank strings, quotes and CSV syntax,
Japanese in ``varchar`` under the database's collation, NUL, precision-7 times, offsets --
once as typed values (the path ``format_on_server: false`` uses, formatted by
:class:`~mctm_replica.io_managers.copy_format.CsvBatchEncoder`) and once as server-made
lines, and compares what PostgreSQL would store from each (:func:`stored_value`, a model
of the target type's input function). Any difference fails the run before anything is
read or written, naming the type, both texts and the fix. It needs no table and writes
nothing; its result is cached per source and run.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
import threading
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from mctm_replica.io_managers.copy_format import CsvBatchEncoder, CsvLineEncoder
from mctm_replica.naming import quote_tsql
from mctm_replica.resources.mssql import MssqlResource, SourceError
from mctm_replica.source_csv import csv_line_sql
from mctm_replica.typemap import SourceType, lookup, pg_type


@dataclass(frozen=True)
class ReadProbe:
    label: str  # what the value is, for the message
    type: SourceType
    literal: str  # a T-SQL expression (cast to ``type`` around it)


def _t(name: str, n: int | None = None, p: int | None = None, s: int | None = None,
       dtp: int | None = None) -> SourceType:
    return SourceType(name, n, p, s, dtp)


_JAPANESE = "N'ｶﾀｶﾅ ひらがな カタカナ 漢字 〒100-0001 ①'"
_CSV_SYNTAX = "N'say \"hi\", ok' + NCHAR(13) + NCHAR(10) + N'\\. \\N NULL ＂'"

PROBES: list[ReadProbe] = [
    ReadProbe("bit 1", _t("bit"), "1"),
    ReadProbe("tinyint max", _t("tinyint"), "255"),
    ReadProbe("smallint min", _t("smallint"), "-32768"),
    ReadProbe("int min", _t("int"), "-2147483648"),
    ReadProbe("bigint max", _t("bigint"), "9223372036854775807"),
    ReadProbe("decimal(38,0) max", _t("decimal", p=38, s=0), "99999999999999999999999999999999999999"),
    ReadProbe("decimal(38,10) min", _t("decimal", p=38, s=10), "-9999999999999999999999999999.9999999999"),
    ReadProbe("numeric(18,4) small", _t("numeric", p=18, s=4), "0.0001"),
    ReadProbe("money min", _t("money"), "-922337203685477.5808"),
    ReadProbe("smallmoney max", _t("smallmoney"), "214748.3647"),
    # The expression the pre-2016 check always matched: a lossy style shows here first.
    ReadProbe("float 1/3", _t("float", p=53), "CAST(1 AS float) / 3"),
    ReadProbe("float max", _t("float", p=53), "1.7976931348623157E+308"),
    ReadProbe("float smallest normal", _t("float", p=53), "-2.2250738585072014E-308"),
    ReadProbe("float 0.1", _t("float", p=53), "0.1"),
    ReadProbe("real 1/3", _t("real", p=24), "CAST(1 AS real) / 3"),
    ReadProbe("real max", _t("real", p=24), "3.4028235E+38"),
    ReadProbe("date min", _t("date"), "'0001-01-01'"),
    ReadProbe("date max", _t("date"), "'9999-12-31'"),
    ReadProbe("datetime max", _t("datetime", dtp=3), "'9999-12-31T23:59:59.997'"),
    ReadProbe("smalldatetime", _t("smalldatetime", dtp=0), "'2079-06-06T23:59:00'"),
    ReadProbe("datetime2(7) max", _t("datetime2", dtp=7), "'9999-12-31T23:59:59.9999999'"),
    ReadProbe("datetime2(7) min", _t("datetime2", dtp=7), "'0001-01-01T00:00:00.0000001'"),
    ReadProbe("datetime2(3)", _t("datetime2", dtp=3), "'2024-02-29T12:34:56.789'"),
    ReadProbe("time(7)", _t("time", dtp=7), "'23:59:59.9999999'"),
    ReadProbe("time(0)", _t("time", dtp=0), "'00:00:00'"),
    ReadProbe("datetimeoffset(7) +09:00", _t("datetimeoffset", dtp=7), "'2024-01-01T12:34:56.1234567+09:00'"),
    ReadProbe("datetimeoffset(7) -14:00", _t("datetimeoffset", dtp=7), "'0001-01-01T00:00:00-14:00'"),
    ReadProbe("uniqueidentifier", _t("uniqueidentifier"), "'6F9619FF-8B86-D011-B42D-00C04FD430C8'"),
    ReadProbe("varchar Japanese (database collation)", _t("varchar", 60), _JAPANESE),
    ReadProbe("char(5) padded", _t("char", 5), "'ab'"),
    ReadProbe("nchar(4) padded", _t("nchar", 4), "N'ab'"),
    ReadProbe("varchar(max) Japanese", _t("varchar", -1), _JAPANESE),
    ReadProbe("text Japanese", _t("text", 2147483647), _JAPANESE),
    ReadProbe("ntext", _t("ntext", 1073741823), "N'x \"y\"'"),
    ReadProbe("varchar empty", _t("varchar", 10), "''"),
    ReadProbe("varchar blanks", _t("varchar", 10), "'   '"),
    ReadProbe("nvarchar Japanese", _t("nvarchar", 60), _JAPANESE),
    ReadProbe("nvarchar CSV syntax", _t("nvarchar", 80), _CSV_SYNTAX),
    ReadProbe("nvarchar NUL", _t("nvarchar", 10), "N'a' + NCHAR(0) + N'b'"),
    ReadProbe("nvarchar(max) long", _t("nvarchar", -1), "REPLICATE(CAST(N'\"' AS nvarchar(max)), 2500)"),
    ReadProbe("varbinary", _t("varbinary", 10), "0x00FF10"),
    ReadProbe("binary(4) padded", _t("binary", 4), "0xAB"),
    ReadProbe("xml", _t("xml"), "N'<a b=\"1\">x &amp; y</a>'"),
]


def probe_select(probes: list[ReadProbe]) -> str:
    """Two rows of one column per probe: the value, then NULL of the same type."""
    cols = [f"CAST({p.literal} AS {p.type.declared()}) AS {quote_tsql(f'c{i}')}" for i, p in enumerate(probes)]
    nulls = [f"CAST(NULL AS {p.type.declared()})" for p in probes]
    return f"SELECT {', '.join(cols)} UNION ALL SELECT {', '.join(nulls)}"


def line_select(probes: list[ReadProbe]) -> str:
    line = csv_line_sql([(f"c{i}", p.type) for i, p in enumerate(probes)])
    return f"SELECT {line} FROM ({probe_select(probes)}) AS p"


# ---------------------------------------------------------------- PostgreSQL's reading

def csv_fields(line: str) -> list[str | None]:
    """The fields of one COPY CSV line; None for an unquoted empty field (NULL)."""
    fields: list[str | None] = []
    i, n = 0, len(line)
    while True:
        if i < n and line[i] == '"':
            j, buf = i + 1, []
            while True:
                k = line.index('"', j)
                buf.append(line[j:k])
                if k + 1 < n and line[k + 1] == '"':
                    buf.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            fields.append("".join(buf))
        else:
            k = line.find(",", i)
            k = n if k < 0 else k
            fields.append(line[i:k] or None)
            i = k
        if i >= n:
            return fields
        i += 1  # the comma
        if i == n:
            fields.append(None)
            return fields


_STAMP = re.compile(r"(?:(\d{4,})-(\d\d)-(\d\d))?[ T]?(?:(\d\d):(\d\d):(\d\d)(?:\.(\d+))?)?"
                    r"\s*(?:([+-])(\d\d):?(\d\d))?$")
_F32 = struct.Struct("<f")


def _fraction(digits: str | None, keep: int) -> int:
    """Microseconds of ``.digits`` rounded to ``keep`` digits, as PostgreSQL rounds input."""
    if not digits:
        return 0
    value = Decimal("0." + digits).quantize(Decimal(1).scaleb(-keep), rounding=ROUND_HALF_EVEN)
    return int(value * 1_000_000)


def _stamp(text: str, keep: int) -> int:
    """Microseconds since 0001-01-01 (UTC for a text with an offset)."""
    m = _STAMP.match(text.strip())
    if not m:
        raise ValueError(text)
    y, mo, d, h, mi, s, frac, sign, oh, om = m.groups()
    day = dt.date(int(y or 1), int(mo or 1), int(d or 1)).toordinal()
    clock = (int(h or 0) * 3600 + int(mi or 0) * 60 + int(s or 0)) * 1_000_000 + _fraction(frac, keep)
    offset = 0 if sign is None else (1 if sign == "+" else -1) * (int(oh) * 60 + int(om)) * 60_000_000
    return day * 86_400_000_000 + clock - offset


_PRECISION = re.compile(r"\((\d+)")


def stored_value(text: str | None, target_type: str) -> Any:
    """What PostgreSQL stores from ``text`` in a column of ``target_type`` (a comparable model
    of its input functions, for the types the type map produces)."""
    if text is None:
        return None
    t = target_type.split("(")[0].strip()
    m = _PRECISION.search(target_type)
    keep = int(m.group(1)) if m else 6
    if t == "boolean":
        return text.strip().lower() in ("t", "true", "1", "yes", "on", "y")
    if t in ("smallint", "integer", "bigint"):
        return int(text)
    if t == "numeric":
        return Decimal(text)
    if t == "double precision":
        return float(text)
    if t == "real":
        return _F32.unpack(_F32.pack(float(text)))[0]
    if t == "date":
        return dt.date.fromisoformat(text.strip())
    if t in ("time", "timestamp"):
        return _stamp(text, keep)
    if t == "uuid":
        return uuid.UUID(text)
    if t == "bytea":
        return bytes.fromhex(text[2:]) if text.startswith("\\x") else text.encode()
    return text  # varchar, text: stored as given (NUL already stripped by the encoders)


# ---------------------------------------------------------------- the check

@dataclass(frozen=True)
class ReadDifference:
    probe: ReadProbe
    row: str  # "value" or "NULL"
    typed_text: str | None
    line_text: str | None


def compare(probes: list[ReadProbe], typed_rows: list[tuple], lines: list[str]) -> list[ReadDifference]:
    """Probe by probe, where the two read paths would store different values (pure)."""
    names = [f"c{i}" for i in range(len(probes))]
    families = [lookup(p.type).value for p in probes]
    typed_encoder = CsvBatchEncoder(names, families, [True] * len(probes))
    line_encoder = CsvLineEncoder(names)
    diffs = []
    for row_name, typed_row, line in zip(("value", "NULL"), typed_rows, lines):
        # One record each (a quoted field may hold a newline): drop only the record's end.
        typed_fields = csv_fields(typed_encoder.encode([typed_row]).decode()[:-1])
        line_fields = csv_fields(line_encoder.encode([(line,)]).decode()[:-1])
        for i, p in enumerate(probes):
            target = pg_type(p.type, table="(read check)", column=names[i])
            a = typed_fields[i] if i < len(typed_fields) else "<missing>"
            b = line_fields[i] if i < len(line_fields) else "<missing>"
            try:
                same = stored_value(a, target) == stored_value(b, target)
            except (ValueError, ArithmeticError, IndexError):
                same = False
            if not same:
                diffs.append(ReadDifference(p, row_name, a, b))
    return diffs


def run_read_check(mssql: MssqlResource, probes: list[ReadProbe] = PROBES) -> list[ReadDifference]:
    """Both reads of the probe values on one connection; the differences."""
    with mssql.get_connection() as conn, conn.cursor() as cur:
        cur.execute(probe_select(probes))
        typed = [tuple(r) for r in cur.fetchall()]
        cur.execute(line_select(probes))
        lines = [r[0] for r in cur.fetchall()]
    return compare(probes, typed, lines)


def difference_message(d: ReadDifference, *, source: str) -> str:
    return (f"SQL Server formats {d.probe.label} (`{d.probe.type.declared()}`, {d.row}) as "
            f"{d.line_text!r} on the server, but its typed value loads as {d.typed_text!r}: the "
            f"fast read path would write it wrong on this server. Set `format_on_server: false` "
            f"for source `{source}` in tables.yaml")


_checked: dict[tuple[str, str], list[ReadDifference]] = {}
_lock = threading.Lock()


def require_same_reads(mssql: MssqlResource, *, table: str, source: str, run_id: str) -> None:
    """Fail (naming ``table``, the type, both texts and the fix) before any row is read if
    the two read paths disagree on this server; checked once per source and run."""
    fix = f"set `format_on_server: false` for source `{source}` in tables.yaml"
    key = (run_id, source)
    with _lock:
        diffs = _checked.get(key)
    if diffs is None:
        try:
            diffs = run_read_check(mssql)
        except SourceError as e:
            raise SourceError(f"table `{table}`: the read-path self-check failed: {e}; {fix}") from e
        except Exception as e:  # a driver error on one of the probe expressions
            raise SourceError(f"table `{table}`: the read-path self-check failed: "
                              f"{str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}; "
                              f"if this server is older than SQL Server 2016, {fix}") from e
        with _lock:
            _checked[key] = diffs
    if diffs:
        raise SourceError(f"table `{table}`: " + difference_message(diffs[0], source=source)
                          + (f" ({len(diffs) - 1} more difference(s))" if len(diffs) > 1 else ""))
