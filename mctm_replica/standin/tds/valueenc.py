"""Column-wise value encoders: one bytes object per row, NULL included.

Each encoder takes one column of a batch (a sequence of contract values, see
``contract.py``) and returns the row pieces in the layout MS-TDS defines for
that type. They are specialised per type with pre-compiled structs because
encoding is the stand-in's hot loop (see benchmarks/standin_bench.py).
"""

from __future__ import annotations

import datetime as dt
import decimal
import struct
from collections.abc import Callable, Sequence

from ..contract import TICKS_PER_DAY

Encoder = Callable[[Sequence[object]], list[bytes]]

NULL_BYTELEN = b"\x00"
NULL_USHORTLEN = b"\xff\xff"
NULL_PLP = b"\xff" * 8
PLP_TERMINATOR = b"\x00\x00\x00\x00"
# Arbitrary but fixed text pointer / timestamp for legacy LOB values in rows;
# clients only check the pointer length (16) and skip both.
TEXTPTR = b"\x10" + bytes(range(1, 17)) + b"\x00" * 8

DATETIME_EPOCH = dt.datetime(1900, 1, 1)
DATE_EPOCH_ORDINAL = dt.date(1, 1, 1).toordinal()
# 1/300 s ticks in a day (datetime's time part).
DATETIME_TICKS_PER_DAY = 300 * 86_400

# Decimal arithmetic is context-rounded (28 digits by default); decimal(38,s)
# and money need every digit, so scaling uses a context wide enough for any.
# Encoders run under ``decimal.localcontext(EXACT)`` (see RowEncoder.encode).
EXACT = decimal.Context(prec=100)
_MONEY_SCALE = decimal.Decimal(10_000)

_Bi = struct.Struct("<Bi")
_BiI = struct.Struct("<BiI")
_BHH = struct.Struct("<BHH")
_BQ = struct.Struct("<BQ")
_H = struct.Struct("<H")
_h = struct.Struct("<h")
_QI = struct.Struct("<QI")
_I = struct.Struct("<I")


def time_len(scale: int) -> int:
    """Bytes of a time(n) value: 3 for n<=2, 4 for n<=4, 5 otherwise."""
    return 3 if scale <= 2 else 4 if scale <= 4 else 5


def decimal_len(precision: int) -> int:
    """Bytes of a decimal value incl. the sign byte, by precision."""
    return 5 if precision <= 9 else 9 if precision <= 19 else 13 if precision <= 28 else 17


def nullable_struct(fmt: str, size: int) -> Encoder:
    """Length byte + fixed-size value, e.g. INTN(4): ``fmt`` is '<Bi'."""
    pack = struct.Struct(fmt).pack

    def enc(col: Sequence[object]) -> list[bytes]:
        return [NULL_BYTELEN if v is None else pack(size, v) for v in col]

    return enc


def fixed_struct(fmt: str) -> Encoder:
    pack = struct.Struct(fmt).pack

    def enc(col: Sequence[object]) -> list[bytes]:
        return [b"" if v is None else pack(v) for v in col]

    return enc


def bitn(col: Sequence[object]) -> list[bytes]:
    return [NULL_BYTELEN if v is None else (b"\x01\x01" if v else b"\x01\x00") for v in col]


def bit(col: Sequence[object]) -> list[bytes]:
    return [b"" if v is None else (b"\x01" if v else b"\x00") for v in col]


def _length_byte_first(nullable: bool, body: Callable[[object], bytes]) -> Encoder:
    """``body`` packs a value behind its length byte (MONEYN, DATETIMN); the NOT NULL
    type (MONEY, DATETIME) sends the value without it."""
    null = NULL_BYTELEN if nullable else b""
    cut = 0 if nullable else 1

    def enc(col: Sequence[object]) -> list[bytes]:
        return [null if v is None else body(v)[cut:] for v in col]

    return enc


def _money8(v: object) -> bytes:
    i = int(v * _MONEY_SCALE)  # type: ignore[operator]
    return _BiI.pack(8, i >> 32, i & 0xFFFFFFFF)


def _money4(v: object) -> bytes:
    return _Bi.pack(4, int(v * _MONEY_SCALE))  # type: ignore[operator]


def _datetime(v: object) -> bytes:
    d = v - DATETIME_EPOCH  # type: ignore[operator]
    days = d.days
    # 1/300 s ticks, rounding the microseconds half up.
    ticks = d.seconds * 300 + (d.microseconds * 3 + 5000) // 10000
    if ticks >= DATETIME_TICKS_PER_DAY:
        days += 1
        ticks -= DATETIME_TICKS_PER_DAY
    return _BiI.pack(8, days, ticks)


def _smalldatetime(v: object) -> bytes:
    d = v - DATETIME_EPOCH  # type: ignore[operator]
    return _BHH.pack(4, d.days, d.seconds // 60)


def money8(nullable: bool) -> Encoder:
    return _length_byte_first(nullable, _money8)


def money4(nullable: bool) -> Encoder:
    return _length_byte_first(nullable, _money4)


def datetime(nullable: bool) -> Encoder:
    return _length_byte_first(nullable, _datetime)


def smalldatetime(nullable: bool) -> Encoder:
    return _length_byte_first(nullable, _smalldatetime)


def decimaln(precision: int, scale: int) -> Encoder:
    size = decimal_len(precision)
    nbytes = size - 1
    head_pos = bytes([size, 1])
    head_neg = bytes([size, 0])
    factor = decimal.Decimal(10**scale)

    def enc(col: Sequence[object]) -> list[bytes]:
        out = []
        for v in col:
            if v is None:
                out.append(NULL_BYTELEN)
                continue
            i = int(v * factor)  # type: ignore[operator]
            if i < 0:
                out.append(head_neg + (-i).to_bytes(nbytes, "little"))
            else:
                out.append(head_pos + i.to_bytes(nbytes, "little"))
        return out

    return enc


def date(col: Sequence[object]) -> list[bytes]:
    pack = _BQ.pack
    base = DATE_EPOCH_ORDINAL
    return [NULL_BYTELEN if v is None else pack(3, v.toordinal() - base)[:4] for v in col]  # type: ignore[union-attr]


def time(scale: int) -> Encoder:
    n = time_len(scale)
    div = 10 ** (7 - scale)
    pack = _BQ.pack
    end = n + 1

    def enc(col: Sequence[object]) -> list[bytes]:
        return [NULL_BYTELEN if v is None else pack(n, v // div)[:end] for v in col]  # type: ignore[operator]

    return enc


def datetime2(scale: int) -> Encoder:
    n = time_len(scale)
    div = 10 ** (7 - scale)
    shift = 8 * n
    pack = _BQ.pack
    end = n + 4

    def enc(col: Sequence[object]) -> list[bytes]:
        out = []
        for v in col:
            if v is None:
                out.append(NULL_BYTELEN)
            else:
                days, t = divmod(v, TICKS_PER_DAY)  # type: ignore[call-overload]
                out.append(pack(n + 3, (days << shift) | (t // div))[:end])
        return out

    return enc


def datetimeoffset(scale: int) -> Encoder:
    n = time_len(scale)
    div = 10 ** (7 - scale)
    shift = 8 * n
    pack = _BQ.pack
    opack = _h.pack
    end = n + 4

    def enc(col: Sequence[object]) -> list[bytes]:
        out = []
        for v in col:
            if v is None:
                out.append(NULL_BYTELEN)
            else:
                ticks, offset = v  # type: ignore[misc]
                days, t = divmod(ticks, TICKS_PER_DAY)
                out.append(pack(n + 5, (days << shift) | (t // div))[:end] + opack(offset))
        return out

    return enc


_GUID_HEAD = struct.Struct("<BIHH").pack
_GUID_TAIL = struct.Struct(">Q").pack
_LOW64 = (1 << 64) - 1


def guid(col: Sequence[object]) -> list[bytes]:
    # Same bytes as uuid.bytes_le (first three fields little-endian), computed
    # from the integer because the bytes_le property is several times slower.
    head, tail = _GUID_HEAD, _GUID_TAIL
    return [
        NULL_BYTELEN if v is None
        else head(16, (x := v.int) >> 96, (x >> 80) & 0xFFFF, (x >> 64) & 0xFFFF) + tail(x & _LOW64)  # type: ignore[union-attr]
        for v in col
    ]


def varchar(col: Sequence[object]) -> list[bytes]:
    pack = _H.pack
    # ASCII is the common case and encodes several times faster than cp1252;
    # cp1252 is single-byte, so the byte length is the character count.
    return [
        NULL_USHORTLEN if v is None
        else pack(len(v)) + (v.encode() if v.isascii() else v.encode("cp1252", "replace"))  # type: ignore[union-attr,arg-type]
        for v in col
    ]


def varchar_in(codec: str) -> Encoder:
    """varchar(n) of a collation whose code page is not 1252 (932, UTF-8): bytes, not characters."""
    pack = _H.pack

    def enc(col: Sequence[object]) -> list[bytes]:
        return [
            NULL_USHORTLEN if v is None
            else pack(len(b := v.encode() if v.isascii() else v.encode(codec, "replace"))) + b  # type: ignore[union-attr]
            for v in col
        ]

    return enc


def code_page(codec: str) -> Callable[[object], bytes]:
    """to_bytes for char/varchar/text of a collation's code page ('?' for what it lacks)."""
    if codec == "cp1252":
        return cp1252

    def to_bytes(v: object) -> bytes:
        return v.encode() if v.isascii() else v.encode(codec, "replace")  # type: ignore[union-attr]

    return to_bytes


def nvarchar(col: Sequence[object]) -> list[bytes]:
    pack = _H.pack
    return [
        NULL_USHORTLEN if v is None else pack(len(b := v.encode("utf-16-le"))) + b  # type: ignore[union-attr]
        for v in col
    ]


def varbinary(col: Sequence[object]) -> list[bytes]:
    pack = _H.pack
    return [NULL_USHORTLEN if v is None else pack(len(v)) + raw(v) for v in col]  # type: ignore[arg-type]


def short_bytes(to_bytes: Callable[[object], bytes], pad_to: int | None, pad: bytes) -> Encoder:
    pack = _H.pack

    def enc(col: Sequence[object]) -> list[bytes]:
        out = []
        for v in col:
            if v is None:
                out.append(NULL_USHORTLEN)
                continue
            b = to_bytes(v)
            if pad_to is not None and len(b) < pad_to:
                b = b + pad * ((pad_to - len(b)) // len(pad))
            out.append(pack(len(b)) + b)
        return out

    return enc


def space_padded(to_bytes: Callable[[object], bytes]) -> Callable[[object], bytes]:
    """char(n)/nchar(n): drop trailing spaces before padding to exactly n bytes.

    Trailing spaces of a fixed-length string are padding by definition, so
    re-padding by bytes is always right (and stays right when a value arrives
    padded by characters, which overshoots for surrogate pairs).
    """

    def enc(v: object) -> bytes:
        return to_bytes(v.rstrip(" "))  # type: ignore[union-attr]

    return enc


def plp(to_bytes: Callable[[object], bytes]) -> Encoder:
    pack = _QI.pack
    empty = b"\x00" * 8 + PLP_TERMINATOR

    def enc(col: Sequence[object]) -> list[bytes]:
        out = []
        for v in col:
            if v is None:
                out.append(NULL_PLP)
                continue
            b = to_bytes(v)
            n = len(b)
            # One chunk holds the whole value: the PLP chunk length is 32-bit.
            out.append(pack(n, n) + b + PLP_TERMINATOR if n else empty)
        return out

    return enc


def plp_utf16(col: Sequence[object]) -> list[bytes]:
    """nvarchar(max)/xml: ``plp(utf16)`` inlined, the hot case of long text columns."""
    pack = _QI.pack
    empty = b"\x00" * 8 + PLP_TERMINATOR
    term = PLP_TERMINATOR
    return [
        NULL_PLP if v is None
        else (pack(n, n) + b + term if (n := len(b := v.encode("utf-16-le"))) else empty)  # type: ignore[union-attr]
        for v in col
    ]


def legacy_lob(to_bytes: Callable[[object], bytes]) -> Encoder:
    pack = _I.pack

    def enc(col: Sequence[object]) -> list[bytes]:
        out = []
        for v in col:
            if v is None:
                out.append(NULL_BYTELEN)
            else:
                b = to_bytes(v)
                out.append(TEXTPTR + pack(len(b)) + b)
        return out

    return enc


def cp1252(v: object) -> bytes:
    # SQL Server maps characters outside the code page to '?' (it also applies
    # best-fit mappings for a few; see the documented differences).
    return v.encode() if v.isascii() else v.encode("cp1252", "replace")  # type: ignore[union-attr]


def utf16(v: object) -> bytes:
    return v.encode("utf-16-le")  # type: ignore[union-attr]


def raw(v: object) -> bytes:
    # memoryview() refuses ints, which bytes() would turn into zero-filled buffers.
    return v if type(v) is bytes else bytes(memoryview(v))  # type: ignore[arg-type,return-value]
