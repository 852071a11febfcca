"""TLS for TDS: the encryption modes, PRELOGIN negotiation and an encrypted socket.

TDS 7.x: after the PRELOGIN exchange, the TLS handshake records travel inside
PRELOGIN (0x12) packets; once it completes, TLS records go straight on the TCP
stream and carry ordinary TDS packets. TDS 8.0 ("strict"): TLS first, with ALPN
``tds/8.0``, then the whole TDS conversation inside it.

The standard library's ``ssl`` does the cryptography (``SSLObject`` over memory
BIOs, so the same object serves both framings); nothing here is hand-written
crypto.
"""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .handshake import ENCRYPT_NOT_SUP, ENCRYPT_OFF, ENCRYPT_ON, ENCRYPT_REQ, HandshakeError
from .packets import ConnectionClosed, PacketType, read_message, write_packets

ENCRYPTION_MODES = ("off", "on", "force", "strict")
ALPN_TDS8 = "tds/8.0"
# First byte of a TLS record carrying a handshake message (a ClientHello): how a
# TDS 8.0 client's first bytes differ from a TDS 7.x PRELOGIN packet (0x12).
TLS_HANDSHAKE_RECORD = 0x16
# Bytes asked of the socket per read: one TLS record is at most 16 KiB + overhead.
RECV_SIZE = 64 * 1024


def negotiate(mode: str, client: int) -> int:
    """The ENCRYPTION value SQL Server puts in its PRELOGIN reply (MS-TDS 2.2.6.5).

    ``on`` is a server with a certificate and Force Encryption off: it answers
    OFF to a client saying OFF (then only LOGIN7 is encrypted), ON to ON/REQ.
    ``force`` (Force Encryption) answers ON to ON/REQ and REQ otherwise (a
    NOT_SUP client must then give up). ``off`` is a server without TLS.
    """
    if mode == "off":
        return ENCRYPT_NOT_SUP
    if client in (ENCRYPT_ON, ENCRYPT_REQ):
        return ENCRYPT_ON
    if mode == "force":
        return ENCRYPT_REQ
    return ENCRYPT_OFF if client == ENCRYPT_OFF else ENCRYPT_NOT_SUP


@dataclass
class ServerTls:
    """The server side of TLS: mode, certificate files and the two SSL contexts."""

    mode: str
    cert_path: Path | None = None
    key_path: Path | None = None
    _tds7: ssl.SSLContext | None = field(default=None, repr=False)
    _tds8: ssl.SSLContext | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in ENCRYPTION_MODES:
            raise ValueError(f"encryption must be one of {', '.join(ENCRYPTION_MODES)}, not {self.mode!r}")
        if self.mode == "off":
            return
        if self.cert_path is None or self.key_path is None:
            raise ValueError(f"encryption {self.mode!r} needs a certificate and key")
        self._tds7 = _context(self.cert_path, self.key_path, strict=False)
        self._tds8 = _context(self.cert_path, self.key_path, strict=True)

    @property
    def tds7(self) -> ssl.SSLContext:
        assert self._tds7 is not None
        return self._tds7

    @property
    def tds8(self) -> ssl.SSLContext:
        assert self._tds8 is not None
        return self._tds8


def _context(cert: Path, key: Path, *, strict: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as e:
        raise ValueError(f"cannot load TLS certificate {cert} with key {key}: {e}") from e
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if strict:
        ctx.set_alpn_protocols([ALPN_TDS8])
    else:
        # SQL Server 2022 offers TLS 1.3 only to TDS 8.0 (strict) connections.
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    # No TLS 1.3 session tickets: nothing may follow the server's last handshake
    # flight (a TDS 7.x client reads that flight inside a PRELOGIN packet).
    ctx.num_tickets = 0
    return ctx


class TlsChannel:
    """A socket-like object (recv/sendall/shutdown/close) carrying TLS over a TCP socket.

    One thread reads while another writes (the session's reader thread and its
    request thread), so calls into the SSLObject are serialised by a lock that
    is never held while waiting on the network.
    """

    def __init__(self, sock: socket.socket, obj: ssl.SSLObject, incoming: ssl.MemoryBIO,
                 outgoing: ssl.MemoryBIO) -> None:
        self.raw = sock
        self._obj = obj
        self._in = incoming
        self._out = outgoing
        self._lock = threading.Lock()  # guards the SSLObject and both BIOs
        self._send_lock = threading.Lock()  # keeps TLS records in the order they were made

    @property
    def version(self) -> str | None:
        return self._obj.version()

    @property
    def alpn(self) -> str | None:
        return self._obj.selected_alpn_protocol()

    def recv(self, n: int) -> bytes:
        while True:
            with self._lock:
                try:
                    data = self._obj.read(n)
                except ssl.SSLWantReadError:
                    data = None
                except ssl.SSLZeroReturnError:
                    return b""
                pending = self._out.pending
            if pending:  # e.g. a TLS 1.3 key update answered while reading
                self._flush()
            if data is not None:
                return data
            raw = self.raw.recv(RECV_SIZE)
            if not raw:
                return b""
            with self._lock:
                self._in.write(raw)

    def sendall(self, data: bytes) -> None:
        with self._send_lock:
            with self._lock:
                self._obj.write(data)
                out = self._out.read()
            self.raw.sendall(out)

    def _flush(self) -> None:
        with self._send_lock:
            with self._lock:
                out = self._out.read()
            if out:
                self.raw.sendall(out)

    def shutdown(self, how: int) -> None:
        self.raw.shutdown(how)

    def close(self) -> None:
        self.raw.close()


def _new(ctx: ssl.SSLContext) -> tuple[ssl.SSLObject, ssl.MemoryBIO, ssl.MemoryBIO]:
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    return ctx.wrap_bio(incoming, outgoing, server_side=True), incoming, outgoing


def accept_in_prelogin(sock: socket.socket, ctx: ssl.SSLContext, first: bytes, spid: int) -> TlsChannel:
    """TDS 7.x: run the handshake whose records travel in PRELOGIN packets.

    ``first`` is the payload of the client's first such packet (its ClientHello).
    """
    obj, incoming, outgoing = _new(ctx)
    incoming.write(first)
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError as e:
            raise HandshakeError(f"TLS handshake failed: {e}") from e
        out = outgoing.read()
        if out:
            write_packets(sock, PacketType.PRELOGIN, out, spid)
        ptype, payload = read_message(sock)
        if ptype != PacketType.PRELOGIN:
            raise HandshakeError(f"expected a PRELOGIN packet carrying TLS, got packet type {ptype:#x}")
        incoming.write(payload)
    out = outgoing.read()
    if out:
        write_packets(sock, PacketType.PRELOGIN, out, spid)
    return TlsChannel(sock, obj, incoming, outgoing)


def accept_strict(sock: socket.socket, ctx: ssl.SSLContext) -> TlsChannel:
    """TDS 8.0: TLS straight on the TCP stream, before any TDS packet."""
    obj, incoming, outgoing = _new(ctx)
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError as e:
            raise HandshakeError(f"TLS handshake (TDS 8.0) failed: {e}") from e
        out = outgoing.read()
        try:
            if out:
                sock.sendall(out)
            raw = sock.recv(RECV_SIZE)
        except OSError as e:
            raise ConnectionClosed(str(e)) from e
        if not raw:
            raise ConnectionClosed("peer closed the connection during the TLS handshake")
        incoming.write(raw)
    out = outgoing.read()
    if out:
        try:
            sock.sendall(out)
        except OSError as e:
            raise ConnectionClosed(str(e)) from e
    return TlsChannel(sock, obj, incoming, outgoing)


def peek_first_byte(sock: socket.socket) -> int | None:
    """The client's first byte, left in the socket; None when it closed at once."""
    try:
        b = sock.recv(1, socket.MSG_PEEK)
    except OSError as e:
        raise ConnectionClosed(str(e)) from e
    return b[0] if b else None
