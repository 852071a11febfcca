"""The stand-in as a process: the CLI, subprocess mode, and persistence with data_dir."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytds
import pytest

from mctm_replica.standin import StandIn

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# A cold interpreter importing duckdb/sqlglot (and loading demo data) on a busy
# 2-core machine can take several seconds.
START_TIMEOUT = 60


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)
    return env


def test_cli_help_is_useful():
    out = subprocess.run(
        [sys.executable, "-m", "mctm_replica.standin", "--help"], capture_output=True, text=True, env=_env(),
        timeout=START_TIMEOUT, check=True,
    ).stdout
    for option in ("--host", "--port", "--user", "--password", "--data-dir", "--demo-data", "MCTM_STANDIN_PASSWORD",
                   "--encryption", "--tls-cert", "--tls-key"):
        assert option in out


def test_cli_prints_listening_line_serves_demo_data_and_exits_0_on_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "mctm_replica.standin", "--port", "0", "--password", "Cli-Pw1!", "--demo-data"],
        stdout=subprocess.PIPE, text=True, env=_env(),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", line)
        assert m, line
        cert_line = proc.stdout.readline()
        import pymssql

        conn = pymssql.connect(
            server="127.0.0.1", port=int(m.group(1)), user="sa", password="Cli-Pw1!", database="McTM",
            tds_version="7.4", login_timeout=10,
        )
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM dbo.customer")
        assert cur.fetchall()[0][0] > 0
        conn.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(START_TIMEOUT) == 0
        # Then the certificate it presents (--encryption on by default), and nothing else.
        assert re.fullmatch(r"tls certificate: (.+\.pem)\n", cert_line), cert_line
        assert proc.stdout.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_subprocess_mode(tmp_path):
    s = StandIn(port=0, mode="subprocess", password="Sub-Pw1!")
    with s:
        assert s.port != 0
        assert s.returncode is None
        conn = s.connect_pytds(autocommit=True)
        cur = conn.cursor()
        cur.execute("SELECT DB_NAME()")
        assert cur.fetchall() == [("master",)]
        conn.close()
        s.inject_fault("refuse_logins", times=1)
        with pytest.raises(pytds.OperationalError) as ei:
            s.connect_pytds()
        assert ei.value.msg_no == 18456
    assert s.returncode == 0  # SIGTERM from stop() ends it cleanly


def test_data_dir_survives_restart(tmp_path):
    with StandIn(port=0, data_dir=tmp_path) as s:
        conn = s.connect_pytds(autocommit=True)
        cur = conn.cursor()
        cur.execute("CREATE DATABASE keep")
        cur.execute("USE keep")
        cur.execute("CREATE TABLE dbo.t (id int NOT NULL PRIMARY KEY, name nvarchar(20) NULL)")
        cur.execute("INSERT INTO dbo.t VALUES (1, N'日本'), (2, NULL)")
        conn.close()
    with StandIn(port=0, data_dir=tmp_path) as s:
        conn = s.connect_pymssql(database="keep")
        cur = conn.cursor()
        cur.execute("SELECT id, name FROM dbo.t ORDER BY id")
        assert cur.fetchall() == [(1, "日本"), (2, None)]
        conn.close()
