"""Session start: PRELOGIN, TLS, LOGIN7 and the login acknowledgement SQL Server sends.

Failures are answered as SQL Server answers them (ERROR 4060 / 18456) and the
caller then closes the connection.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .faults import ADMIN_APP_NAME
from .tds import tokens as tk
from .tds.handshake import (
    ENCRYPT_NOT_SUP,
    ENCRYPT_OFF,
    ENCRYPT_ON,
    ENCRYPT_REQ,
    LOGIN_FLAG2_ODBC,
    PL_ENCRYPTION,
    HandshakeError,
    build_prelogin_reply,
    parse_login7,
    parse_prelogin,
)
from .tds.packets import DEFAULT_PACKET_SIZE, MAX_PACKET_SIZE, MIN_PACKET_SIZE, PacketType, read_message
from .tds.tls import (
    TLS_HANDSHAKE_RECORD,
    ServerTls,
    accept_in_prelogin,
    accept_strict,
    negotiate,
    peek_first_byte,
)

if TYPE_CHECKING:
    from .session import ClientSession

log = logging.getLogger(__name__)

# Lowest LOGIN7 TDS version accepted: 7.3 revision A (SQL Server 2008).
TDS73 = 0x730A0003


def perform_login(session: ClientSession) -> bool:
    """PRELOGIN (with TLS as negotiated) + LOGIN7; True when logged in with an engine session."""
    payload = _prelogin_and_tls(session)
    if payload is None:
        return False
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
    session.tds_version = login.tds_version
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
    # the database's collation: clients take the code page of untagged varchar from it
    coll = getattr(srv.engine, "database_collation", None)
    w.write(tk.envchange_bytes(tk.ENV_COLLATION, coll(db).tds_bytes() if coll else tk.DEFAULT_COLLATION, b""))
    w.write(tk.envchange_str(tk.ENV_LANGUAGE, "us_english", ""))
    w.write(tk.message(tk.INFO, 5703, "Changed language setting to us_english.", severity=0, server=name))
    w.write(tk.loginack(min(login.tds_version, tk.TDS74)))
    w.write(tk.envchange_str(tk.ENV_PACKET_SIZE, str(size), str(DEFAULT_PACKET_SIZE)))
    w.write(tk.done(tk.DONE_FINAL))
    w.end_message()
    w.set_packet_size(size)
    session.packet_size = size
    return True


def _prelogin_and_tls(session: ClientSession) -> bytes | None:
    """Everything before LOGIN7; the LOGIN7 payload, or None when the connection must close.

    Mirrors SQL Server 2022 (MS-TDS 2.2.6.5): TLS first for a TDS 8.0 client,
    else the ENCRYPTION value from ``negotiate``; after a reply of OFF only
    LOGIN7 travels encrypted, after ON or REQ the whole session does.
    """
    tls: ServerTls = session.server.tls
    first = peek_first_byte(session.sock)
    if first is None:
        return None
    if first == TLS_HANDSHAKE_RECORD:
        if tls.mode == "off":
            log.info("spid %d: client started TLS first (TDS 8.0 strict) but encryption is off; closing",
                     session.spid)
            return None
        channel = accept_strict(session.sock, tls.tds8)
        session.use_transport(channel)
        session.encrypted = session.tds8 = True
    elif tls.mode == "strict":
        log.warning("spid %d: a TDS 7.x client connected, but the stand-in runs with --encryption strict "
                    "(TDS 8.0 only); closing. Connect with strict encryption (FreeTDS: encryption = strict).",
                    session.spid)
        return None
    ptype, payload = read_message(session.io)
    if ptype != PacketType.PRELOGIN:
        if tls.mode == "force" and not session.tds8:
            log.warning("spid %d: LOGIN7 without PRELOGIN/TLS under --encryption force; closing", session.spid)
            return None
        return _expect_login7(session, ptype, payload)
    client = parse_prelogin(payload).get(PL_ENCRYPTION, bytes([ENCRYPT_NOT_SUP]))[:1] or bytes([ENCRYPT_NOT_SUP])
    if session.tds8:
        # Already encrypted: the PRELOGIN value plays no part (FreeTDS and tedious send NOT_SUP).
        reply = ENCRYPT_NOT_SUP if client[0] == ENCRYPT_NOT_SUP else ENCRYPT_ON
    else:
        reply = negotiate(tls.mode, client[0] & 0x03)
        if reply == ENCRYPT_NOT_SUP and client[0] in (ENCRYPT_ON, ENCRYPT_REQ):
            log.warning(
                "spid %d: client asked for TLS encryption; the stand-in runs with --encryption off, "
                "so the client will abort (start it with --encryption on, or connect with encryption off)",
                session.spid,
            )
    session.writer.write(build_prelogin_reply(session.spid, reply))
    session.writer.end_message()
    ptype, payload = read_message(session.io)
    if session.tds8 or reply == ENCRYPT_NOT_SUP:
        return _expect_login7(session, ptype, payload)
    if ptype != PacketType.PRELOGIN:
        # SQL Server with a certificate takes no clear-text LOGIN7 once it answered
        # OFF/ON/REQ: a client that cannot encrypt (REQ to NOT_SUP) is dropped.
        log.warning("spid %d: client sent packet type %#x without the TLS handshake the PRELOGIN reply "
                    "(encryption %s) requires; closing", session.spid, ptype, _ENC_NAMES[reply])
        return None
    channel = accept_in_prelogin(session.sock, tls.tds7, payload, session.spid)
    session.use_transport(channel)
    ptype, payload = read_message(session.io)
    if reply == ENCRYPT_OFF:
        session.use_transport(session.sock)  # LOGIN7 only; the rest of the session is clear text
    else:
        session.encrypted = True
    return _expect_login7(session, ptype, payload)


_ENC_NAMES = {ENCRYPT_OFF: "OFF", ENCRYPT_ON: "ON", ENCRYPT_NOT_SUP: "NOT_SUP", ENCRYPT_REQ: "REQ"}


def _expect_login7(session: ClientSession, ptype: int, payload: bytes) -> bytes:
    if ptype != PacketType.LOGIN7:
        raise HandshakeError(f"spid {session.spid}: expected LOGIN7, got packet type {ptype:#x}")
    return payload


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
