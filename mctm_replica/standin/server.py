"""The stand-in's threaded TCP server: accepts connections, one thread each."""

from __future__ import annotations

import itertools
import logging
import socket
import struct
import threading

from .connections import ConnectionInfo, ConnectionRegistry
from .contract import Engine
from .faults import FaultRegistry
from .session import ClientSession
from .tds.tls import ServerTls

log = logging.getLogger(__name__)

# accept() polls with this timeout so stop() is noticed promptly without
# relying on close() waking a blocked accept (it does not on every platform).
ACCEPT_POLL_SECONDS = 0.2
# How long stop() waits for each connection thread to finish its current request.
JOIN_TIMEOUT_SECONDS = 5.0
# SQL Server numbers user sessions from 51 upwards (1..50 are system sessions).
FIRST_SPID = 51


class StandInServer:
    """Serves one engine over TDS to any number of clients."""

    def __init__(
        self,
        engine: Engine,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        user: str = "sa",
        password: str,
        server_name: str = "STANDIN",
        tls: ServerTls | None = None,
    ) -> None:
        self.engine = engine
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.server_name = server_name
        self.faults = FaultRegistry()
        self.tls = tls if tls is not None else ServerTls("off")
        # Shared with the engine (DuckEngine.connections) for sys.dm_exec_connections.
        registry = getattr(engine, "connections", None)
        self.connections = registry if isinstance(registry, ConnectionRegistry) else ConnectionRegistry()
        self._spids = itertools.count(FIRST_SPID)
        self._tran_ids = itertools.count(1)
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._sessions: dict[int, tuple[ClientSession, threading.Thread]] = {}

    def start(self) -> None:
        listener = socket.create_server((self.host, self.port), backlog=128)
        listener.settimeout(ACCEPT_POLL_SECONDS)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept_loop, name="standin-accept", daemon=True)
        self._accept_thread.start()

    def next_transaction_descriptor(self) -> bytes:
        with self._lock:
            return struct.pack("<Q", next(self._tran_ids))

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                raise
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                spid = next(self._spids)
            session = ClientSession(self, sock, spid)
            thread = threading.Thread(target=self._run_session, args=(session,), name=f"standin-{spid}", daemon=True)
            with self._lock:
                self._sessions[spid] = (session, thread)
            thread.start()

    def connection_opened(self, session: ClientSession) -> None:
        """Record a logged-in session's transport facts (encryption, TDS version, addresses)."""
        try:
            client = session.sock.getpeername()
            local = session.sock.getsockname()
        except OSError:
            return
        self.connections.add(ConnectionInfo(
            spid=session.spid, encrypted=session.encrypted, protocol_version=session.tds_version,
            packet_size=session.packet_size, client_address=client[0], client_port=client[1],
            local_address=local[0], local_port=local[1], tds8=session.tds8,
        ))

    def connection_closed(self, session: ClientSession) -> None:
        self.connections.remove(session.spid)

    def _run_session(self, session: ClientSession) -> None:
        try:
            session.run()
        finally:
            with self._lock:
                self._sessions.pop(session.spid, None)

    def stop(self) -> None:
        self._stopping.set()
        if self._accept_thread is not None:
            self._accept_thread.join(JOIN_TIMEOUT_SECONDS)
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            sessions = list(self._sessions.values())
        for session, _thread in sessions:
            try:
                session.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for _session, thread in sessions:
            thread.join(JOIN_TIMEOUT_SECONDS)
            if thread.is_alive():
                log.warning("connection thread %s did not stop in time", thread.name)
