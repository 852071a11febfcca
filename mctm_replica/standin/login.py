"""Session start: PRELOGIN, LOGIN7 and the login acknowledgement SQL Server sends.

Failures are answered as SQL Server answers them (ERROR 4060 / 18456) and the
caller then closes the connection.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .faults import ADMIN_APP_NAME
from .tds import tokens as tk
from .tds.handshake import (
    LOGIN_FLAG2_ODBC,
    PL_ENCRYPTION,
    HandshakeError,
    build_prelogin_reply,
    parse_login7,
    parse_prelogin,
)
from .tds.packets import DEFAULT_PACKET_SIZE, MAX_PACKET_SIZE, MIN_PACKET_SIZE, PacketType, read_message

if TYPE_CHECKING:
    from .session import ClientSession

log = logging.getLogger(__name__)

# Lowest LOGIN7 TDS version accepted: 7.3 revision A (SQL Server 2008).
TDS73 = 0x730A0003


def perform_login(session: ClientSession) -> bool:
    """PRELOGIN + LOGIN7; True when the session is logged in and has an engine session."""
    ptype, payload = read_message(session.sock)
    if ptype == PacketType.PRELOGIN:
        options = parse_prelogin(payload)
        if options.get(PL_ENCRYPTION, b"\x02")[:1] in (b"\x01", b"\x03"):
            log.warning(
                "spid %d: client asked for TLS encryption; the stand-in only speaks unencrypted "
                "TDS, so the client will abort (connect with encryption off)",
                session.spid,
            )
        session.writer.write(build_prelogin_reply(session.spid))
        session.writer.end_message()
        ptype, payload = read_message(session.sock)
    if ptype != PacketType.LOGIN7:
        raise HandshakeError(
            f"expected LOGIN7, got packet type {ptype:#x} (TLS is not supported by the stand-in)"
        )
    login = parse_login7(payload)
    srv = session.server
    if login.tds_version < TDS73:
        # date/time2/datetimeoffset exist on the wire only from TDS 7.3 on; SQL
        # Server would downgrade them to strings, the stand-in refuses instead.
        msg = (
            f"The SQL Server stand-in does not support TDS version {login.tds_version:#010x}; "
            "connect with TDS 7.3 or 7.4 (pymssql: tds_version='7.4')."
        )
        _login_failed(session, login.user, [tk.message(tk.ERROR, 50000, msg, severity=16, server=srv.server_name)])
        return False
    if (
        (login.app_name != ADMIN_APP_NAME and srv.faults.take_refuse_login())
        or login.user.lower() != srv.user.lower()
        or login.password != srv.password
    ):
        _login_failed(session, login.user, [])
        return False
    database = login.database or "master"
    if not srv.engine.has_database(database):
        msg = f'Cannot open database "{database}" requested by the login. The login failed.'
        _login_failed(session, login.user, [tk.message(tk.ERROR, 4060, msg, severity=11, server=srv.server_name)])
        return False
    session.esess = srv.engine.connect(database, spid=session.spid, login=login.user)
    session.esess.connection_info = connection_info(session, login)
    if not login.option_flags2 & LOGIN_FLAG2_ODBC:
        # Without fODBC SQL Server keeps its own session defaults, among them
        # TEXTSIZE 4096 bytes: (n)varchar(max)/varbinary(max)/text/ntext/image values
        # are cut there until the client runs SET TEXTSIZE (pymssql does in its
        # default post-login SET batch). SET TEXTSIZE 0 selects that default.
        for _ in session.esess.execute("SET TEXTSIZE 0"):
            pass
    size = login.packet_size or DEFAULT_PACKET_SIZE
    size = max(MIN_PACKET_SIZE, min(MAX_PACKET_SIZE, size))
    db = session.esess.database
    name = srv.server_name
    w = session.writer
    w.write(tk.envchange_str(tk.ENV_DATABASE, db, "master"))
    w.write(tk.message(tk.INFO, 5701, f"Changed database context to '{db}'.", state=2, severity=0, server=name))
    w.write(tk.envchange_bytes(tk.ENV_COLLATION, tk.DEFAULT_COLLATION, b""))
    w.write(tk.envchange_str(tk.ENV_LANGUAGE, "us_english", ""))
    w.write(tk.message(tk.INFO, 5703, "Changed language setting to us_english.", severity=0, server=name))
    w.write(tk.loginack(min(login.tds_version, tk.TDS74)))
    w.write(tk.envchange_str(tk.ENV_PACKET_SIZE, str(size), str(DEFAULT_PACKET_SIZE)))
    w.write(tk.done(tk.DONE_FINAL))
    w.end_message()
    w.set_packet_size(size)
    return True

def _login_failed(session: ClientSession, user: str, first: list[bytes]) -> None:
    for token in first:
        session.writer.write(token)
    session.writer.write(
        tk.message(tk.ERROR, 18456, f"Login failed for user '{user}'.", severity=14, server=session.server.server_name)
    )
    session.writer.write(tk.done(tk.DONE_ERROR))
    session.writer.end_message()


def connection_info(session: ClientSession, login) -> dict:
    """What sys.dm_exec_sessions/dm_exec_connections show of this connection (see engine/sysviews_server.py)."""
    import datetime as dt

    info = {"login_time": dt.datetime.now().replace(microsecond=0), "host_name": login.hostname,
            "program_name": login.app_name, "client_interface_name": login.library,
            "protocol_version": min(login.tds_version, tk.TDS74), "encrypt_option": "FALSE",
            "net_packet_size": max(MIN_PACKET_SIZE, min(MAX_PACKET_SIZE, login.packet_size or DEFAULT_PACKET_SIZE))}
    try:
        info["client_net_address"], info["client_tcp_port"] = session.sock.getpeername()[:2]
        info["local_net_address"], info["local_tcp_port"] = session.sock.getsockname()[:2]
    except (OSError, AttributeError):
        pass  # not a TCP socket
    return info
