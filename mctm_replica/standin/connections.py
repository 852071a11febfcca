"""What the transport knows of each live connection, for ``sys.dm_exec_connections``.

The server registers a ``ConnectionInfo`` per logged-in session in a
``ConnectionRegistry`` it shares with the engine (``engine.connections``), so
the catalog view answers from the transport's facts, not from guesses.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ConnectionInfo:
    spid: int
    encrypted: bool  # the whole session runs under TLS (login-only encryption is FALSE in SQL Server)
    protocol_version: int  # the TDS version the client sent in LOGIN7, e.g. 0x74000004
    packet_size: int
    client_address: str
    client_port: int
    local_address: str
    local_port: int
    tds8: bool = False  # TDS 8.0 (strict): TLS before PRELOGIN
    connect_time: dt.datetime = field(default_factory=dt.datetime.now)
    connection_id: uuid.UUID = field(default_factory=uuid.uuid4)


class ConnectionRegistry:
    """Thread-safe spid -> ConnectionInfo, and the server's output packets and bytes since
    it started (``@@PACK_SENT``; the stand-in's own ``@@STANDIN_BYTES_SENT``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_spid: dict[int, ConnectionInfo] = {}
        self.packets_sent = 0
        self.bytes_sent = 0  # headers included: what went to the sockets (@@STANDIN_BYTES_SENT)

    def count_sent(self, packets: int, nbytes: int) -> None:
        with self._lock:
            self.packets_sent += packets
            self.bytes_sent += nbytes

    def add(self, info: ConnectionInfo) -> None:
        with self._lock:
            self._by_spid[info.spid] = info

    def remove(self, spid: int) -> None:
        with self._lock:
            self._by_spid.pop(spid, None)

    def get(self, spid: int) -> ConnectionInfo | None:
        with self._lock:
            return self._by_spid.get(spid)

    def all(self) -> list[ConnectionInfo]:
        with self._lock:
            return sorted(self._by_spid.values(), key=lambda c: c.spid)
