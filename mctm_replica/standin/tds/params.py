"""RPC requests: parse the procedure name and decode parameters to contract values.

Parameter values are decoded from their TDS wire types into the contract's
representations (see ``contract.py``): the engine never sees TDS bytes.
"""

from __future__ import annotations

import datetime as dt
import struct
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from ..contract import TICKS_PER_DAY, DateTime2Ticks, DateTimeOffsetTicks, SqlError, TimeTicks
from ..engine.collations import codec_for_tds
from . import coltypes as ct
from .valueenc import DATE_EPOCH_ORDINAL, DATETIME_EPOCH, EXACT, time_len

# Well-known procedure ids a client may send instead of a name (MS-TDS 2.2.6.6).
PROC_IDS = {
    1: "sp_cursor", 2: "sp_cursoropen", 3: "sp_cursorprepare", 4: "sp_cursorexecute",
    5: "sp_cursorprepexec", 6: "sp_cursorunprepare", 7: "sp_cursorfetch", 8: "sp_cursoroption",
    9: "sp_cursorclose", 10: "sp_executesql", 11: "sp_prepare", 12: "sp_execute",
    13: "sp_prepexec", 14: "sp_prepexecrpc", 15: "sp_unprepare",
}
# Separators between several RPC calls in one message (TDS 7.2+).
BATCH_FLAG = 0x80
NO_EXEC_FLAG = 0xFF


@dataclass
class RpcParam:
    name: str  # without '@' ('' when positional)
    value: object
    output: bool = False


@dataclass
class RpcCall:
    proc: str  # lower-case procedure name
    params: list[RpcParam] = field(default_factory=list)
    proc_id: int | None = None


class _Reader:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise SqlError(50000, "The SQL Server stand-in received a truncated RPC request.")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def unpack(self, st: struct.Struct) -> tuple:
        return st.unpack(self.take(st.size))

    def byte(self) -> int:
        return self.take(1)[0]

    def ushort(self) -> int:
        return struct.unpack("<H", self.take(2))[0]

    def ulong(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def at_end(self) -> bool:
        return self.pos >= len(self.data)


def skip_all_headers(data: bytes) -> int:
    """Offset after the ALL_HEADERS block that TDS 7.2+ requests start with."""
    if len(data) >= 4:
        total = struct.unpack_from("<I", data, 0)[0]
        # A plausible block length (a UTF-16 SQL text would never look like one).
        if 4 <= total <= len(data) and total <= 4096:
            return total
    return 0


def parse_rpc(data: bytes) -> list[RpcCall]:
    r = _Reader(data, skip_all_headers(data))
    calls = []
    while not r.at_end():
        name_len = r.ushort()
        if name_len == 0xFFFF:
            proc_id = r.ushort()
            call = RpcCall(PROC_IDS.get(proc_id, f"proc id {proc_id}"), proc_id=proc_id)
        else:
            call = RpcCall(r.take(2 * name_len).decode("utf-16-le").lower())
        r.ushort()  # option flags (WITH RECOMPILE, no metadata): irrelevant here
        while not r.at_end() and r.data[r.pos] not in (BATCH_FLAG, NO_EXEC_FLAG):
            name = r.take(2 * r.byte()).decode("utf-16-le")
            status = r.byte()
            value = _read_value(r)
            call.params.append(RpcParam(name.lstrip("@"), value, bool(status & 0x01)))
        calls.append(call)
        if not r.at_end():
            r.byte()  # separator
    return calls


def _unsupported(what: str) -> SqlError:
    return SqlError(50000, f"The SQL Server stand-in does not support RPC parameters of type {what}.")


def _read_plp(r: _Reader) -> bytes | None:
    total = struct.unpack("<Q", r.take(8))[0]
    if total == 0xFFFFFFFFFFFFFFFF:
        return None
    chunks = []
    while True:
        n = r.ulong()
        if n == 0:
            return b"".join(chunks)
        chunks.append(r.take(n))


def _decode_decimal(raw: bytes, scale: int) -> Decimal:
    sign = raw[0]
    mag = int.from_bytes(raw[1:], "little")
    return Decimal(mag if sign else -mag).scaleb(-scale, EXACT)


def _fixed_value(tid: int, raw: bytes) -> object:
    if tid in (ct.INT1,):
        return raw[0]
    if tid == ct.BIT or tid == ct.BITN:
        return raw[0] != 0
    if tid == ct.INT2:
        return struct.unpack("<h", raw)[0]
    if tid == ct.INT4:
        return struct.unpack("<i", raw)[0]
    if tid == ct.INT8:
        return struct.unpack("<q", raw)[0]
    if tid == ct.FLT4:
        return struct.unpack("<f", raw)[0]
    if tid == ct.FLT8:
        return struct.unpack("<d", raw)[0]
    if tid == ct.MONEY4:
        return Decimal(struct.unpack("<i", raw)[0]).scaleb(-4, EXACT)
    if tid == ct.MONEY:
        hi, lo = struct.unpack("<iI", raw)
        return Decimal((hi << 32) | lo).scaleb(-4, EXACT)
    if tid == ct.DATETIME:
        days, ticks = struct.unpack("<iI", raw)
        ms = (ticks * 10 + 1) // 3  # 1/300 s -> ms, rounded as SQL Server shows them
        return DATETIME_EPOCH + dt.timedelta(days=days, milliseconds=ms)
    if tid == ct.DATETIM4:
        days, minutes = struct.unpack("<HH", raw)
        return DATETIME_EPOCH + dt.timedelta(days=days, minutes=minutes)
    raise _unsupported(hex(tid))


_FIXED_SIZES = {
    ct.INT1: 1, ct.BIT: 1, ct.INT2: 2, ct.INT4: 4, ct.INT8: 8, ct.FLT4: 4, ct.FLT8: 8,
    ct.MONEY4: 4, ct.MONEY: 8, ct.DATETIME: 8, ct.DATETIM4: 4,
}
_N_TO_FIXED = {
    ct.INTN: {1: ct.INT1, 2: ct.INT2, 4: ct.INT4, 8: ct.INT8},
    ct.BITN: {1: ct.BIT},
    ct.FLTN: {4: ct.FLT4, 8: ct.FLT8},
    ct.MONEYN: {4: ct.MONEY4, 8: ct.MONEY},
    ct.DATETIMN: {4: ct.DATETIM4, 8: ct.DATETIME},
}


def _read_value(r: _Reader) -> object:
    tid = r.byte()
    if tid == 0x1F:  # NULLTYPE
        return None
    if tid in _FIXED_SIZES:
        return _fixed_value(tid, r.take(_FIXED_SIZES[tid]))
    if tid in _N_TO_FIXED:
        r.byte()  # declared max length
        n = r.byte()
        if n == 0:
            return None
        fixed = _N_TO_FIXED[tid].get(n)
        if fixed is None:
            raise _unsupported(f"{hex(tid)} with length {n}")
        return _fixed_value(fixed, r.take(n))
    if tid in (ct.DECIMALN, ct.NUMERICN):
        r.byte()
        r.byte()  # precision
        scale = r.byte()
        n = r.byte()
        return None if n == 0 else _decode_decimal(r.take(n), scale)
    if tid == ct.GUID:
        r.byte()
        n = r.byte()
        return None if n == 0 else uuid.UUID(bytes_le=r.take(n))
    if tid == ct.DATEN:
        n = r.byte()
        return None if n == 0 else dt.date.fromordinal(int.from_bytes(r.take(3), "little") + DATE_EPOCH_ORDINAL)
    if tid in (ct.TIMEN, ct.DATETIME2N, ct.DATETIMEOFFSETN):
        return _read_time_family(r, tid)
    if tid in (ct.BIGVARCHAR, ct.BIGCHAR, ct.NVARCHAR, ct.NCHAR, ct.BIGVARBINARY, ct.BIGBINARY):
        max_len = r.ushort()
        codec = "cp1252"
        if tid not in (ct.BIGVARBINARY, ct.BIGBINARY):
            codec = codec_for_tds(r.take(5))  # the code page of a varchar parameter's bytes
        raw = _read_plp(r) if max_len == 0xFFFF else _read_short(r)
        return _bytes_to_value(tid, raw, codec)
    if tid in (ct.TEXT, ct.NTEXT, ct.IMAGE):
        r.ulong()
        codec = "cp1252"
        if tid != ct.IMAGE:
            codec = codec_for_tds(r.take(5))
        n = struct.unpack("<i", r.take(4))[0]
        raw = None if n < 0 else r.take(n)
        return _bytes_to_value({ct.TEXT: ct.BIGVARCHAR, ct.NTEXT: ct.NVARCHAR, ct.IMAGE: ct.BIGVARBINARY}[tid], raw, codec)
    if tid == ct.XML:
        if r.byte():  # schema present: database, owning schema, collection name
            r.take(2 * r.byte())
            r.take(2 * r.byte())
            r.take(2 * r.ushort())
        raw = _read_plp(r)
        return None if raw is None else raw.decode("utf-16-le")
    raise _unsupported(hex(tid))


def _read_short(r: _Reader) -> bytes | None:
    n = r.ushort()
    return None if n == 0xFFFF else r.take(n)


def _bytes_to_value(tid: int, raw: bytes | None, codec: str = "cp1252") -> object:
    if raw is None:
        return None
    if tid in (ct.NVARCHAR, ct.NCHAR):
        return raw.decode("utf-16-le")
    if tid in (ct.BIGVARCHAR, ct.BIGCHAR):
        return raw.decode(codec, "replace")
    return raw


def _read_time_family(r: _Reader, tid: int) -> object:
    scale = r.byte()
    n = r.byte()
    if n == 0:
        return None
    tlen = time_len(scale)
    raw = r.take(n)
    ticks = int.from_bytes(raw[:tlen], "little") * 10 ** (7 - scale)
    if tid == ct.TIMEN:
        return TimeTicks(ticks, scale)
    days = int.from_bytes(raw[tlen : tlen + 3], "little")
    total = days * TICKS_PER_DAY + ticks
    if tid == ct.DATETIME2N:
        return DateTime2Ticks(total, scale)
    offset = struct.unpack("<h", raw[tlen + 3 : tlen + 5])[0]
    return DateTimeOffsetTicks(total, offset, scale)
