"""Conversion of constants (literals, parameters) between declared types in Python.

Exact where DuckDB would not be (100-ns ticks, datetime's 1/300 s), and the
errors SQL Server raises for bad literals surface before anything runs.
Returns ``NotImplemented`` for pairs it leaves to the SQL path in convert.py.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import ROUND_DOWN, Decimal

from mctm_replica.standin.contract import SqlError
from mctm_replica.standin.engine import collations
from mctm_replica.standin.engine.decl import (
    BINARY_TYPES, EXACT_TYPES, INT_RANGES, STRING_TYPES, UNICODE_TYPES, Decl,
)
from mctm_replica.standin.engine.values import (
    check_decimal, check_int, convert_string, date_ticks, datetime_exact_ticks, dto_encode, round_ticks,
    temporal_from_ticks,
)


def utf16_len(s: str) -> int:
    """Length in UTF-16 code units, the unit of nchar/nvarchar lengths."""
    return len(s) + sum(1 for ch in s if ord(ch) > 0xFFFF)


def _utf16_prefix(s: str, n: int) -> str:
    out, used = [], 0
    for ch in s:
        w = 2 if ord(ch) > 0xFFFF else 1
        if used + w > n:
            break
        out.append(ch)
        used += w
    return "".join(out)


_TICK_SOURCES = frozenset({"datetime2", "time", "datetimeoffset"})
_TEMPORAL_TARGETS = frozenset({"date", "time", "datetime", "datetime2", "smalldatetime", "datetimeoffset"})
_CODE_PAGE_TYPES = frozenset({"char", "varchar", "text"})


def to_code_page(value: str, collation: str | None = None) -> str:
    """What char/varchar/text of ``collation`` (None: the current database's) hold: '?'
    for each character outside its code page (SQL Server also applies Windows best-fit
    mappings to a few, e.g. fullwidth letters in 1252; the stand-in does not)."""
    return collations.of(collation).fit(value)


def _truncation(value: object, dst: Decl, assign: dict | None) -> object:
    n = dst.length
    if n is None or n <= 0 or value is None:
        return value
    if isinstance(value, str) and dst.type in UNICODE_TYPES:
        size = utf16_len(value)
        if size > n:
            if assign is not None:
                raise SqlError(2628, f"String or binary data would be truncated in table '{assign['table']}', "
                                     f"column '{assign['column']}'. Truncated value: '{_utf16_prefix(value, n)}'.")
            value = _utf16_prefix(value, n)
            size = utf16_len(value)
        if dst.type == "nchar":
            value = value + " " * (n - size)
        return value
    if isinstance(value, str) and dst.type in _CODE_PAGE_TYPES:  # n counts the code page's bytes
        coll = collations.of(dst.collation)
        if coll.byte_length(value) > n:
            shown = coll.byte_prefix(value, n)
            if assign is not None:
                raise SqlError(2628, f"String or binary data would be truncated in table '{assign['table']}', "
                                     f"column '{assign['column']}'. Truncated value: '{shown}'.")
            value = shown
        if dst.type == "char":
            value = value + " " * (n - coll.byte_length(value))
        return value
    if len(value) > n:  # type: ignore[arg-type]
        if assign is not None:
            shown = value[:n] if isinstance(value, str) else ""
            raise SqlError(2628, f"String or binary data would be truncated in table '{assign['table']}', "
                                 f"column '{assign['column']}'. Truncated value: '{shown}'.")
        value = value[:n]  # type: ignore[index]
    if dst.type in ("char", "nchar"):
        value = value.ljust(n)  # type: ignore[union-attr]
    elif dst.type == "binary":
        value = value.ljust(n, b"\x00")  # type: ignore[union-attr]
    return value


def _number_text(text: str, src_type: str, dst: Decl, assign: dict | None) -> object:
    """A number's text in a string type too short for it, as SQL Server documents it: ``*``
    for tinyint, smallint and int into char/varchar; error 8115 otherwise (never cut)."""
    n = dst.length
    if assign is None and n is not None and n > 0 and len(text) > n:
        if src_type in ("tinyint", "smallint", "int") and dst.type in ("char", "varchar"):
            return "*".ljust(n) if dst.type == "char" else "*"
        raise SqlError(8115, f"Arithmetic overflow error converting expression to data type {dst.type}.")
    return _truncation(text, dst, assign)


def convert_const(value: object, src: Decl, dst: Decl, *, assign: dict | None = None,
                  from_param: bool = False) -> object:
    """``value`` (stored form of ``src``) in the stored form of ``dst``."""
    if value is None:
        return None
    s, t = src.type, dst.type
    if s in STRING_TYPES:
        out = convert_string(value, dst, unicode=s in UNICODE_TYPES)  # type: ignore[arg-type]
        if t in _CODE_PAGE_TYPES and isinstance(out, str):
            out = to_code_page(out, dst.collation)
        if t in STRING_TYPES or t in BINARY_TYPES:
            out = _truncation(out, dst, assign)
        return out
    if s in INT_RANGES:
        v = int(value)  # bool -> 0/1
        if t in INT_RANGES:
            return check_int(v, t)
        if t in EXACT_TYPES:
            return check_decimal(Decimal(v), dst)
        if t in ("float", "real"):
            return float(v)
        if t in STRING_TYPES:
            return _number_text(str(v), s, dst, assign)
        if t == "datetime":
            return dt.datetime(1900, 1, 1) + dt.timedelta(days=v)
        return NotImplemented
    if s in EXACT_TYPES:
        d = Decimal(value)  # type: ignore[arg-type]
        if t in INT_RANGES:
            return check_int(int(d.to_integral_value(rounding=ROUND_DOWN)), t)
        if t in EXACT_TYPES:
            return check_decimal(d, dst)
        if t in ("float", "real"):
            return float(d)
        if t in STRING_TYPES:
            return _number_text(str(d), s, dst, assign)
        return NotImplemented
    if s in ("float", "real"):
        f = float(value)  # type: ignore[arg-type]
        if t in INT_RANGES:
            return check_int(int(f), t)
        if t in EXACT_TYPES:
            return check_decimal(Decimal(repr(f)), dst)
        if t in ("float", "real"):
            return f
        return NotImplemented
    if s == "datetime" and isinstance(value, dt.datetime):
        if t == "datetime2":
            return round_ticks(datetime_exact_ticks(value), dst.scale if dst.scale is not None else 7)
        if t == "date":
            return value.date()
        if t == "datetime":
            return value
        return NotImplemented
    if s == "date" and isinstance(value, dt.date):
        if t == "date":
            return value
        if t == "datetime2":
            return date_ticks(value)
        if t == "datetime":
            return dt.datetime.combine(value, dt.time())
        if t == "datetimeoffset":
            return dto_encode(date_ticks(value), 0)
        return NotImplemented
    if s in _TICK_SOURCES and t in _TEMPORAL_TARGETS and not (s == "time" and t == "date"):
        return temporal_from_ticks(int(value), src, dst)
    if s == "uniqueidentifier":
        if t == "uniqueidentifier":
            return value
        if t in STRING_TYPES:
            return _truncation(str(value).upper(), dst, assign)
        if t in BINARY_TYPES and t != "rowversion":
            return _truncation(value.bytes_le, dst, assign)  # type: ignore[union-attr]
        return NotImplemented
    if s in BINARY_TYPES and s != "rowversion":
        if t in BINARY_TYPES and t != "rowversion":
            return _truncation(bytes(value), dst, assign)  # type: ignore[arg-type]
        if t == "uniqueidentifier" and len(value) == 16:  # type: ignore[arg-type]
            return uuid.UUID(bytes_le=bytes(value))  # type: ignore[arg-type]
        if t in INT_RANGES:
            raw = bytes(value)[-{"bit": 1, "tinyint": 1, "smallint": 2, "int": 4, "bigint": 8}[t]:]  # type: ignore[arg-type]
            return check_int(int.from_bytes(raw, "big", signed=t not in ("tinyint", "bit")), t)
        if t in STRING_TYPES:
            enc = "utf-16-le" if t in UNICODE_TYPES else "cp1252"
            return _truncation(bytes(value).decode(enc, errors="replace"), dst, assign)  # type: ignore[arg-type]
        return NotImplemented
    if s == t and src == dst:
        return value
    return NotImplemented
