"""Per declared SQL Server type: the TYPE_INFO bytes and which value encoder to use.

SQL Server sends nullable columns with the "N" types (INTN, BITN, FLTN, MONEYN,
DATETIMN) and NOT NULL columns with the fixed-length types (INT4, BIT, FLT8...);
date/time, decimal, GUID and string types always use their variable forms.
The encoders themselves live in ``valueenc``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..contract import Column
from . import packedenc as pe
from . import valueenc as ve
from .tokens import DEFAULT_COLLATION


def _collation(col: Column) -> tuple[bytes, str]:
    """The column's 5 TDS collation bytes and the codec of its char/varchar/text bytes."""
    if col.collation is None:
        return DEFAULT_COLLATION, "cp1252"
    from ..engine.collations import lookup

    coll = lookup(col.collation)
    return coll.tds_bytes(), coll.codec

# TDS type ids (MS-TDS 2.2.5.4).
INT1, BIT, INT2, INT4, INT8 = 0x30, 0x32, 0x34, 0x38, 0x7F
DATETIM4, FLT4, MONEY, DATETIME, FLT8, MONEY4 = 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x7A
GUID, INTN, BITN, DECIMALN, NUMERICN = 0x24, 0x26, 0x68, 0x6A, 0x6C
FLTN, MONEYN, DATETIMN = 0x6D, 0x6E, 0x6F
DATEN, TIMEN, DATETIME2N, DATETIMEOFFSETN = 0x28, 0x29, 0x2A, 0x2B
BIGVARBINARY, BIGVARCHAR, BIGBINARY, BIGCHAR = 0xA5, 0xA7, 0xAD, 0xAF
NVARCHAR, NCHAR, XML = 0xE7, 0xEF, 0xF1
IMAGE, TEXT, NTEXT = 0x22, 0x23, 0x63

# UserType SQL Server puts in COLMETADATA for rowversion/timestamp columns.
USERTYPE_TIMESTAMP = 0x50
MAX_LEN = 0xFFFF  # USHORTLEN marking a (max) type sent as PLP
# Legacy LOB maximum sizes SQL Server declares in COLMETADATA.
TEXT_MAX = 2_147_483_647
NTEXT_MAX = 2_147_483_646


@dataclass(frozen=True)
class ColumnCodec:
    usertype: int
    type_info: bytes  # TYPE_INFO incl. collation, and table name for text/ntext/image
    encode: ve.Encoder
    fixed: bool  # True for fixed-length types that cannot carry NULL inline


_NULLABLE_INT = {"tinyint": ("<BB", 1), "smallint": ("<Bh", 2), "int": ("<Bi", 4), "bigint": ("<Bq", 8)}
_FIXED_INT = {"tinyint": (INT1, "<B"), "smallint": (INT2, "<h"), "int": (INT4, "<i"), "bigint": (INT8, "<q")}
_TABLE_NAME_NONE = b"\x00"  # NumParts = 0: the stand-in does not track source tables


def codec_for(col: Column, packed: bool = False) -> ColumnCodec:
    """Build the TYPE_INFO and encoder SQL Server would use for ``col``.

    ``packed``: the column's values come in the contract's packed form.
    """
    t = col.type
    nullable = col.nullable
    if packed:
        return _packed_codec(col)
    if t in _NULLABLE_INT:
        if nullable:
            st, size = _NULLABLE_INT[t]
            return ColumnCodec(0, bytes([INTN, size]), ve.nullable_struct(st, size), False)
        tid, fmt = _FIXED_INT[t]
        return ColumnCodec(0, bytes([tid]), ve.fixed_struct(fmt), True)
    if t == "bit":
        return ColumnCodec(0, bytes([BITN, 1]), ve.bitn, False) if nullable else ColumnCodec(0, bytes([BIT]), ve.bit, True)
    if t in ("float", "real"):
        size, st, tid, fmt = (8, "<Bd", FLT8, "<d") if t == "float" else (4, "<Bf", FLT4, "<f")
        if nullable:
            return ColumnCodec(0, bytes([FLTN, size]), ve.nullable_struct(st, size), False)
        return ColumnCodec(0, bytes([tid]), ve.fixed_struct(fmt), True)
    if t == "money":
        return ColumnCodec(0, bytes([MONEYN, 8]) if nullable else bytes([MONEY]), ve.money8(nullable), not nullable)
    if t == "smallmoney":
        return ColumnCodec(0, bytes([MONEYN, 4]) if nullable else bytes([MONEY4]), ve.money4(nullable), not nullable)
    if t == "datetime":
        info = bytes([DATETIMN, 8]) if nullable else bytes([DATETIME])
        return ColumnCodec(0, info, ve.datetime(nullable), not nullable)
    if t == "smalldatetime":
        info = bytes([DATETIMN, 4]) if nullable else bytes([DATETIM4])
        return ColumnCodec(0, info, ve.smalldatetime(nullable), not nullable)
    if t in ("decimal", "numeric"):
        p = col.precision or 18
        s = col.scale or 0
        tid = DECIMALN if t == "decimal" else NUMERICN
        return ColumnCodec(0, bytes([tid, ve.decimal_len(p), p, s]), ve.decimaln(p, s), False)
    if t == "date":
        return ColumnCodec(0, bytes([DATEN]), ve.date, False)
    if t in ("time", "datetime2", "datetimeoffset"):
        s = 7 if col.scale is None else col.scale
        if t == "time":
            return ColumnCodec(0, bytes([TIMEN, s]), ve.time(s), False)
        if t == "datetime2":
            return ColumnCodec(0, bytes([DATETIME2N, s]), ve.datetime2(s), False)
        return ColumnCodec(0, bytes([DATETIMEOFFSETN, s]), ve.datetimeoffset(s), False)
    if t == "uniqueidentifier":
        return ColumnCodec(0, bytes([GUID, 16]), ve.guid, False)
    if t in ("char", "varchar", "nchar", "nvarchar", "binary", "varbinary"):
        return _sized_codec(col)
    if t == "rowversion":
        info = bytes([BIGBINARY]) + struct.pack("<H", 8)
        return ColumnCodec(USERTYPE_TIMESTAMP, info, ve.short_bytes(ve.raw, None, b"\x00"), False)
    if t == "xml":
        return ColumnCodec(0, bytes([XML, 0]), ve.plp_utf16, False)
    if t == "text":
        coll, codec = _collation(col)
        info = bytes([TEXT]) + struct.pack("<I", TEXT_MAX) + coll + _TABLE_NAME_NONE
        return ColumnCodec(0, info, ve.legacy_lob(ve.code_page(codec)), False)
    if t == "ntext":
        info = bytes([NTEXT]) + struct.pack("<I", NTEXT_MAX) + _collation(col)[0] + _TABLE_NAME_NONE
        return ColumnCodec(0, info, ve.legacy_lob(ve.utf16), False)
    if t == "image":
        info = bytes([IMAGE]) + struct.pack("<I", TEXT_MAX) + _TABLE_NAME_NONE
        return ColumnCodec(0, info, ve.legacy_lob(ve.raw), False)
    raise ValueError(f"unsupported declared type {t!r} for column {col.name!r}")


def _packed_codec(col: Column) -> ColumnCodec:
    t = col.type
    nullable = col.nullable
    if t == "money":
        return ColumnCodec(0, bytes([MONEYN, 8]) if nullable else bytes([MONEY]), pe.money8_packed(nullable), not nullable)
    if t == "smallmoney":
        return ColumnCodec(0, bytes([MONEYN, 4]) if nullable else bytes([MONEY4]), pe.money4_packed(nullable), not nullable)
    if t in ("decimal", "numeric"):
        p = col.precision or 18
        s = col.scale or 0
        tid = DECIMALN if t == "decimal" else NUMERICN
        return ColumnCodec(0, bytes([tid, ve.decimal_len(p), p, s]), pe.decimaln_packed(p), False)
    if t == "datetimeoffset":
        s = 7 if col.scale is None else col.scale
        return ColumnCodec(0, bytes([DATETIMEOFFSETN, s]), pe.datetimeoffset_packed(s), False)
    if t == "uniqueidentifier":
        return ColumnCodec(0, bytes([GUID, 16]), pe.guid_packed, False)
    if t in ("time", "datetime2"):
        s = 7 if col.scale is None else col.scale
        if t == "time":
            return ColumnCodec(0, bytes([TIMEN, s]), pe.time_packed(s), False)
        return ColumnCodec(0, bytes([DATETIME2N, s]), pe.datetime2_packed(s), False)
    raise ValueError(f"no packed form for declared type {t!r} of column {col.name!r}")


def _sized_codec(col: Column) -> ColumnCodec:
    t = col.type
    unicode = t in ("nchar", "nvarchar")
    binary = t in ("binary", "varbinary")
    fixed_len = t in ("char", "nchar", "binary")
    tid = {
        "char": BIGCHAR, "varchar": BIGVARCHAR, "nchar": NCHAR,
        "nvarchar": NVARCHAR, "binary": BIGBINARY, "varbinary": BIGVARBINARY,
    }[t]
    collation, codec = (b"", "") if binary else _collation(col)
    to_bytes = ve.utf16 if unicode else ve.raw if binary else ve.code_page(codec)
    length = col.length
    if length == -1:
        encoder = ve.plp_utf16 if unicode else ve.plp(to_bytes)
        return ColumnCodec(0, bytes([tid]) + struct.pack("<H", MAX_LEN) + collation, encoder, False)
    if length is None:
        # No declared length: declare the widest non-max size and do not pad.
        max_bytes = 8000
        pad_to = None
    else:
        max_bytes = length * 2 if unicode else length
        pad_to = max_bytes if fixed_len else None
    pad = b"\x00" if binary else (" ".encode("utf-16-le") if unicode else b" ")
    info = bytes([tid]) + struct.pack("<H", max_bytes) + collation
    if pad_to is None:
        encoder = (ve.nvarchar if unicode else ve.varbinary if binary
                   else ve.varchar if codec == "cp1252" else ve.varchar_in(codec))
    else:
        encoder = ve.short_bytes(to_bytes if binary else ve.space_padded(to_bytes), pad_to, pad)
    return ColumnCodec(0, info, encoder, False)
