"""Python-side conversions of constants (literals and parameters) to stored values.

Constants are converted here, exactly and with SQL Server's error numbers,
before any SQL reaches DuckDB: a ``'2024-01-02 03:04:05.1234567'`` literal must
keep its 100-ns digit, which DuckDB's TIMESTAMP would drop.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import ROUND_HALF_UP, Context, Decimal

# decimal(38, s) needs more digits than Python's default 28-digit context.
DEC_CTX = Context(prec=80)

from mctm_replica.standin.contract import TICKS_PER_DAY, TICKS_PER_SECOND, SqlError
from mctm_replica.standin.engine.decl import (
    BINARY_TYPES, DTO_BASE, DTO_BIAS, INT_RANGES, STRING_TYPES, UNICODE_TYPES, Decl, storage_type,
)

_TEMPORAL = re.compile(
    r"^\s*(?:(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})|(?P<y2>\d{4})(?P<m2>\d{2})(?P<d2>\d{2}))?"
    r"(?:(?:\s+|T|^)(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<F>\d{1,9}))?)?\s*(?P<ampm>[AaPp][Mm])?)?"
    r"\s*(?P<tz>Z|[+-]\d{1,2}:\d{2})?\s*$"
)
_INT = re.compile(r"^\s*[+-]?\d+\s*$")
_DEC = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)\s*$")
_FLOAT = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")
EPOCH_DATE = dt.date(1, 1, 1)
MONEY_RANGE = {"money": (Decimal("-922337203685477.5808"), Decimal("922337203685477.5807")),
               "smallmoney": (Decimal("-214748.3648"), Decimal("214748.3647"))}
MAX_TICKS = 3_652_059 * TICKS_PER_DAY - 1  # 9999-12-31 23:59:59.9999999
# smalldatetime covers 1900-01-01 00:00 .. 2079-06-06 23:59 (ticks since 0001-01-01).
SMALLDATETIME_MIN_TICKS = 693_595 * TICKS_PER_DAY
SMALLDATETIME_MAX_TICKS = (693_595 + 65_535) * TICKS_PER_DAY + 1439 * 60 * TICKS_PER_SECOND


def src_name(value: object, unicode: bool) -> str:
    return "nvarchar" if unicode else "varchar"


def parse_temporal(s: str, target: str) -> tuple[dt.date | None, int | None, int | None]:
    """Split a date/time string into (date, ticks since midnight, offset minutes)."""
    m = _TEMPORAL.match(s)
    if not m or not s.strip():
        raise SqlError(241, "Conversion failed when converting date and/or time from character string.")
    date = None
    try:
        if m["y"]:
            date = dt.date(int(m["y"]), int(m["m"]), int(m["d"]))
        elif m["y2"]:
            date = dt.date(int(m["y2"]), int(m["m2"]), int(m["d2"]))
    except ValueError as e:
        raise SqlError(241 if target != "datetime" else 242,
                       "Conversion failed when converting date and/or time from character string.") from e
    ticks = None
    if m["H"] is not None:
        h, mi, sec = int(m["H"]), int(m["M"]), int(m["S"] or 0)
        if m["ampm"]:
            h = h % 12 + (12 if m["ampm"].lower() == "pm" else 0)
        if h > 23 or mi > 59 or sec > 59:
            raise SqlError(241, "Conversion failed when converting date and/or time from character string.")
        frac = (m["F"] or "")[:7].ljust(7, "0")
        ticks = (h * 3600 + mi * 60 + sec) * TICKS_PER_SECOND + int(frac)
    offset = None
    if m["tz"]:
        if m["tz"] == "Z":
            offset = 0
        else:
            sign = -1 if m["tz"][0] == "-" else 1
            hh, mm = m["tz"][1:].split(":")
            offset = sign * (int(hh) * 60 + int(mm))
            if abs(offset) > 840:
                raise SqlError(241, "Conversion failed when converting date and/or time from character string.")
    if date is None and ticks is None:
        raise SqlError(241, "Conversion failed when converting date and/or time from character string.")
    return date, ticks, offset


def round_ticks(ticks: int, scale: int) -> int:
    """Round 100-ns ticks half up to ``scale`` fractional digits."""
    unit = 10 ** (7 - scale)
    return (ticks + unit // 2) // unit * unit


def date_ticks(d: dt.date) -> int:
    return (d - EPOCH_DATE).days * TICKS_PER_DAY


def ticks_to_datetime(t: int) -> dt.datetime:
    return dt.datetime(1, 1, 1) + dt.timedelta(microseconds=t // 10)


def datetime_to_ticks(v: dt.datetime) -> int:
    delta = v.replace(tzinfo=None) - dt.datetime(1, 1, 1)
    return (delta.days * 86400 + delta.seconds) * TICKS_PER_SECOND + delta.microseconds * 10


def round_datetime(days_date: dt.date, tod_ticks: int) -> dt.datetime:
    """SQL Server datetime: 1/300 s resolution, shown as .000/.003/.007."""
    sec, frac = divmod(tod_ticks, TICKS_PER_SECOND)
    t300 = (frac * 600 + TICKS_PER_SECOND) // (2 * TICKS_PER_SECOND)
    ms = (t300 * 10 + 1) // 3
    return dt.datetime.combine(days_date, dt.time()) + dt.timedelta(seconds=sec, milliseconds=ms)


def dto_encode(utc_ticks: int, offset: int) -> int:
    return utc_ticks * DTO_BASE + offset + DTO_BIAS


def dto_decode(v: int) -> tuple[int, int]:
    t, o = divmod(v, DTO_BASE)
    return t, o - DTO_BIAS


def _range_error(src: str, dst: str) -> SqlError:
    return SqlError(242, f"The conversion of a {src} data type to a {dst} data type resulted in an out-of-range value.")


def temporal_from_string(s: str, dst: Decl, src: str) -> object:
    date, tod, offset = parse_temporal(s, dst.type)
    return temporal_from_parts(date, tod, offset, dst, src)


def temporal_from_parts(date: dt.date | None, tod: int | None, offset: int | None, dst: Decl, src: str) -> object:
    """A date, a time of day in ticks and an offset (each optional) in ``dst``'s stored form."""
    t = dst.type
    if t == "date":
        if date is None:
            return dt.date(1900, 1, 1)
        return date
    if t == "time":
        return round_ticks(tod or 0, dst.scale if dst.scale is not None else 7) % TICKS_PER_DAY
    if date is None:
        date = dt.date(1900, 1, 1)
    tod = tod or 0
    if t == "datetime":
        if date.year < 1753:
            raise _range_error(src, "datetime")
        v = round_datetime(date, tod)
        if v.year > 9999:
            raise _range_error(src, "datetime")
        return v
    if t == "smalldatetime":
        total = date_ticks(date) + tod
        minute = 60 * TICKS_PER_SECOND
        total = (total + 30_001 * 10_000) // minute * minute  # 29.999 s and more round up
        if not SMALLDATETIME_MIN_TICKS <= total <= SMALLDATETIME_MAX_TICKS:
            raise _range_error(src, "smalldatetime")
        return ticks_to_datetime(total)
    scale = dst.scale if dst.scale is not None else 7
    ticks = round_ticks(date_ticks(date) + tod, scale)
    if ticks > MAX_TICKS:
        raise _range_error(src, t)
    if t == "datetime2":
        return ticks
    if t == "datetimeoffset":
        off = offset or 0
        return dto_encode(ticks - off * 60 * TICKS_PER_SECOND, off)
    raise AssertionError(t)


def temporal_from_ticks(value: int, src: Decl, dst: Decl) -> object:
    """A datetime2/time/datetimeoffset constant (stored form) converted to another date/time type."""
    s = src.type
    offset = None
    if s == "datetimeoffset":
        utc, offset = dto_decode(value)
        if dst.type == "datetimeoffset":
            scale = dst.scale if dst.scale is not None else 7
            return dto_encode(round_ticks(utc, scale), offset)
        local = utc + offset * 60 * TICKS_PER_SECOND
    else:
        local = value
    if s == "time":
        return temporal_from_parts(None, local, None, dst, s)
    days, tod = divmod(local, TICKS_PER_DAY)
    return temporal_from_parts(EPOCH_DATE + dt.timedelta(days=days), tod, offset, dst, s)


def datetime_exact_ticks(v: dt.datetime) -> int:
    """Ticks of a datetime value as SQL Server widens it to datetime2: its exact 1/300 s
    (.993 is 298/300 s, so .9933333), not the rounded milliseconds it displays."""
    t300 = (v.microsecond * 3 + 5_000) // 10_000
    return datetime_to_ticks(v.replace(microsecond=0)) + (t300 * TICKS_PER_SECOND + 150) // 300


def _int_error(s: str, dst: str, src: str) -> SqlError:
    return SqlError(245, f"Conversion failed when converting the {src} value '{s}' to data type {dst}.")


def _overflow(dst: str, src: str = "expression") -> SqlError:
    name = "numeric" if dst == "decimal" else dst
    return SqlError(8115, f"Arithmetic overflow error converting {src} to data type {name}.")


def check_int(v: int, dst: str, src: str = "expression") -> int:
    lo, hi = INT_RANGES[dst]
    if dst == "bit":
        return v != 0
    if not lo <= v <= hi:
        raise _overflow(dst, src)
    return v


def check_decimal(v: Decimal, dst: Decl, src: str = "expression") -> Decimal:
    if dst.type in MONEY_RANGE:
        q = v.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP, context=DEC_CTX)
        lo, hi = MONEY_RANGE[dst.type]
        if not lo <= q <= hi:
            raise _overflow(dst.type, src)
        return q
    p, s = dst.precision or 18, dst.scale or 0
    q = v.quantize(Decimal(1).scaleb(-s), rounding=ROUND_HALF_UP, context=DEC_CTX)
    if q.copy_abs() >= Decimal(10).scaleb(p - s - 1):
        raise _overflow("decimal", src)
    return q


def convert_string(s: str, dst: Decl, *, unicode: bool) -> object:
    """Convert a character constant to ``dst`` as CAST/INSERT would."""
    src = "nvarchar" if unicode else "varchar"
    t = dst.type
    if t == "bit":
        low = s.strip().lower()
        if low in ("true", "false"):
            return low == "true"
        if not _INT.match(s):
            raise _int_error(s, "bit", src)
        return int(s) != 0
    if t in INT_RANGES:
        if not s.strip():
            return 0
        if not _INT.match(s):
            raise _int_error(s, t, src)
        v = int(s)
        lo, hi = INT_RANGES[t]
        if not lo <= v <= hi:
            label = {"tinyint": "INT1", "smallint": "INT2", "int": "int", "bigint": "bigint"}[t]
            raise SqlError(248 if t in ("int", "bigint") else 244,
                           f"The conversion of the {src} value '{s}' overflowed an {label} column. Use a larger integer column.")
        return v
    if t in ("decimal", "numeric", "money", "smallmoney"):
        if not _DEC.match(s):
            if t in MONEY_RANGE:
                raise SqlError(235, "Cannot convert a char value to money. The char value has incorrect syntax.")
            raise SqlError(8114, f"Error converting data type {src} to numeric.")
        return check_decimal(Decimal(s.strip()), dst, src)
    if t in ("float", "real"):
        if not s.strip():
            return 0.0
        if not _FLOAT.match(s):
            raise SqlError(8114, f"Error converting data type {src} to float.")
        v = float(s)
        if t == "real":
            import struct

            try:
                v = struct.unpack("<f", struct.pack("<f", v))[0]
            except OverflowError as e:
                raise _overflow("real", src) from e
        return v
    if t in ("date", "time", "datetime", "datetime2", "smalldatetime", "datetimeoffset"):
        return temporal_from_string(s, dst, src)
    if t == "uniqueidentifier":
        txt = s.strip().strip("{}")
        if len(txt) < 36:
            raise SqlError(8169, "Conversion failed when converting from a character string to uniqueidentifier.")
        try:
            return uuid.UUID(txt[:36])
        except ValueError as e:
            raise SqlError(8169, "Conversion failed when converting from a character string to uniqueidentifier.") from e
    if t == "xml":
        return normalize_xml(s)
    if t in STRING_TYPES:
        return s
    if t in BINARY_TYPES:
        return s.encode("utf-16-le" if unicode else "cp1252", errors="replace")
    raise SqlError(529, f"Explicit conversion from data type {src} to {t} is not allowed.")


def normalize_xml(s: str) -> str:
    """Serialize XML the way SQL Server returns stored xml values.

    SQL Server keeps the parsed document, not the text: no XML declaration, empty
    elements as ``<b />``, attributes in double quotes, whitespace-only text dropped.
    Fragments (several top-level elements or bare text) are allowed, as in SQL Server.
    """
    import xml.etree.ElementTree as ET

    body = re.sub(r"^\s*<\?xml[^>]*\?>", "", s)
    try:
        root = ET.fromstring(f"<__standin_fragment>{body}</__standin_fragment>")
    except ET.ParseError as e:
        line, col = e.position
        raise SqlError(9400, f"XML parsing: line {line}, character {col}, {str(e).split(':')[0]}") from e
    for el in root.iter():
        if el.text is not None and not el.text.strip() and len(el):
            el.text = None
        if el.tail is not None and not el.tail.strip():
            el.tail = None
    text = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    inner = text[len("<__standin_fragment>"):-len("</__standin_fragment>")]
    return "" if text.endswith("<__standin_fragment />") else inner


def sql_literal(value: object, d: Decl) -> str:
    """Render a stored value as a typed DuckDB literal."""
    st = storage_type(d)
    if value is None:
        return f"CAST(NULL AS {st})"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, bytes):
        return f"CAST(from_hex('{value.hex()}') AS BLOB)" if value else "CAST('' AS BLOB)"
    if isinstance(value, str):
        return "CAST('" + value.replace("'", "''") + f"' AS {st})"
    if isinstance(value, dt.datetime):
        return f"CAST('{value.isoformat(sep=' ')}' AS TIMESTAMP)"
    if isinstance(value, dt.date):
        return f"CAST('{value.isoformat()}' AS DATE)"
    if isinstance(value, float):
        return f"CAST('{value!r}' AS {st})"
    if isinstance(value, Decimal):  # positional digits: str() would say 1E-38, which DuckDB's DECIMAL refuses
        return f"CAST('{value:f}' AS {st})"
    return f"CAST('{value}' AS {st})"


def is_unicode(d: Decl | None) -> bool:
    return d is not None and d.type in UNICODE_TYPES
