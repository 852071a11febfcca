"""PRELOGIN and LOGIN7: the two messages before a TDS session is usable."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .tokens import SERVER_SUBBUILD, SERVER_VERSION

# PRELOGIN option tokens.
PL_VERSION = 0
PL_ENCRYPTION = 1
PL_INSTOPT = 2
PL_THREADID = 3
PL_MARS = 4
PL_TERMINATOR = 0xFF

# PRELOGIN encryption values.
ENCRYPT_OFF = 0
ENCRYPT_ON = 1
ENCRYPT_NOT_SUP = 2
ENCRYPT_REQ = 3


class HandshakeError(Exception):
    """A malformed PRELOGIN/LOGIN7 message."""


def parse_prelogin(payload: bytes) -> dict[int, bytes]:
    options: dict[int, bytes] = {}
    pos = 0
    try:
        while payload[pos] != PL_TERMINATOR:
            token, offset, length = struct.unpack_from(">BHH", payload, pos)
            options[token] = payload[offset : offset + length]
            pos += 5
    except (IndexError, struct.error) as e:
        raise HandshakeError("malformed PRELOGIN message") from e
    return options


def build_prelogin_reply(thread_id: int, encryption: int = ENCRYPT_NOT_SUP) -> bytes:
    """VERSION, ENCRYPTION, INSTOPT, THREADID and MARS.

    MARS must be present: without it FreeTDS falls back to a TDS 7.1 login.
    """
    major, minor, build = SERVER_VERSION
    fields = [
        (PL_VERSION, struct.pack(">BBHH", major, minor, build, SERVER_SUBBUILD)),
        (PL_ENCRYPTION, bytes([encryption])),
        (PL_INSTOPT, b"\x00"),
        (PL_THREADID, struct.pack(">I", thread_id)),
        (PL_MARS, b"\x00"),
    ]
    offset = 5 * len(fields) + 1
    head = bytearray()
    body = bytearray()
    for token, value in fields:
        head += struct.pack(">BHH", token, offset + len(body), len(value))
        body += value
    return bytes(head) + bytes([PL_TERMINATOR]) + bytes(body)


@dataclass(frozen=True)
class Login7:
    tds_version: int
    packet_size: int
    hostname: str
    user: str
    password: str
    app_name: str
    server_name: str
    library: str
    language: str
    database: str
    option_flags2: int = 0  # LOGIN7 OptionFlags2; bit LOGIN_FLAG2_ODBC = fODBC


# OptionFlags2 bit fODBC: the server then starts the session with ODBC defaults
# (ANSI_DEFAULTS ON, TEXTSIZE unlimited...). pytds sets it, FreeTDS/pymssql does not.
LOGIN_FLAG2_ODBC = 0x02
_OPTION_FLAGS2_AT = 25  # offset of OptionFlags2 in the LOGIN7 fixed part


def decode_password(data: bytes) -> str:
    """Undo LOGIN7 password scrambling: XOR 0xA5, then swap the nibbles."""
    out = bytearray()
    for b in data:
        b ^= 0xA5
        out.append(((b << 4) & 0xF0) | (b >> 4))
    return out.decode("utf-16-le")


# Offsets of the (offset, length-in-characters) pairs inside the fixed part.
_FIELDS = {
    "hostname": 36,
    "user": 40,
    "password": 44,
    "app_name": 48,
    "server_name": 52,
    "library": 60,
    "language": 64,
    "database": 68,
}


def parse_login7(payload: bytes) -> Login7:
    try:
        _length, tds_version, packet_size = struct.unpack_from("<III", payload, 0)
        values: dict[str, str] = {}
        for name, at in _FIELDS.items():
            offset, nchars = struct.unpack_from("<HH", payload, at)
            raw = payload[offset : offset + 2 * nchars]
            values[name] = decode_password(raw) if name == "password" else raw.decode("utf-16-le")
    except (struct.error, UnicodeDecodeError) as e:
        raise HandshakeError("malformed LOGIN7 message") from e
    # LOGIN7 carries the version little-endian (0x74000004 for 7.4).
    return Login7(
        tds_version=tds_version, packet_size=packet_size,
        option_flags2=payload[_OPTION_FLAGS2_AT] if len(payload) > _OPTION_FLAGS2_AT else 0, **values
    )
