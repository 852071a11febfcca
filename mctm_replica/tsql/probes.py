"""The read check's T-SQL (:mod:`mctm_replica.read_check`): literal values of every type
in the type map -- extremes, NULL, empty and blank strings, quotes and CSV syntax, Japanese
in ``varchar`` under the database's collation, NUL, precision-7 times, offsets -- selected
once as typed values and once as the server-made COPY lines of :mod:`mctm_replica.tsql.csv_lines`."""

from __future__ import annotations

from dataclasses import dataclass

from mctm_replica.tsql.csv_lines import csv_line_sql
from mctm_replica.tsql.quoting import quote_tsql
from mctm_replica.typemap import SourceType


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
