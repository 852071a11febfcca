"""``mctm-replica``: the project's command line."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from mctm_replica.local import LocalExtraMissing, require_local_extra

DEFAULT_WORKDIR = Path(".local")
#: Commands that run the stand-in or embedded PostgreSQL: they need `mctm_replica[local]`.
#: Everything else (check-connections, info, and later verify-source) runs on the lean install.
LOCAL_COMMANDS = ("standin", "demo", "dev")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in LOCAL_COMMANDS and not {"-h", "--help"} & set(argv[1:]):
        try:
            require_local_extra(argv[0])
        except LocalExtraMissing as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    if argv[:1] == ["standin"]:
        # The stand-in owns its own options (host, port, user, password, data dir, demo data).
        from mctm_replica.standin.cli import main as standin_main

        return standin_main(argv[1:])

    parser = argparse.ArgumentParser(
        prog="mctm-replica",
        description="PostgreSQL replica of SQL Server tables as Dagster assets.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("standin", help="run the SQL Server stand-in (needs mctm_replica[local]; "
                   "see `mctm-replica standin --help`)")
    for name, text in (
        ("demo", "start local services, materialize every replica asset with its checks, "
                 "print a per-table summary; exit 1 if anything failed (needs mctm_replica[local])"),
        ("dev", "start local services and `dagster dev` on workspace.yaml (needs mctm_replica[local])"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                       help="where local PostgreSQL data and DAGSTER_HOME live (default: .local)")
    p = sub.add_parser(
        "check-connections",
        help="probe every configured SQL Server source and the PostgreSQL target in parallel",
        description="Resolve, connect and log in to every source (<PREFIX>_*) and the target "
        "(PG_*) from the environment; print one line each; exit 1 if any fails.",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of lines")
    p = sub.add_parser(
        "info",
        help="one row per configured table: counts, last materialization, last checks",
        description="Live source/target row counts per table, plus the last materialization "
        "and check results from the Dagster instance in $DAGSTER_HOME (if set).",
    )
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p = sub.add_parser(
        "verify-source",
        help="is each SQL Server source ready: version, collation, encryption, permissions, "
        "tables, and the read-path self-check",
        description="Connect to each source as a run would and report what the replica needs "
        "of it; exit 1 naming every problem. Writes nothing.",
    )
    p.add_argument("--source", help="only this source (a name under `sources` in tables.yaml)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p = sub.add_parser(
        "plan",
        help="dry run: what the next run would do to each table (load, watermark, deletes, schema "
        "changes, estimated rows, source SQL); changes nothing",
        description="For each table, without changing anything on either server: full load, "
        "first load or incremental from which watermark; whether deletes are reconciled; schema "
        "changes it would apply or refuse; the source catalog's row estimate; the exact SQL it "
        "would send to the source. Exit 1 if a table's next run would fail or cannot be planned.",
    )
    p.add_argument("--table", action="append", metavar="NAME",
                   help="only this table (target or source schema.table); repeatable")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    args = parser.parse_args(argv)

    if args.command in ("check-connections", "info", "verify-source", "plan"):
        return _ops(args)

    from mctm_replica.demo import run_demo, run_dev

    # SIGTERM's default action skips `finally`/`with` blocks and would leave the local
    # PostgreSQL and stand-in running; as SystemExit they unwind and stop cleanly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    return run_demo(args.workdir) if args.command == "demo" else run_dev(args.workdir)


def _ops(args: argparse.Namespace) -> int:
    import json
    import os

    from mctm_replica.config import ConfigError, load_config

    try:
        config = load_config()
    except ConfigError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        return 2
    if args.command == "check-connections":
        from mctm_replica.ops.connections import as_dicts, check_connections

        probes = check_connections(config)
        print(json.dumps(as_dicts(probes), indent=2) if args.json else "\n".join(p.line() for p in probes))
        return 0 if all(p.ok for p in probes) else 1

    if args.command == "verify-source":
        return _verify(config, args)
    if args.command == "plan":
        return _plan(config, args)

    from dagster import DagsterInstance

    from mctm_replica.ops.info import as_dicts, format_table, table_info

    if os.environ.get("DAGSTER_HOME"):
        with DagsterInstance.get() as instance:
            rows = table_info(config, instance)
    else:
        print("DAGSTER_HOME is not set: showing live counts only", file=sys.stderr)
        rows = table_info(config, None)
    print(json.dumps(as_dicts(rows), indent=2) if args.json else format_table(rows))
    return 0


def _verify(config, args: argparse.Namespace) -> int:
    import json

    from mctm_replica.ops.verify import as_dict, format_report, verify_source

    if args.source is not None and args.source not in config.sources:
        print(f"unknown source `{args.source}`; tables.yaml has {', '.join(sorted(config.sources))}",
              file=sys.stderr)
        return 2
    reports = [verify_source(config, s) for name, s in config.sources.items()
               if args.source in (None, name)]
    print(json.dumps([as_dict(r) for r in reports], indent=2) if args.json
          else "\n\n".join(format_report(r) for r in reports))
    return 0 if all(r.ok for r in reports) else 1


def _plan(config, args: argparse.Namespace) -> int:
    import json

    from mctm_replica.config import ConfigError
    from mctm_replica.ops.dry_run import exit_status, format_plan, plan_tables, select_tables
    from mctm_replica.resources.postgres import TargetError

    try:
        specs = select_tables(config, args.table)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        previews = plan_tables(config, specs)
    except TargetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps([p.as_dict() for p in previews], indent=2, default=str) if args.json
          else format_plan(previews))
    return exit_status(previews)


if __name__ == "__main__":
    sys.exit(main())
