"""Byte-level checks: a hand-written raw TDS client, and codec unit tests.

The raw client builds PRELOGIN/LOGIN7 itself (independently of the server's
code) so exact response bytes can be asserted where the real clients hide them:
attention acknowledgement when idle, packet sizes, connection closure.
"""

from __future__ import annotations

import datetime as dt
import socket
import struct
import uuid
from decimal import Decimal as D

import pytest

from mctm_replica.standin.contract import (
    TICKS_PER_DAY, Column, DateTime2Ticks, DateTimeOffsetTicks, SqlError, TimeTicks,
)
from mctm_replica.standin.faults import parse_fault_command
from mctm_replica.standin.tds.coltypes import codec_for
from mctm_replica.standin.tds.params import parse_rpc
from mctm_replica.standin.tds.handshake import build_prelogin_reply, decode_password, parse_prelogin
from mctm_replica.standin.tds.rowenc import RowEncoder

DONE_ATTN_TOKEN = b"\xfd\x20\x00\x00\x00" + b"\x00" * 8


def _scramble(password: str) -> bytes:
    out = bytearray()
    for b in password.encode("utf-16-le"):
        out.append((((b << 4) & 0xF0) | (b >> 4)) ^ 0xA5)
    return bytes(out)


def build_login7(user: str, password: str, database: str, packet_size: int, version: int = 0x74000004) -> bytes:
    values = [
        "rawhost".encode("utf-16-le"), user.encode("utf-16-le"), _scramble(password),
        "rawapp".encode("utf-16-le"), "srv".encode("utf-16-le"), b"", "rawlib".encode("utf-16-le"),
        b"", database.encode("utf-16-le"),
    ]
    offset = 94
    pairs = b""
    data = b""
    for v in values:
        pairs += struct.pack("<HH", offset + len(data), len(v) // 2)
        data += v
    fixed_tail = b"\x00" * 6 + struct.pack("<HH", 0, 0) * 3 + struct.pack("<I", 0)
    body = pairs + fixed_tail + data
    head = struct.pack("<IIIIIIBBBBiI", 36 + len(body), version, packet_size, 7, 1, 0, 0xE0, 0x03, 0, 0, 0, 0x409)
    return head + body


class RawClient:
    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)

    def send(self, ptype: int, payload: bytes) -> None:
        self.sock.sendall(struct.pack(">BBHHBB", ptype, 1, len(payload) + 8, 0, 1, 0) + payload)

    def read_packet(self) -> tuple[int, bytes]:
        header = self._exact(8)
        _t, status, length, _s, _p, _w = struct.unpack(">BBHHBB", header)
        return status, header + self._exact(length - 8)

    def read_message(self) -> list[bytes]:
        """Whole packets (with headers) up to EOM."""
        packets = []
        while True:
            status, packet = self.read_packet()
            packets.append(packet)
            if status & 1:
                return packets

    def _exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    def login(
        self, user: str, password: str, database: str = "", packet_size: int = 4096, version: int = 0x74000004
    ) -> bytes:
        self.send(18, b"\xff")
        self.read_message()
        self.send(16, build_login7(user, password, database, packet_size, version))
        return b"".join(p[8:] for p in self.read_message())

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(fake_standin):
    client = RawClient(fake_standin.host, fake_standin.port)
    yield client
    client.close()


def test_attention_when_idle_gets_done_attn(raw, fake_standin):
    reply = raw.login(fake_standin.user, fake_standin.password, "fakedb")
    assert reply.endswith(b"\xfd\x00\x00\x00\x00" + b"\x00" * 8)
    raw.send(6, b"")
    assert b"".join(p[8:] for p in raw.read_message()) == DONE_ATTN_TOKEN
    raw.send(1, "select @@spid".encode("utf-16-le"))
    assert raw.read_message()[0][8] == 0x81  # COLMETADATA: still usable


def test_packet_size_32767_is_granted_and_used(raw, fake_standin):
    reply = raw.login(fake_standin.user, fake_standin.password, "fakedb", packet_size=32767)
    envchange = b"\xe3" + struct.pack("<H", 1 + 1 + 10 + 1 + 8) + b"\x04\x05" + "32767".encode("utf-16-le")
    assert envchange + b"\x04" + "4096".encode("utf-16-le") in reply
    raw.send(1, "RANGE 50000".encode("utf-16-le"))
    packets = raw.read_message()
    assert len(packets) > 2
    assert {len(p) for p in packets[:-1]} == {32767}


def test_wrong_password_gets_18456_and_is_closed(raw, fake_standin):
    reply = raw.login(fake_standin.user, "wrong", "fakedb")
    assert reply[0] == 0xAA
    assert struct.unpack_from("<iBB", reply, 3) == (18456, 1, 14)
    assert raw.sock.recv(1) == b""


def test_tds_71_client_is_refused_clearly(raw, fake_standin):
    reply = raw.login(fake_standin.user, fake_standin.password, "fakedb", version=0x71000001)
    assert struct.unpack_from("<i", reply, 3) == (50000,)
    assert "connect with TDS 7.3 or 7.4".encode("utf-16-le") in reply
    assert raw.sock.recv(1) == b""


def test_tds_73_client_gets_73_loginack(raw, fake_standin):
    reply = raw.login(fake_standin.user, fake_standin.password, "fakedb", version=0x730B0003)
    assert b"\xad" + struct.pack("<H", 1 + 4 + 1 + 40 + 4) + b"\x01\x73\x0b\x00\x03" in reply


def test_password_scrambling_round_trip():
    assert decode_password(_scramble("Pä$$w0rd!日本")) == "Pä$$w0rd!日本"


def test_prelogin_reply_announces_no_encryption_and_mars_off():
    options = parse_prelogin(build_prelogin_reply(77))
    assert options == {
        0: bytes([16, 0]) + struct.pack(">HH", 4135, 4),
        1: b"\x02",
        2: b"\x00",
        3: struct.pack(">I", 77),
        4: b"\x00",
    }


def _encode_one(col: Column, value: object) -> bytes:
    return codec_for(col).encode([value])[0]


def test_value_bytes_match_ms_tds():
    assert _encode_one(Column("a", "int"), -2) == b"\x04\xfe\xff\xff\xff"
    assert _encode_one(Column("a", "int", nullable=False), 1) == b"\x01\x00\x00\x00"
    # money: high 32 bits first, then low 32 bits, of value * 10000
    assert _encode_one(Column("a", "money"), D("-0.0001")) == b"\x08\xff\xff\xff\xff\xff\xff\xff\xff"
    assert _encode_one(Column("a", "money"), D("429496.7296")) == b"\x08\x01\x00\x00\x00\x00\x00\x00\x00"
    # datetime: days since 1900-01-01, then 1/300 s ticks; .003 s is 1 tick
    assert _encode_one(Column("a", "datetime"), dt.datetime(1900, 1, 2, 0, 0, 0, 3000)) == (
        b"\x08\x01\x00\x00\x00\x01\x00\x00\x00"
    )
    assert _encode_one(Column("a", "decimal", precision=10, scale=2), D("-1.50")) == (
        b"\x09\x00" + (150).to_bytes(8, "little")
    )
    guid = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")
    assert _encode_one(Column("a", "uniqueidentifier"), guid) == b"\x10" + bytes.fromhex(
        "33221100554477668899aabbccddeeff"
    )
    assert _encode_one(Column("a", "date"), dt.date(1, 1, 2)) == b"\x03\x01\x00\x00"
    assert _encode_one(Column("a", "time", scale=0), 10**7) == b"\x03\x01\x00\x00"
    assert _encode_one(Column("a", "datetimeoffset", scale=0), (86_400 * 10**7, -60)) == (
        b"\x08\x00\x00\x00\x01\x00\x00\xc4\xff"
    )
    assert _encode_one(Column("a", "varchar", length=-1), "") == b"\x00" * 12
    assert _encode_one(Column("a", "varchar", length=-1), None) == b"\xff" * 8
    assert _encode_one(Column("a", "varchar", length=5), "ā€") == b"\x02\x00?\x80"
    assert _encode_one(Column("a", "nvarchar", length=5), "😀") == b"\x04\x00" + "😀".encode("utf-16-le")
    assert _encode_one(Column("a", "binary", length=3), b"\x01") == b"\x03\x00\x01\x00\x00"
    # nchar(4) is 8 bytes: a surrogate pair (2 code units) + 2 spaces, even if padded by characters
    assert _encode_one(Column("a", "nchar", length=4), "𠮷   ") == b"\x08\x00" + "𠮷  ".encode("utf-16-le")
    assert _encode_one(Column("a", "char", length=3), "a") == b"\x03\x00a  "


def test_rowversion_metadata_is_binary8_with_timestamp_usertype():
    meta = RowEncoder([Column("rv", "rowversion", nullable=False)]).colmetadata()
    assert meta == b"\x81\x01\x00" + b"\x50\x00\x00\x00" + b"\x08\x00" + b"\xad\x08\x00" + b"\x02r\x00v\x00"


def test_wrong_python_type_is_a_clear_error():
    with pytest.raises(SqlError) as ei:
        RowEncoder([Column("n", "int")]).encode([("x",)])
    assert ei.value.number == 50000
    assert "column 'n'" in ei.value.message


def test_fault_command_parsing():
    assert parse_fault_command(
        "EXEC sp_standin_fault @kind = N'drop_after_rows', @rows = 500, @match = N'it''s', @times = 1"
    ) == ("sp_standin_fault", {"kind": "drop_after_rows", "rows": "500", "match": "it's", "times": "1"})
    assert parse_fault_command("exec dbo.sp_standin_clear_faults;") == ("sp_standin_clear_faults", {})
    assert parse_fault_command("SELECT 1") is None
    with pytest.raises(SqlError) as ei:
        parse_fault_command("EXEC sp_standin_fault @kind = drop")
    assert ei.value.number == 102


def _rpc_param(type_info_and_value: bytes) -> object:
    payload = struct.pack("<IIH", 22, 18, 2) + b"\x00" * 12  # ALL_HEADERS with a transaction header
    payload += struct.pack("<HH", 0xFFFF, 10) + b"\x00\x00"  # sp_executesql by ProcID, no flags
    payload += b"\x03" + "@p1".encode("utf-16-le") + b"\x00" + type_info_and_value
    (call,) = parse_rpc(payload)
    assert call.proc == "sp_executesql"
    return call.params[0].value


def test_time_family_parameters_arrive_as_marked_ticks():
    # DATETIME2N(7): 5 time bytes (100-ns units) + 3 date bytes; 0001-01-02 00:00:00.0000001
    v = _rpc_param(b"\x2a\x07\x08" + (1).to_bytes(5, "little") + (1).to_bytes(3, "little"))
    assert (type(v), v, v.scale) == (DateTime2Ticks, TICKS_PER_DAY + 1, 7)
    # DATETIME2N(6) exact to the microsecond (what python-tds sends): still ticks, scale 6
    v = _rpc_param(b"\x2a\x06\x08" + (1).to_bytes(5, "little") + (1).to_bytes(3, "little"))
    assert (type(v), v, v.scale) == (DateTime2Ticks, TICKS_PER_DAY + 10, 6)
    # TIMEN(3): 4 bytes of milliseconds
    v = _rpc_param(b"\x29\x03\x04" + (1500).to_bytes(4, "little"))
    assert (type(v), v, v.scale) == (TimeTicks, 15_000_000, 3)
    # DATETIMEOFFSETN(0): 3 time bytes (seconds) + 3 date bytes + offset minutes
    v = _rpc_param(b"\x2b\x00\x08" + (2).to_bytes(3, "little") + (1).to_bytes(3, "little") + struct.pack("<h", -300))
    assert (type(v), v, v.scale) == (DateTimeOffsetTicks, (TICKS_PER_DAY + 20_000_000, -300), 0)


def test_legacy_and_null_parameters_decode():
    assert _rpc_param(b"\x6f\x08\x08" + struct.pack("<iI", 1, 299)) == dt.datetime(1900, 1, 2, 0, 0, 0, 997000)
    assert _rpc_param(b"\x6e\x08\x08" + struct.pack("<iI", -1, 0xFFFFFFFF)) == D("-0.0001")
    assert _rpc_param(b"\x26\x04\x00") is None
    assert _rpc_param(b"\x1f") is None


def test_legacy_lob_metadata_has_no_table_name():
    # Known difference: SQL Server names the source table (NumParts > 0) for
    # text/ntext/image columns; the stand-in sends NumParts = 0.
    meta = RowEncoder([Column("t", "text")]).colmetadata()
    assert meta == (
        b"\x81\x01\x00" + b"\x00" * 4 + b"\x09\x00" + b"\x23" + struct.pack("<I", 2_147_483_647)
        + b"\x09\x04\xd0\x00\x34" + b"\x00" + b"\x01t\x00"
    )


@pytest.mark.parametrize(
    ("ptype", "payload", "what"),
    [
        (14, struct.pack("<IIHQI", 22, 18, 2, 0, 1) + struct.pack("<H", 0), "distributed transactions"),
        (7, b"\x81\x00\x00", "TDS packet type 0x7"),
    ],
)
def test_unsupported_requests_get_a_clear_error(raw, fake_standin, ptype, payload, what):
    raw.login(fake_standin.user, fake_standin.password, "fakedb")
    raw.send(ptype, payload)
    reply = b"".join(p[8:] for p in raw.read_message())
    assert reply[0] == 0xAA and struct.unpack_from("<i", reply, 3) == (50000,)
    assert what.encode("utf-16-le") in reply
    raw.send(1, "select @@spid".encode("utf-16-le"))
    assert raw.read_message()[0][8] == 0x81


def _batch(raw: RawClient, sql: str) -> bytes:
    raw.send(1, struct.pack("<IIHQI", 22, 18, 2, 0, 1) + sql.encode("utf-16-le"))
    return b"".join(p[8:] for p in raw.read_message())


def test_transaction_envchanges_in_batches(raw, fake_standin):
    raw.login(fake_standin.user, fake_standin.password, "fakedb")
    begin = _batch(raw, "BEGIN TRAN")
    assert begin[:4] == b"\xe3\x0b\x00\x08" and begin[4] == 8  # ENVCHANGE begin, new 8-byte descriptor
    descriptor = begin[5:13]
    assert descriptor != b"\x00" * 8
    assert _batch(raw, "COMMIT")[:14] == b"\xe3\x0b\x00\x09\x00\x08" + descriptor
    _batch(raw, "BEGIN TRAN")
    assert _batch(raw, "ROLLBACK")[:6] == b"\xe3\x0b\x00\x0a\x00\x08"
    _batch(raw, "BEGIN TRAN")
    reply = _batch(raw, "XABORT")  # ERROR, then ENVCHANGE rollback, then DONE_ERROR
    assert reply[0] == 0xAA
    error_len = struct.unpack_from("<H", reply, 1)[0]
    assert reply[3 + error_len :][:6] == b"\xe3\x0b\x00\x0a\x00\x08"
    assert reply[-13:] == b"\xfd\x02\x00" + b"\x00" * 10


class _Sink:
    def __init__(self) -> None:
        self.data = bytearray()

    def sendall(self, b: bytes) -> None:
        self.data += b


@pytest.mark.parametrize("packet_size", [512, 1000, 4096, 32767])
def test_message_writer_splits_any_mix_of_writes_into_full_packets_and_one_eom(packet_size):
    """Small token writes and megabyte row batches, in any order: every message arrives
    byte for byte, in full packets numbered from 1, the last one (only) carrying EOM."""
    import random

    from mctm_replica.standin.tds.packets import FLUSH_THRESHOLD, HEADER, HEADER_SIZE, MessageWriter

    rnd = random.Random(packet_size)
    sizes = [0, 1, 5, 100, packet_size - 9, packet_size - 8, packet_size - 7, FLUSH_THRESHOLD - 1,
             FLUSH_THRESHOLD, 1_300_000]
    whole_packets = (FLUSH_THRESHOLD // (packet_size - 8) + 1) * (packet_size - 8)
    sink = _Sink()
    w = MessageWriter(sink, 7, packet_size)
    messages = []
    # Messages of exactly whole packets: one write, and a token before a batch.
    # And a small write that crosses the flush threshold without completing a packet.
    for writes in ([rnd.randbytes(whole_packets)], [b"x", rnd.randbytes(whole_packets - 1)],
                   [rnd.randbytes(FLUSH_THRESHOLD - 10), rnd.randbytes(20)]):
        for data in writes:
            w.write(data)
        w.end_message()
        messages.append(b"".join(writes))
    for _ in range(40):
        sent = bytearray()
        for _ in range(rnd.randint(0, 12)):
            data = rnd.randbytes(rnd.choice(sizes))
            sent += data
            w.write(data)
        w.end_message()
        messages.append(bytes(sent))
    stream, pos = bytes(sink.data), 0
    for message in messages:
        got, pid = bytearray(), 1
        while True:
            _type, status, length, spid, packet_id, _window = HEADER.unpack_from(stream, pos)
            assert (spid, packet_id) == (7, pid & 0xFF)
            got += stream[pos + HEADER_SIZE:pos + length]
            pos, pid = pos + length, pid + 1
            if status & 0x01:
                assert length > HEADER_SIZE or not message  # EOM never rides an empty packet
                break
            assert length == packet_size  # only the message's last packet may be short
        assert got == message
    assert pos == len(stream)


def test_a_lone_nvarchar_max_column_encodes_as_ms_tds_plp_rows():
    """The copy's CSV lines take a one-pass path (issue 15): PLP with one chunk, an empty
    string as length 0 and the terminator, NULL as PLP_NULL, every row behind ROW."""
    lines = RowEncoder([Column("line", "nvarchar", length=-1)])
    general = RowEncoder([Column("line", "nvarchar", length=-1), Column("x", "int")])
    rows = [("1,\"ab\"",), (None,), ("",), ("顧客 😀",), ("x" * 70_000,)]
    data = lines.encode(rows)
    expected = b""
    for (v,) in rows:
        if v is None:
            expected += b"\xd1" + b"\xff" * 8
        else:
            b = v.encode("utf-16-le")
            expected += b"\xd1" + struct.pack("<Q", len(b)) + (struct.pack("<I", len(b)) + b if b else b"")
            expected += b"\x00\x00\x00\x00"
    assert data == expected
    # the general path (any other result) makes the same bytes for that column
    two = general.encode([(v, 1) for (v,) in rows])
    assert two.replace(b"\x04\x01\x00\x00\x00", b"") == data


def test_a_lone_nvarchar_max_column_still_names_a_bad_value_or_row():
    lines = RowEncoder([Column("line", "nvarchar", length=-1)])
    with pytest.raises(SqlError, match="column 'line'"):
        lines.encode([("a",), (5,)])
    with pytest.raises(SqlError, match="2 values for 1 values per row"):
        lines.encode([("a", "b")])
