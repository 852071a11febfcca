"""The ``standin`` command: run the SQL Server stand-in in the foreground."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from . import (
    CERTIFICATE_PREFIX,
    DEFAULT_PASSWORD,
    ENCRYPTION_MODES,
    LISTENING_PREFIX,
    PASSWORD_ENV,
    default_password,
    make_engine,
    make_tls,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mctm-replica standin",
        description=(
            "Run the SQL Server stand-in: a TDS 7.4 server backed by embedded DuckDB that pymssql "
            "and python-tds talk to as if it were SQL Server. Prints 'listening on HOST:PORT' once "
            "it accepts connections, then 'tls certificate: PATH' (the PEM it presents) unless "
            "--encryption off; stops cleanly on SIGINT/SIGTERM."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=1433, help="TCP port; 0 picks a free one (default: %(default)s)")
    p.add_argument("--user", default="sa", help="the only login accepted (default: %(default)s)")
    p.add_argument(
        "--password",
        default=None,
        help=f"login password (default: ${PASSWORD_ENV}, else the development password {DEFAULT_PASSWORD!r})",
    )
    p.add_argument("--data-dir", default=None, help="keep databases in this directory (default: in memory)")
    p.add_argument(
        "--demo-data", action="store_true", help="create the McTM and VoipDB demo databases if they do not exist"
    )
    p.add_argument(
        "--encryption",
        choices=ENCRYPTION_MODES,
        default="on",
        help=(
            "TLS as SQL Server 2022 offers it: 'on' (a server with a certificate: a client asking for "
            "encryption gets it for the whole session, one with encryption off gets only LOGIN7 encrypted), "
            "'force' (Force Encryption: every session encrypted, a client that cannot encrypt is refused), "
            "'strict' (TDS 8.0: TLS first, ALPN tds/8.0), 'off' (no TLS) (default: %(default)s)"
        ),
    )
    p.add_argument("--tls-cert", default=None, help="PEM certificate to present (default: a self-signed one made at start)")
    p.add_argument("--tls-key", default=None, help="PEM private key of --tls-cert")
    p.add_argument("--log-level", default="WARNING", help="Python logging level for stderr (default: %(default)s)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .server import StandInServer

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        tls = make_tls(args.encryption, args.tls_cert, args.tls_key)
    except ValueError as e:  # a missing or unusable certificate/key file, named in the message
        print(f"mctm-replica standin: {e}", file=sys.stderr)
        return 2
    engine = make_engine(args.data_dir, args.demo_data)
    server = StandInServer(
        engine, host=args.host, port=args.port, user=args.user, password=args.password or default_password(),
        tls=tls,
    )
    try:
        server.start()
        print(f"{LISTENING_PREFIX}{args.host}:{server.port}", flush=True)
        if tls.cert_path is not None:
            print(f"{CERTIFICATE_PREFIX}{tls.cert_path}", flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        server.stop()
        engine.close()
    return 0
