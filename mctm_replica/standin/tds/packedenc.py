"""Column encoders for the contract's packed forms (see contract.py's "packed" table).

The engine hands exact numerics, uniqueidentifier and the tick types over as
integers/bytes that DuckDB computed, so these encoders only pack them behind
their length byte: a small fraction of the per-value work of ``valueenc``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

from .valueenc import NULL_BYTELEN, Encoder, decimal_len, time_len

_Bi = struct.Struct("<Bi")
_BiI = struct.Struct("<BiI")
_BQ = struct.Struct("<BQ")
_BQh = struct.Struct("<BQh")
_h = struct.Struct("<h")



def money8_packed(nullable: bool) -> Encoder:
    pack = _BiI.pack
    null = NULL_BYTELEN if nullable else b""
    start = 0 if nullable else 1

    def enc(col: Sequence[object]) -> list[bytes]:
        return [null if v is None else pack(8, v >> 32, v & 0xFFFFFFFF)[start:] for v in col]  # type: ignore[operator]

    return enc


def money4_packed(nullable: bool) -> Encoder:
    pack = _Bi.pack
    null = NULL_BYTELEN if nullable else b""
    start = 0 if nullable else 1

    def enc(col: Sequence[object]) -> list[bytes]:
        return [null if v is None else pack(4, v)[start:] for v in col]  # type: ignore[arg-type]

    return enc


def decimaln_packed(precision: int) -> Encoder:
    size = decimal_len(precision)
    nbytes = size - 1
    head_pos = bytes([size, 1])
    head_neg = bytes([size, 0])

    def enc(col: Sequence[object]) -> list[bytes]:
        return [
            NULL_BYTELEN if v is None
            else head_pos + v.to_bytes(nbytes, "little") if v >= 0  # type: ignore[union-attr,operator]
            else head_neg + (-v).to_bytes(nbytes, "little")  # type: ignore[operator]
            for v in col
        ]

    return enc


def datetimeoffset_packed(scale: int) -> Callable[[Sequence[object], Sequence[object]], list[bytes]]:
    """datetimeoffset(n): UTC date and time packed as for datetime2(n), and the offsets."""
    n = time_len(scale) + 3
    if n == 8:  # time(5..7) + date fill exactly eight bytes: one pack, no slice
        pack3 = _BQh.pack
        return lambda col, offs: [
            NULL_BYTELEN if v is None else pack3(10, v, o) for v, o in zip(col, offs)  # type: ignore[arg-type]
        ]
    pack = _BQ.pack
    opack = _h.pack
    end = n + 1
    return lambda col, offs: [
        NULL_BYTELEN if v is None else pack(n + 2, v)[:end] + opack(o)  # type: ignore[arg-type]
        for v, o in zip(col, offs)
    ]


def time_packed(scale: int) -> Encoder:
    """time(n) as the integer of its wire bytes (the count of 10**-n s units)."""
    n = time_len(scale)
    pack = _BQ.pack
    end = n + 1
    return lambda col: [NULL_BYTELEN if v is None else pack(n, v)[:end] for v in col]  # type: ignore[arg-type]


def datetime2_packed(scale: int) -> Encoder:
    """datetime2(n) as the integer of its wire bytes: days << 8*time_len | time units."""
    n = time_len(scale) + 3
    pack = _BQ.pack
    end = n + 1
    if end == 9:  # datetime2(5..7): all eight bytes, no slice needed
        return lambda col: [NULL_BYTELEN if v is None else pack(n, v) for v in col]  # type: ignore[arg-type]
    return lambda col: [NULL_BYTELEN if v is None else pack(n, v)[:end] for v in col]  # type: ignore[arg-type]


def guid_packed(col: Sequence[object]) -> list[bytes]:
    return [NULL_BYTELEN if v is None else b"\x10" + v for v in col]  # type: ignore[operator]
