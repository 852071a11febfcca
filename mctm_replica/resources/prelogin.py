"""Ask a SQL Server what it says about encryption, with one PRELOGIN message (MS-TDS 2.2.6.5).

A login that FreeTDS refuses for an encryption mismatch surfaces in pymssql as a generic
"Adaptive Server connection failed". To name the cause and the fix, the resource asks the
server directly after such a failure: it sends a PRELOGIN saying "encryption off but
possible" (``ENCRYPT_OFF``) and reads the server's ENCRYPTION byte:

* ``ENCRYPT_REQ`` -- the server forces encryption;
* ``ENCRYPT_OFF`` / ``ENCRYPT_ON`` -- the server has a certificate and would encrypt;
* ``ENCRYPT_NOT_SUP`` -- the server cannot encrypt at all;
* no PRELOGIN answer -- a TDS 8.0 (strict) server, which expects TLS before any TDS byte.

No login is attempted and nothing else is sent; the socket is closed after the reply.
"""

from __future__ import annotations

import socket
import struct
from typing import Literal

from mctm_replica.connection_settings import SourceConnection

PRELOGIN = 0x12
_EOM = 0x01
_VERSION, _ENCRYPTION, _TERMINATOR = 0x00, 0x01, 0xFF
ENCRYPT_OFF, ENCRYPT_ON, ENCRYPT_NOT_SUP, ENCRYPT_REQ = 0, 1, 2, 3
# A PRELOGIN answer is a few dozen bytes; anything larger is not a TDS server.
_MAX_REPLY = 4096

ServerEncryption = Literal["forced", "available", "unsupported", "strict_or_not_tds", "unreachable"]


def prelogin_request(encryption: int = ENCRYPT_OFF) -> bytes:
    """A PRELOGIN packet with VERSION and ENCRYPTION options (pure)."""
    options = [(_VERSION, struct.pack(">IH", 0, 0)), (_ENCRYPTION, bytes([encryption]))]
    offset = 5 * len(options) + 1
    head, body = bytearray(), bytearray()
    for token, value in options:
        head += struct.pack(">BHH", token, offset + len(body), len(value))
        body += value
    payload = bytes(head) + bytes([_TERMINATOR]) + bytes(body)
    return struct.pack(">BBHHBB", PRELOGIN, _EOM, 8 + len(payload), 0, 1, 0) + payload


def encryption_option(reply: bytes) -> int | None:
    """The ENCRYPTION byte of a PRELOGIN reply packet, or None if it has none (pure)."""
    if len(reply) < 8 or reply[0] != 0x04:  # tabular result
        return None
    payload, pos = reply[8:], 0
    while pos < len(payload) and payload[pos] != _TERMINATOR:
        try:
            token, off, length = struct.unpack_from(">BHH", payload, pos)
        except struct.error:
            return None
        if token == _ENCRYPTION and length >= 1 and off < len(payload):
            return payload[off]
        pos += 5
    return None


def server_encryption(host: str, port: int, timeout_s: float = 10.0) -> ServerEncryption:
    """What the server at host:port says about encryption (see the module docstring)."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError:
        return "unreachable"
    reply = bytearray()
    try:
        with sock:
            sock.sendall(prelogin_request())
            while len(reply) < 8 or len(reply) < struct.unpack_from(">H", reply, 2)[0]:
                chunk = sock.recv(_MAX_REPLY)
                if not chunk or len(reply) + len(chunk) > _MAX_REPLY:
                    break
                reply += chunk
    except OSError:
        pass  # reset or timed out after connecting: not a TDS 7.x answer
    value = encryption_option(bytes(reply))
    if value is None:
        return "strict_or_not_tds"
    return {ENCRYPT_REQ: "forced", ENCRYPT_NOT_SUP: "unsupported"}.get(value, "available")


def encryption_hint(conn: SourceConnection, *, source: str, host: str, port: int,
                    timeout_s: float = 10.0) -> str | None:
    """Why a login with these settings may have failed, naming the source, the key and the
    fix -- or None when the server's answer explains nothing."""
    said = server_encryption(host, port, timeout_s)
    enc, where = conn.encryption, f"source `{source}` in tables.yaml"
    if said == "forced" and enc == "off":
        return (f"the server requires encryption but `encryption` is `off` for {where}; set "
                f"`encryption: request` (or `require`)")
    if said == "unsupported" and enc in ("require", "strict"):
        return (f"the server cannot encrypt (it has no certificate) but `encryption` is `{enc}` "
                f"for {where}; install a certificate on the server, or set `encryption: request`")
    if said == "strict_or_not_tds" and enc != "strict":
        return (f"the server did not answer a TDS 7.x PRELOGIN: if it forces strict encryption "
                f"(TDS 8.0), set `encryption: strict` and `ca_file` for {where}; otherwise check "
                f"that {host}:{port} is SQL Server")
    if conn.ca_file is not None and said in ("available", "forced", "strict_or_not_tds"):
        return (f"if the error is about the certificate, check `ca_file` ({conn.ca_file}) for "
                f"{where}: it must hold the CA that signed the server's certificate, and the "
                f"certificate's name must match `{host}`")
    return None
