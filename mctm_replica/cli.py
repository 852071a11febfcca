"""``mctm-replica``: the project's command line."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

DEFAULT_WORKDIR = Path(".local")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["standin"]:
        # The stand-in owns its own options (host, port, user, password, data dir, demo data).
        from mctm_replica.standin.cli import main as standin_main

        return standin_main(argv[1:])

    parser = argparse.ArgumentParser(
        prog="mctm-replica",
        description="PostgreSQL replica of SQL Server tables as Dagster assets.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("standin", help="run the SQL Server stand-in (see `mctm-replica standin --help`)")
    for name, text in (
        ("demo", "start local services, materialize every replica asset with its checks, "
                 "print a per-table summary; exit 1 if anything failed"),
        ("dev", "start local services and `dagster dev` on workspace.yaml"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                       help="where local PostgreSQL data and DAGSTER_HOME live (default: .local)")
    args = parser.parse_args(argv)

    from mctm_replica.demo import run_demo, run_dev

    # SIGTERM's default action skips `finally`/`with` blocks and would leave the local
    # PostgreSQL and stand-in running; as SystemExit they unwind and stop cleanly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    return run_demo(args.workdir) if args.command == "demo" else run_dev(args.workdir)


if __name__ == "__main__":
    sys.exit(main())
