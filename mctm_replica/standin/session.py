"""One client connection: handshake, then requests until the client leaves.

A reader thread receives whole TDS messages into a queue and flags attention
packets at once, so a long result can be cancelled between row batches while
the connection thread is busy streaming it.
"""

from __future__ import annotations

import logging
import queue
import socket
import struct
import threading
from typing import TYPE_CHECKING

from .contract import DatabaseChanged, Done, EngineSession, ResultSet, RowCount, SqlError
from .faults import fault_from_args, parse_fault_command
from .login import perform_login
from .tds import tokens as tk
from .tds.handshake import HandshakeError
from .tds.packets import ConnectionClosed, MessageWriter, PacketType, read_message
from . import rpc
from .tds.params import RpcCall, parse_rpc, skip_all_headers
from .tds.rowenc import RowEncoder
from .tds.tls import TlsChannel

if TYPE_CHECKING:
    from .server import StandInServer

log = logging.getLogger(__name__)

# Transaction manager request types (MS-TDS 2.2.6.9).
TM_BEGIN_XACT = 5
TM_COMMIT_XACT = 7
TM_ROLLBACK_XACT = 8
TM_NAMES = {0: "TM_GET_DTC_ADDRESS", 1: "TM_PROPAGATE_XACT", 6: "TM_PROMOTE_XACT", 9: "TM_SAVE_XACT"}


def internal_error(e: Exception) -> SqlError:
    """An engine bug, reported to the client as an error instead of a dropped connection."""
    return SqlError(50000, f"The SQL Server stand-in failed internally: {e!r}")


class _Attention(Exception):
    """The client sent an attention while its request was running."""


class _Dropped(Exception):
    """A drop_after_rows fault cut the connection."""


class ClientSession:
    """Serves one TCP connection on its own thread (plus a reader thread)."""

    def __init__(self, server: StandInServer, sock: socket.socket, spid: int) -> None:
        self.server = server
        self.sock = sock
        self.spid = spid
        self.writer = MessageWriter(sock, spid, on_sent=server.connections.count_sent)
        # TDS packets go through ``io``: ``sock``, or a TlsChannel over it once TLS is negotiated.
        self.io: socket.socket | TlsChannel = sock
        self.encrypted = False  # the whole session runs under TLS (not just LOGIN7)
        self.tds8 = False  # TDS 8.0 (strict): TLS before PRELOGIN
        self.tds_version = 0  # as the client sent it in LOGIN7
        self.packet_size = 0
        self.inbox: queue.Queue[tuple[int, bytes] | None] = queue.Queue()
        self.attention = threading.Event()
        self._attn_answered = 0
        self.esess: EngineSession | None = None
        self._trancount = 0
        self._tran_descriptor = b"\x00" * 8
        self.prepared = rpc.Prepared()  # sp_prepare handles of this connection

    def use_transport(self, io: socket.socket | TlsChannel) -> None:
        self.io = io
        self.writer.sock = io

    # ------------------------------------------------------------------ lifecycle
    def run(self) -> None:
        try:
            if perform_login(self):
                self.server.connection_opened(self)
                threading.Thread(target=self._read_loop, name=f"standin-rd-{self.spid}", daemon=True).start()
                self._serve()
        except (ConnectionClosed, _Dropped):
            pass
        except HandshakeError as e:
            log.info("spid %d: %s", self.spid, e)
        except Exception:  # noqa: BLE001 - a bug must not take the server down
            log.exception("spid %d: connection failed", self.spid)
        finally:
            self.close()

    def close(self) -> None:
        self.server.connection_closed(self)
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        if self.esess is not None:
            esess, self.esess = self.esess, None
            try:
                esess.close()
            except Exception:  # noqa: BLE001 - closing must not raise
                log.exception("spid %d: closing engine session failed", self.spid)

    def _read_loop(self) -> None:
        try:
            while True:
                ptype, payload = read_message(self.io)
                if ptype == PacketType.ATTENTION:
                    self.attention.set()
                self.inbox.put((ptype, payload))
        except (ConnectionClosed, OSError):
            # The client is gone: like SQL Server, stop waiting on its behalf (an injected
            # delay ends as an attention would) so the session ends now, not after the wait.
            self.attention.set()
            self.inbox.put(None)

    # ------------------------------------------------------------------ requests
    def _serve(self) -> None:
        while True:
            item = self.inbox.get()
            if item is None:
                return
            ptype, payload = item
            if ptype == PacketType.ATTENTION:
                self.attention.clear()
                if self._attn_answered:
                    self._attn_answered -= 1
                else:
                    self.writer.write(tk.done(tk.DONE_ATTN))
                    self.writer.end_message()
                continue
            try:
                if ptype == PacketType.SQL_BATCH:
                    self._sql_batch(payload)
                elif ptype == PacketType.RPC:
                    self._rpc(payload)
                elif ptype == PacketType.TRANSACTION:
                    self._transaction(payload)
                else:
                    self._error_reply(
                        SqlError(50000, f"The SQL Server stand-in does not support TDS packet type {ptype:#x}.")
                    )
            except _Attention:
                self.writer.write(tk.done(tk.DONE_ATTN))
                self._attn_answered += 1
            self.writer.end_message()

    def _error_reply(self, e: SqlError, token: int = tk.DONE, sql: str | None = None) -> None:
        """ERROR, then (for a batch) any transaction ENVCHANGE it caused, then DONE_ERROR."""
        self._write_error(e)
        if sql is not None:
            self._txn_env(sql, failed=True)
        # Inside a procedure the DONEPROC still follows, so DONEINPROC has MORE.
        more = tk.DONE_MORE if token == tk.DONEINPROC else 0
        self.writer.write(tk.done(tk.DONE_ERROR | more, token=token))

    def _write_error(self, e: SqlError) -> None:
        self.writer.write(
            tk.message(
                tk.ERROR, e.number, e.message, state=e.state, severity=e.severity,
                server=self.server.server_name, line=e.line,
            )
        )

    def _wait_delay(self, sql: str) -> None:
        seconds = self.server.faults.take_delay(sql)
        if seconds > 0 and self.attention.wait(seconds):
            raise _Attention

    def _sql_batch(self, payload: bytes) -> None:
        sql = payload[skip_all_headers(payload) :].decode("utf-16-le")
        try:
            fault_cmd = parse_fault_command(sql)
            if fault_cmd is not None:
                self._fault_command(*fault_cmd)
                self.writer.write(tk.done(tk.DONE_FINAL))
                return
        except SqlError as e:
            self._error_reply(e)
            return
        self._wait_delay(sql)
        injected = self.server.faults.take_error(sql)
        if injected is not None:
            self._error_reply(injected)
            return
        self._run(sql, None, in_proc=False)

    def _fault_command(self, proc: str, args: dict[str, object]) -> None:
        if proc == "sp_standin_clear_faults":
            self.server.faults.clear()
        else:
            self.server.faults.add(fault_from_args(args))

    def _run(self, sql: str, params: dict[str, object] | None, *, in_proc: bool) -> bool:
        """Execute a batch, writing its tokens; True when it ended without error."""
        assert self.esess is not None
        sql = self.server.faults.rewrite(sql)
        token = tk.DONEINPROC if in_proc else tk.DONE
        more_always = tk.DONE_MORE if in_proc else 0
        w = self.writer
        pending: tuple[int, int, int] | None = None
        try:
            it = iter(self.esess.execute(sql, params))
        except SqlError as e:  # an engine may validate the whole batch before yielding
            self._error_reply(e, token, sql)
            return False
        except Exception as e:  # noqa: BLE001 - engine bug: report, keep the connection
            log.exception("spid %d: engine failure", self.spid)
            self._error_reply(internal_error(e), token)
            return False
        try:
            while True:
                if self.attention.is_set():
                    raise _Attention
                try:
                    res = next(it)
                except StopIteration:
                    break
                except SqlError as e:
                    self._flush_pending(pending, token)
                    self._error_reply(e, token, sql)
                    return False
                except Exception as e:  # noqa: BLE001 - engine bug: report, keep the connection
                    log.exception("spid %d: engine failure", self.spid)
                    self._flush_pending(pending, token)
                    self._error_reply(internal_error(e), token)
                    return False
                self._flush_pending(pending, token)
                pending = None
                self._txn_env(sql)
                if isinstance(res, ResultSet):
                    try:
                        count = self._stream(res, sql)
                    except SqlError as e:
                        self._error_reply(e, token, sql)
                        return False
                    except (_Attention, _Dropped, ConnectionClosed):
                        raise
                    except Exception as e:  # noqa: BLE001 - engine bug mid-stream: report it
                        log.exception("spid %d: engine failure while streaming", self.spid)
                        self._error_reply(internal_error(e), token)
                        return False
                    pending = (tk.DONE_COUNT, count, tk.CMD_SELECT)
                elif isinstance(res, RowCount):
                    pending = (tk.DONE_COUNT, res.count, tk.CMD_INSERT)
                elif isinstance(res, DatabaseChanged):
                    w.write(tk.envchange_str(tk.ENV_DATABASE, res.new, res.old))
                    # SQL Server follows a database change with the new database's collation
                    coll = getattr(self.server.engine, "database_collation", None)
                    if coll is not None:
                        w.write(tk.envchange_bytes(tk.ENV_COLLATION, coll(res.new).tds_bytes(), b""))
                    w.write(
                        tk.message(
                            tk.INFO, 5701, f"Changed database context to '{res.new}'.",
                            severity=0, server=self.server.server_name,
                        )
                    )
                    pending = (0, 0, tk.CMD_OTHER)
                elif isinstance(res, Done):
                    pending = (0, 0, tk.CMD_OTHER)
                else:
                    raise TypeError(f"engine yielded {res!r}")
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()
        status, count, cmd = pending or (0, 0, tk.CMD_OTHER)
        w.write(tk.done(status | more_always, count, cmd=cmd, token=token))
        return True

    def _flush_pending(self, pending: tuple[int, int, int] | None, token: int) -> None:
        if pending is not None:
            status, count, cmd = pending
            self.writer.write(tk.done(status | tk.DONE_MORE, count, cmd=cmd, token=token))

    def _stream(self, rs: ResultSet, sql: str) -> int:
        rows = rs.rows
        try:
            enc = RowEncoder(rs.columns, rs.packed)
            w = self.writer
            w.write(enc.colmetadata())
            faults = self.server.faults
            limit = faults.drop_limit(sql)
            count = 0
            for batch in rows:
                if self.attention.is_set():
                    raise _Attention
                if limit is not None and count + len(batch) >= limit and faults.take_drop(sql):
                    w.write(enc.encode(batch[: limit - count]))
                    w.flush_partial()
                    raise _Dropped
                w.write(enc.encode(batch))
                count += len(batch)
            return count
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()

    def _txn_env(self, sql: str, *, failed: bool = False) -> None:
        """Send ENVCHANGE 8/9/10 when the batch moved @@TRANCOUNT across zero.

        The engine does not say whether a transaction ended by commit or by
        rollback: an error (e.g. XACT_ABORT) or ROLLBACK in the batch text means
        rollback. Clients treat 9 and 10 alike (both end the transaction).
        """
        assert self.esess is not None
        now = self.esess.trancount
        if self._trancount == 0 and now > 0:
            self._tran_descriptor = self.server.next_transaction_descriptor()
            self.writer.write(tk.envchange_bytes(tk.ENV_BEGIN_TRAN, self._tran_descriptor, b""))
        elif self._trancount > 0 and now == 0:
            rolled_back = failed or "rollback" in sql.lower()
            kind = tk.ENV_ROLLBACK_TRAN if rolled_back else tk.ENV_COMMIT_TRAN
            self.writer.write(tk.envchange_bytes(kind, b"", self._tran_descriptor))
        self._trancount = now

    # ------------------------------------------------------------------ RPC
    def _rpc(self, payload: bytes) -> None:
        try:
            calls = parse_rpc(payload)
        except SqlError as e:
            self._error_reply(e, tk.DONEPROC)
            return
        for i, call in enumerate(calls):
            more = tk.DONE_MORE if i < len(calls) - 1 else 0
            ok, returns = self._rpc_call(call)
            if ok:
                self.writer.write(tk.returnstatus(0))
            for token in returns:  # OUTPUT parameters follow RETURNSTATUS, as SQL Server sends them
                self.writer.write(token)
            self.writer.write(tk.done((0 if ok else tk.DONE_ERROR) | more, token=tk.DONEPROC))

    def _rpc_call(self, call: RpcCall) -> tuple[bool, list[bytes]]:
        proc = call.proc
        try:
            if proc in ("sp_standin_fault", "sp_standin_clear_faults"):
                self._fault_command(proc, {p.name.lower(): p.value for p in call.params})
                return True, []
            return rpc.call(self, call)
        except SqlError as e:
            self._write_error(e)
            return False, []

    def run_rpc_statement(self, sql: str, params: dict[str, object]) -> bool:
        """Run a statement of sp_executesql/sp_prepexec/sp_execute inside the procedure."""
        self._wait_delay(sql)
        injected = self.server.faults.take_error(sql)
        if injected is not None:
            self._write_error(injected)
            return False
        return self._run(sql, params, in_proc=True)

    # ------------------------------------------------------------------ transaction manager
    def _transaction(self, payload: bytes) -> None:
        assert self.esess is not None
        pos = skip_all_headers(payload)
        (rtype,) = struct.unpack_from("<H", payload, pos)
        pos += 2
        w = self.writer
        try:
            if rtype == TM_BEGIN_XACT:
                self.esess.begin()
                self._txn_env_tm()
            elif rtype in (TM_COMMIT_XACT, TM_ROLLBACK_XACT):
                name_len = payload[pos]
                pos += 1 + 2 * name_len
                flags = payload[pos] if pos < len(payload) else 0
                if rtype == TM_COMMIT_XACT:
                    self.esess.commit()
                else:
                    self.esess.rollback()
                kind = tk.ENV_COMMIT_TRAN if rtype == TM_COMMIT_XACT else tk.ENV_ROLLBACK_TRAN
                w.write(tk.envchange_bytes(kind, b"", self._tran_descriptor))
                self._trancount = self.esess.trancount
                if flags & 0x01:  # fBeginXact: start a new transaction at once
                    self.esess.begin()
                    self._txn_env_tm()
            else:
                name = TM_NAMES.get(rtype, f"request {rtype}")
                raise SqlError(
                    50000,
                    f"The SQL Server stand-in does not support distributed transactions ({name}).",
                )
        except SqlError as e:
            self._trancount = self.esess.trancount
            self._error_reply(e)
            return
        w.write(tk.done(tk.DONE_FINAL))

    def _txn_env_tm(self) -> None:
        """ENVCHANGE begin for a transaction the transaction manager just started."""
        assert self.esess is not None
        self._tran_descriptor = self.server.next_transaction_descriptor()
        self.writer.write(tk.envchange_bytes(tk.ENV_BEGIN_TRAN, self._tran_descriptor, b""))
        self._trancount = self.esess.trancount
