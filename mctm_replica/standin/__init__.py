"""The SQL Server stand-in: a TDS 7.4 server on embedded DuckDB, for tests and demos.

``StandIn`` runs it in a thread of the current process or as a subprocess
(``python -m mctm_replica.standin``), and connects real clients to it::

    with StandIn(port=0) as s:
        conn = s.connect_pymssql(database="master")
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from .contract import Engine

DEFAULT_PASSWORD = "StandIn!Dev-Passw0rd"  # documented development password
PASSWORD_ENV = "MCTM_STANDIN_PASSWORD"
LISTENING_PREFIX = "listening on "
CERTIFICATE_PREFIX = "tls certificate: "
ENCRYPTION_MODES = ("off", "on", "force", "strict")
# A cold interpreter importing duckdb/sqlglot and loading demo data on a busy
# 2-core machine can take several seconds; this bounds a hung start.
SUBPROCESS_START_TIMEOUT = 60.0
SUBPROCESS_STOP_TIMEOUT = 15.0

__all__ = ["DEFAULT_PASSWORD", "StandIn", "default_password"]


def default_password() -> str:
    return os.environ.get(PASSWORD_ENV) or DEFAULT_PASSWORD


def make_tls(encryption: str, cert: str | Path | None, key: str | Path | None) -> Any:
    """The server's TLS setup: the given PEM pair, else a self-signed certificate."""
    from .tds.tls import ServerTls
    from .tls_cert import resolve_certificate

    if encryption == "off":
        return ServerTls("off")
    files = resolve_certificate(cert, key)
    return ServerTls(encryption, files.cert_path, files.key_path)


def make_engine(data_dir: str | Path | None, demo_data: bool) -> Engine:
    """Create the DuckDB engine, loading the demo databases when asked."""
    from .engine import DuckEngine

    engine = DuckEngine(Path(data_dir) if data_dir is not None else None)
    if demo_data and not (engine.has_database("McTM") and engine.has_database("VoipDB")):
        from .demo_data import load_demo_data

        load_demo_data(engine)
    return engine


class StandIn:
    """A running SQL Server stand-in (context manager)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        user: str = "sa",
        password: str | None = None,
        data_dir: str | Path | None = None,
        demo_data: bool = False,
        mode: Literal["thread", "subprocess"] = "thread",
        engine: Engine | None = None,
        encryption: Literal["off", "on", "force", "strict"] = "on",
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
    ) -> None:
        if mode not in ("thread", "subprocess"):
            raise ValueError(f"mode must be 'thread' or 'subprocess', not {mode!r}")
        if encryption not in ENCRYPTION_MODES:
            raise ValueError(f"encryption must be one of {', '.join(ENCRYPTION_MODES)}, not {encryption!r}")
        if engine is not None and mode != "thread":
            raise ValueError("an engine instance can only be served in thread mode")
        self.host = host
        self.port = port
        self.user = user
        self.password = password if password is not None else default_password()
        self.data_dir = data_dir
        self.demo_data = demo_data
        self.mode = mode
        self._engine = engine
        self._owns_engine = engine is None
        self._server: Any = None
        self._proc: subprocess.Popen[str] | None = None
        self._returncode: int | None = None
        self.encryption = encryption
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        # The PEM certificate the server presents (trust or pin it); None with encryption "off".
        self.tls_cert_path: Path | None = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> StandIn:
        if self.mode == "thread":
            self._start_thread()
        else:
            self._start_subprocess()
        return self

    def _start_thread(self) -> None:
        from .server import StandInServer

        tls = make_tls(self.encryption, self.tls_cert, self.tls_key)
        if self._engine is None:
            self._engine = make_engine(self.data_dir, self.demo_data)
        self._server = StandInServer(
            self._engine, host=self.host, port=self.port, user=self.user, password=self.password, tls=tls
        )
        self.tls_cert_path = tls.cert_path
        self._server.start()
        self.port = self._server.port

    def _start_subprocess(self) -> None:
        cmd = [sys.executable, "-m", "mctm_replica.standin", "--host", self.host, "--port", str(self.port),
               "--user", self.user]
        if self.data_dir is not None:
            cmd += ["--data-dir", str(self.data_dir)]
        if self.demo_data:
            cmd.append("--demo-data")
        cmd += ["--encryption", self.encryption]
        if self.tls_cert is not None or self.tls_key is not None:
            cmd += ["--tls-cert", str(self.tls_cert), "--tls-key", str(self.tls_key)]
        env = dict(os.environ)
        env[PASSWORD_ENV] = self.password  # not on the command line: keeps it out of `ps`
        project_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (project_root, env.get("PYTHONPATH")) if p)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        self._proc = proc
        lines: queue.Queue[str] = queue.Queue()

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)
            lines.put("")

        threading.Thread(target=pump, name="standin-stdout", daemon=True).start()
        try:
            line = lines.get(timeout=SUBPROCESS_START_TIMEOUT)
        except queue.Empty as e:
            self.stop()
            raise RuntimeError(f"stand-in subprocess did not report listening within {SUBPROCESS_START_TIMEOUT}s") from e
        if not line.startswith(LISTENING_PREFIX):
            code = proc.wait(SUBPROCESS_STOP_TIMEOUT)
            self._proc = None
            raise RuntimeError(f"stand-in subprocess failed to start (exit code {code}, output {line!r})")
        self.port = int(line.strip().rsplit(":", 1)[1])
        if self.encryption != "off":
            try:
                line = lines.get(timeout=SUBPROCESS_START_TIMEOUT)
            except queue.Empty:
                line = ""
            if not line.startswith(CERTIFICATE_PREFIX):
                self.stop()
                raise RuntimeError(f"stand-in subprocess did not print its TLS certificate (got {line!r})")
            self.tls_cert_path = Path(line[len(CERTIFICATE_PREFIX) :].strip())

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
            if self._owns_engine and self._engine is not None:
                self._engine.close()
                self._engine = None
        if self._proc is not None:
            proc, self._proc = self._proc, None
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(SUBPROCESS_STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self._returncode = proc.returncode

    @property
    def returncode(self) -> int | None:
        """Exit code of the subprocess once it ended (None while running / in thread mode)."""
        if self._proc is not None:
            return self._proc.poll()
        return self._returncode

    # ------------------------------------------------------------------ clients
    def connect_pymssql(self, database: str = "master", **kw: Any) -> Any:
        import pymssql

        kw.setdefault("tds_version", "7.4")
        return pymssql.connect(
            server=self.host, port=self.port, user=self.user, password=self.password, database=database, **kw
        )

    def connect_pytds(self, database: str = "master", **kw: Any) -> Any:
        """python-tds; it has no TDS 8.0, and encrypts only when given ``cafile=``."""
        import pytds

        return pytds.connect(
            server=self.host, port=self.port, user=self.user, password=self.password, database=database, **kw
        )

    # ------------------------------------------------------------------ faults
    def inject_fault(self, kind: str, **options: object) -> None:
        """Arm a server-wide fault (see ``mctm_replica.standin.faults``)."""
        args = [f"@kind = {_literal(kind)}"] + [f"@{k} = {_literal(v)}" for k, v in options.items()]
        self._exec_admin("EXEC sp_standin_fault " + ", ".join(args))

    def clear_faults(self) -> None:
        self._exec_admin("EXEC sp_standin_clear_faults")

    def change_tracking_cleanup(self, database: str, table: str | None = None, version: int | None = None) -> None:
        """Let Change Tracking's retention pass: ``EXEC sp_standin_ct_cleanup`` (see
        ``mctm_replica.standin.engine.change_tracking.admin.cleanup_procedure``)."""
        if self.encryption == "strict":
            raise RuntimeError("change_tracking_cleanup needs a TDS 7.4 client; with encryption='strict' run "
                               "EXEC sp_standin_ct_cleanup through pymssql")
        args = [f"@database = {_literal(database)}"] + ([f"@table = {_literal(table)}"] if table else [])
        args += [f"@version = {int(version)}"] if version is not None else []
        self._exec_admin("EXEC sp_standin_ct_cleanup " + ", ".join(args))

    def _exec_admin(self, sql: str) -> None:
        from .faults import ADMIN_APP_NAME, fault_from_args, parse_fault_command

        if self.encryption == "strict":
            # python-tds cannot speak TDS 8.0: arm the fault in process (thread mode only).
            if self._server is None:
                raise RuntimeError("fault injection needs mode='thread' when encryption='strict' "
                                   "(python-tds, the admin client, has no TDS 8.0)")
            proc, args = parse_fault_command(sql) or ("", {})
            if proc == "sp_standin_clear_faults":
                self._server.faults.clear()
            else:
                self._server.faults.add(fault_from_args(args))
            return
        tls_kw: dict[str, Any] = {"cafile": str(self.tls_cert_path)} if self.encryption == "force" else {}
        conn = self.connect_pytds(autocommit=True, appname=ADMIN_APP_NAME, **tls_kw)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    return "N'" + str(value).replace("'", "''") + "'"
