"""Writers for the TDS tokens that are not result rows.

Each function returns the token's bytes exactly as SQL Server lays them out,
so the session code only decides *which* tokens to send and in what order.
"""

from __future__ import annotations

import struct

# Token ids (MS-TDS 2.2.7).
ENVCHANGE = 0xE3
INFO = 0xAB
ERROR = 0xAA
LOGINACK = 0xAD
DONE = 0xFD
DONEPROC = 0xFE
DONEINPROC = 0xFF
RETURNSTATUS = 0x79
COLMETADATA = 0x81
ROW = 0xD1
NBCROW = 0xD2

# DONE status bits.
DONE_FINAL = 0x00
DONE_MORE = 0x01
DONE_ERROR = 0x02
DONE_INXACT = 0x04
DONE_COUNT = 0x10
DONE_ATTN = 0x20

# DONE CurCmd values SQL Server uses (only informative for clients).
CMD_SELECT = 0xC1
CMD_INSERT = 0xC3
CMD_OTHER = 0x00

# ENVCHANGE types.
ENV_DATABASE = 1
ENV_LANGUAGE = 2
ENV_PACKET_SIZE = 4
ENV_COLLATION = 7
ENV_BEGIN_TRAN = 8
ENV_COMMIT_TRAN = 9
ENV_ROLLBACK_TRAN = 10

# SQL_Latin1_General_CP1_CI_AS: LCID 0x0409, flags 0xD0 (case/accent/kana/width
# insensitive bits as SQL Server sets them), version 0, sort id 52 (cp1252).
DEFAULT_COLLATION = bytes([0x09, 0x04, 0xD0, 0x00, 0x34])

# SQL Server 2022 CU15 (16.0.4135.4), reported in PRELOGIN and LOGINACK and
# matching the engine's @@VERSION / SERVERPROPERTY('ProductVersion').
SERVER_VERSION = (16, 0, 4135)
SERVER_SUBBUILD = 4
PROGRAM_NAME = "Microsoft SQL Server"
TDS74 = 0x74000004

_DONE = struct.Struct("<BHHQ")


def b_varchar(s: str) -> bytes:
    data = s.encode("utf-16-le")
    return bytes([len(data) // 2]) + data


def us_varchar(s: str) -> bytes:
    data = s.encode("utf-16-le")
    return struct.pack("<H", len(data) // 2) + data


def done(status: int, count: int = 0, *, cmd: int = CMD_OTHER, token: int = DONE) -> bytes:
    return _DONE.pack(token, status, cmd, count)


def _envchange(body: bytes) -> bytes:
    return struct.pack("<BH", ENVCHANGE, len(body)) + body


def envchange_str(env_type: int, new: str, old: str) -> bytes:
    return _envchange(bytes([env_type]) + b_varchar(new) + b_varchar(old))


def envchange_bytes(env_type: int, new: bytes, old: bytes) -> bytes:
    return _envchange(bytes([env_type, len(new)]) + new + bytes([len(old)]) + old)


def message(
    token: int,
    number: int,
    text: str,
    *,
    state: int = 1,
    severity: int = 16,
    server: str = "",
    proc: str = "",
    line: int = 1,
) -> bytes:
    """An ERROR (0xAA) or INFO (0xAB) token."""
    body = (
        struct.pack("<iBB", number, state, severity)
        + us_varchar(text)
        + b_varchar(server)
        + b_varchar(proc)
        + struct.pack("<i", line)
    )
    return struct.pack("<BH", token, len(body)) + body


def loginack(tds_version: int = TDS74) -> bytes:
    major, minor, build = SERVER_VERSION
    body = (
        bytes([1])  # interface: SQL_TSQL
        + struct.pack(">I", tds_version)
        + b_varchar(PROGRAM_NAME)
        + bytes([major, minor, build >> 8, build & 0xFF])
    )
    return struct.pack("<BH", LOGINACK, len(body)) + body


def returnstatus(value: int) -> bytes:
    return struct.pack("<Bi", RETURNSTATUS, value)
