"""pgloader (Debian's package) migrating SQL Server tables into PostgreSQL.

pgloader reaches SQL Server through FreeTDS's db-lib (libsybdb). It is run as a
user runs it: a command file ``LOAD DATABASE FROM mssql://... INTO
postgresql://...`` and a freetds.conf. FreeTDS converts nvarchar to the
*client charset* of that file; without ``client charset = UTF-8`` it uses
ISO-8859-1 and turns Japanese text into ``?`` (with a real SQL Server too).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from mctm_replica_tests.peers.endpoints import Endpoint

PGLOADER = "pgloader"
# What freetds.conf pgloader runs with: UTF-8 text, TDS 7.4 (SQL Server 2012 and later).
FREETDS_CONF = "[global]\n\tclient charset = UTF-8\n\ttds version = 7.4\n"
# pgloader migrates a small table in seconds; a stuck connection must not hang a test run.
TIMEOUT_S = 600


class PgloaderFailed(RuntimeError):
    """pgloader exited non-zero or reported errors; the message carries its output's tail."""


def pgloader_path() -> str | None:
    return shutil.which(PGLOADER)


def _literal(s: str) -> str:
    """A quoted name in a pgloader command file ('...' with '' for a quote)."""
    return "'" + s.replace("'", "''") + "'"


def pgloader_url(e: Endpoint, scheme: str) -> str:
    """A connection string as pgloader parses it: no percent-decoding; ``@@`` is a literal ``@``
    (and ``::`` a literal ``:`` in the user name)."""
    user = e.user.replace("@", "@@").replace(":", "::")
    return f"{scheme}://{user}:{e.password.replace('@', '@@')}@{e.host}:{e.port}/{e.database}"


def load_with_pgloader(source: Endpoint, table: str, target: Endpoint, target_schema: str, *,
                       schema: str = "dbo", workers: int = 2) -> str:
    """Migrate ``schema.table`` (a LIKE pattern, e.g. ``items`` or ``items%``) into PostgreSQL schema
    ``target_schema``; returns pgloader's summary. ``workers`` is pgloader's ``workers`` setting
    (2: the machine's cores). Raises PgloaderFailed with pgloader's output on failure."""
    exe = pgloader_path()
    if exe is None:
        raise PgloaderFailed("pgloader is not installed: apt-get install pgloader (.ci/run installs it)")
    command = (
        f"LOAD DATABASE\n  FROM {pgloader_url(source, 'mssql')}\n  INTO {pgloader_url(target, 'postgresql')}\n"
        f"  WITH workers = {workers}\n"
        f"  INCLUDING ONLY TABLE NAMES LIKE {_literal(table)} IN SCHEMA {_literal(schema)}\n"
        f"  ALTER SCHEMA {_literal(schema)} RENAME TO {_literal(target_schema)};\n"
    )
    # The command file holds both passwords: a private directory, removed afterwards.
    with tempfile.TemporaryDirectory(prefix="mctm-pgloader-") as tmp:
        cmd_file = Path(tmp) / "load.cmd"
        conf = Path(tmp) / "freetds.conf"
        cmd_file.write_text(command)
        conf.write_text(FREETDS_CONF)
        os.chmod(cmd_file, 0o600)
        env = {**os.environ, "FREETDSCONF": str(conf), "TMPDIR": tmp}
        proc = subprocess.run([exe, "--root-dir", tmp, str(cmd_file)],
                              capture_output=True, text=True, timeout=TIMEOUT_S, env=env, cwd=tmp)
    out = (proc.stdout + proc.stderr).replace(source.password, "***").replace(target.password, "***")
    if proc.returncode != 0 or " ERROR " in out or "KABOOM" in out:
        raise PgloaderFailed(f"pgloader exited {proc.returncode}:\n{out[-4000:]}")
    return out
