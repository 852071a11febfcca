"""Helpers and fixtures for the stand-in's TLS matrix (any client can join it).

``tls_standin_factory`` starts stand-ins in a given encryption mode and process
mode and stops them after the test::

    def test_my_client(tls_standin_factory):
        s = tls_standin_factory("force", mode="subprocess")
        connect(host=s.host, port=s.port, ca_file=s.tls_cert_path, ...)

``tls_standin`` is the same, parametrised indirectly with the encryption mode
(``@pytest.mark.parametrize("tls_standin", ["on", "force"], indirect=True)``).

FreeTDS (pymssql) takes ``encryption = strict`` and ``ca file`` only from a
freetds.conf: ``connect_pymssql_conf`` writes one and points FREETDSCONF at it
for the duration of the connect (FreeTDS reads the file at every login).
``TeeProxy`` relays a connection and keeps every byte, to show what an
eavesdropper on the wire would see.
"""

from __future__ import annotations

import os
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mctm_replica.standin import StandIn

TLS_MODES = ("off", "on", "force", "strict")
# How long the proxy waits on a socket before giving up (a hung test fails, not hangs).
PROXY_TIMEOUT_SECONDS = 30


@pytest.fixture
def tls_standin_factory() -> Iterator[Callable[..., StandIn]]:
    started: list[StandIn] = []

    def make(encryption: str = "on", *, mode: str = "thread", **kw: Any) -> StandIn:
        s = StandIn(port=0, encryption=encryption, mode=mode, **kw)  # type: ignore[arg-type]
        s.start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


@pytest.fixture
def tls_standin(request: pytest.FixtureRequest, tls_standin_factory: Callable[..., StandIn]) -> StandIn:
    """A thread-mode stand-in in the encryption mode given as the indirect parameter (default 'on')."""
    return tls_standin_factory(getattr(request, "param", "on"))


def write_freetds_conf(path: Path, *, encryption: str, ca_file: str | Path | None = None,
                       check_hostname: bool = True) -> Path:
    lines = ["[global]", f"\tencryption = {encryption}"]
    if ca_file is not None:
        lines.append(f"\tca file = {ca_file}")
    lines.append(f"\tcheck certificate hostname = {'yes' if check_hostname else 'no'}")
    path.write_text("\n".join(lines) + "\n")
    return path


_conf_lock = threading.Lock()


def connect_pymssql_conf(standin: StandIn, conf: Path, database: str = "master", **kw: Any) -> Any:
    """pymssql with FREETDSCONF=conf during the login (encryption/ca file come from there)."""
    with _conf_lock:
        old = os.environ.get("FREETDSCONF")
        os.environ["FREETDSCONF"] = str(conf)
        try:
            return standin.connect_pymssql(database=database, login_timeout=10, **kw)
        finally:
            if old is None:
                os.environ.pop("FREETDSCONF", None)
            else:
                os.environ["FREETDSCONF"] = old


def session_transport(conn: Any) -> tuple[str, int]:
    """(encrypt_option, protocol_version) of this connection as the server reports them."""
    cur = conn.cursor()
    cur.execute("SELECT encrypt_option, protocol_version FROM sys.dm_exec_connections WHERE session_id = @@SPID")
    rows = cur.fetchall()
    assert len(rows) == 1, rows
    return rows[0][0], rows[0][1]


class TeeProxy:
    """A one-connection TCP relay that records both directions."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(PROXY_TIMEOUT_SECONDS)
        self.port = self.listener.getsockname()[1]
        self.to_server = bytearray()
        self.to_client = bytearray()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            client, _ = self.listener.accept()
        except OSError:
            return
        server = socket.create_connection(self.target, timeout=PROXY_TIMEOUT_SECONDS)
        client.settimeout(PROXY_TIMEOUT_SECONDS)
        a = threading.Thread(target=self._pump, args=(client, server, self.to_server), daemon=True)
        b = threading.Thread(target=self._pump, args=(server, client, self.to_client), daemon=True)
        a.start()
        b.start()
        a.join()
        b.join()
        for s in (client, server):
            s.close()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, record: bytearray) -> None:
        try:
            while chunk := src.recv(65536):
                record += chunk
                dst.sendall(chunk)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()
        self._thread.join(PROXY_TIMEOUT_SECONDS)


# ---------------------------------------------------------------- a raw TDS client, built here independently
def tds_packet(ptype: int, payload: bytes) -> bytes:
    return struct.pack(">BBHHBB", ptype, 1, len(payload) + 8, 0, 1, 0) + payload


def prelogin(encryption: int) -> bytes:
    """A minimal client PRELOGIN: VERSION and ENCRYPTION."""
    version = bytes([16, 0, 0, 0, 0, 0])
    head = struct.pack(">BHH", 0, 11, len(version)) + struct.pack(">BHH", 1, 11 + len(version), 1) + b"\xff"
    return head + version + bytes([encryption])


def reply_encryption(payload: bytes) -> int:
    pos = 0
    while payload[pos] != 0xFF:
        token, off, _length = struct.unpack_from(">BHH", payload, pos)
        if token == 1:
            return payload[off]
        pos += 5
    raise AssertionError("PRELOGIN reply without ENCRYPTION")


def read_tds_message(sock: socket.socket | ssl.SSLSocket) -> tuple[int, bytes]:
    out = b""
    while True:
        header = _exact(sock, 8)
        ptype, status, length = header[0], header[1], struct.unpack(">H", header[2:4])[0]
        out += _exact(sock, length - 8)
        if status & 1:
            return ptype, out


def _exact(sock: socket.socket | ssl.SSLSocket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed by the server")
        buf += chunk
    return buf


def tls_in_prelogin(sock: socket.socket, ctx: ssl.SSLContext, server_hostname: str) -> ssl.SSLObject:
    """Client side of the TDS 7.x handshake: TLS records wrapped in PRELOGIN packets."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    while True:
        try:
            obj.do_handshake()
            return obj
        except ssl.SSLWantReadError:
            out = outgoing.read()
            if out:
                sock.sendall(tds_packet(0x12, out))
            ptype, payload = read_tds_message(sock)
            assert ptype == 0x12, f"handshake data came in packet type {ptype:#x}, SQL Server uses PRELOGIN"
            incoming.write(payload)
