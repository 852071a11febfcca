"""``mctm-replica verify-source``: is this SQL Server ready for the replica, before a first run?

Per source, over the connection a run would use (its ``encryption``, ``ca_file`` and
``read_only_intent`` from tables.yaml): the server's version and edition, the database's
collation and code page, whether this session is encrypted and how, snapshot isolation,
the read-path self-check (:mod:`mctm_replica.read_check`) when the source formats rows on
the server, and for every configured table: readable, the permissions the product needs
(``SELECT``, ``VIEW DEFINITION``) held by this login, every column mapped by the type map,
and the catalog's row estimate. Anything that fails is a named problem and the command
exits 1. Nothing is written; no password is printed.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

import pymssql

from mctm_replica.config import ConfigError, ReplicaConfig, SourceSpec, TableSpec
from mctm_replica.plan import build_plan
from mctm_replica.read_check import difference_message, run_read_check
from mctm_replica.resources.change_tracking import ChangeTrackingSource, key_problem
from mctm_replica.resources.mssql import MssqlResource, SourceError
from mctm_replica.tsql.catalog import (
    CODE_PAGE_SQL, PERMISSION_SQL, SERVER_SQL, SESSION_SQL, SNAPSHOT_SQL, grant_sql, no_rows_sql,
)
from mctm_replica.tsql.quoting import qualified
from mctm_replica.typemap import UnmappedTypeError

#: Permissions every replicated table needs: reading rows, and reading its column and key
#: definitions (INFORMATION_SCHEMA shows only what VIEW DEFINITION lets the login see).
TABLE_PERMISSIONS = ("SELECT", "VIEW DEFINITION")

# TDS protocol_version values of sys.dm_exec_connections, as SQL Server reports them.
_TDS_VERSIONS = {0x74000004: "TDS 7.4", 0x08000000: "TDS 8.0", 0x730B0003: "TDS 7.3"}


@dataclass
class TableReport:
    source_table: str
    target_table: str
    readable: bool = False
    permissions: dict[str, bool | None] = field(default_factory=dict)
    columns: int | None = None
    estimated_rows: int | None = None
    change_tracking: str | None = None  # mode change_tracking: what the pre-read checks found
    problems: list[str] = field(default_factory=list)


@dataclass
class SourceReport:
    source: str
    where: str  # user@host:port/database, never the password
    connection: str  # the configured TLS settings, in words
    ok: bool = False
    version: str | None = None
    edition: str | None = None
    collation: str | None = None
    code_page: int | None = None
    encrypted: bool | None = None
    protocol: str | None = None
    snapshot_isolation: str | None = None
    read_committed_snapshot: bool | None = None
    read_check: str | None = None  # "passed", "skipped (...)" or the difference
    tables: list[TableReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # each fails the command
    notes: list[str] = field(default_factory=list)  # facts it could not read; not needed to run


def resource_from_env(source: SourceSpec, env: dict[str, str] | None = None) -> MssqlResource:
    """The resource a run would build for ``source`` (definitions.mssql_resource), resolved."""
    env = dict(os.environ if env is None else env)
    p, c = source.env_prefix, source.connection
    missing = [f"{p}_{k}" for k in ("HOST", "DB", "USER", "PASSWORD") if not env.get(f"{p}_{k}")]
    if missing:
        raise SourceError(f"source `{source.name}` is not configured: set {', '.join(missing)}")
    return MssqlResource(
        host=env[f"{p}_HOST"], port=int(env.get(f"{p}_PORT") or 1433), database=env[f"{p}_DB"],
        user=env[f"{p}_USER"], password=env[f"{p}_PASSWORD"], source=source.name,
        format_on_server=source.format_on_server, encryption=c.encryption, ca_file=c.ca_file,
        trust_server_certificate=c.trust_server_certificate, read_only_intent=c.read_only_intent,
        retry_attempts=1)


def verify_source(config: ReplicaConfig, source: SourceSpec,
                  env: dict[str, str] | None = None) -> SourceReport:
    report = SourceReport(source.name, "-", source.connection.describe())
    try:
        mssql = resource_from_env(source, env)
        report.where = f"{mssql.user}@{mssql.host}:{mssql.port}/{mssql.database}"
        with mssql.get_connection() as conn, conn.cursor() as cur:
            _server_facts(cur, report)
            for spec in (t for t in config.tables if t.source == source.name):
                report.tables.append(_table(cur, mssql, spec))
        if source.format_on_server:
            diffs = run_read_check(mssql)
            report.read_check = "passed" if not diffs else difference_message(diffs[0], source=source.name)
            if diffs:
                report.problems.append(f"read-path self-check: {report.read_check}")
        else:
            report.read_check = "skipped (format_on_server: false reads typed values)"
    except (SourceError, pymssql.Error) as e:
        report.problems.append(_first_line(e))
    report.problems += [f"table `{t.source_table}`: {p}" for t in report.tables for p in t.problems]
    report.ok = not report.problems
    return report


def _server_facts(cur, report: SourceReport) -> None:
    def one(sql: str, params: tuple | None, what: str, needed: bool = True) -> tuple | None:
        try:
            cur.execute(sql, params)
            return cur.fetchone()
        except pymssql.Error as e:
            (report.problems if needed else report.notes).append(f"cannot read {what}: {_first_line(e)}")
            return None

    row = one(SERVER_SQL, None, "the server's version, edition and collation")
    if row:
        report.version, report.edition, report.collation = row
        page = one(CODE_PAGE_SQL, (report.collation,), "the collation's code page")
        report.code_page = page[0] if page else None
    # sys.dm_exec_connections needs VIEW SERVER STATE, which the replica itself does not.
    row = one(SESSION_SQL, None, "this session's encryption (sys.dm_exec_connections needs "
              "VIEW SERVER STATE)", needed=False)
    if row:
        report.encrypted = str(row[0]).upper() == "TRUE"
        report.protocol = _TDS_VERSIONS.get(int(row[1]), hex(int(row[1]))) if row[1] is not None else None
    row = one(SNAPSHOT_SQL, None, "snapshot isolation (sys.databases)")
    if row:
        report.snapshot_isolation, report.read_committed_snapshot = row[0], bool(row[1])


def _table(cur, mssql: MssqlResource, spec: TableSpec) -> TableReport:
    t = TableReport(f"{spec.source}:{spec.source_name}", spec.target_name)
    name = qualified(spec.source_schema, spec.source_table)
    for permission in TABLE_PERMISSIONS:
        try:
            cur.execute(PERMISSION_SQL, (name, permission))
            held = cur.fetchone()[0]
        except pymssql.Error as e:
            t.problems.append(f"cannot check permission {permission}: {_first_line(e)}")
            continue
        t.permissions[permission] = None if held is None else bool(held)
        if not held:
            t.problems.append(f"the login lacks {permission}: {grant_sql(permission, name, mssql.user)}")
    try:
        cur.execute(no_rows_sql(name))
        cur.fetchall()
        t.readable = True
    except pymssql.Error as e:
        t.problems.append(f"not readable: {_first_line(e)}")
        return t
    try:
        plan = build_plan(spec, mssql.describe_table(spec.source_schema, spec.source_table))
        t.columns = len(plan.columns)
    except (ConfigError, UnmappedTypeError, SourceError) as e:
        t.problems.append(str(e))
    else:
        if spec.mode == "change_tracking":  # the checks a run makes first, with the same fixes
            source_of = {c.target_name: c.source_name for c in plan.columns}
            ct = ChangeTrackingSource(mssql, spec.source_schema, spec.source_table, plan.source_columns,
                                      [source_of[k] for k in plan.primary_key])
            key = key_problem(ct.key, mssql.describe_table(spec.source_schema, spec.source_table).primary_key)
            if key is not None:
                t.problems.append(key)
            try:
                status = ct.check()
                t.change_tracking = (f"on (retention {status.retention}, {status.consistency}, "
                                     f"version {status.current_version})")
            except SourceError as e:
                t.change_tracking = "NOT READY"
                t.problems.append(str(e))
    t.estimated_rows = mssql.estimate_rows(spec.source_schema, spec.source_table)
    return t


def _first_line(e: BaseException) -> str:
    """The server's message without pymssql's tuple and DB-Lib trailer."""
    args = e.args[0] if len(e.args) == 1 and isinstance(e.args[0], tuple) else e.args
    text = " ".join(a.decode(errors="replace") if isinstance(a, bytes) else str(a) for a in args)
    text = text.split("DB-Lib error message")[0]
    return text.strip().splitlines()[0] if text.strip() else type(e).__name__


def format_report(r: SourceReport) -> str:
    lines = [f"source {r.source}: {'ok' if r.ok else 'FAIL'}  ({r.where})",
             f"  server      SQL Server {r.version or '?'}, {r.edition or '?'}",
             f"  database    collation {r.collation or '?'} (code page {r.code_page or '?'})",
             f"  connection  configured: {r.connection}; this session: "
             + ("encrypted" if r.encrypted else "NOT encrypted" if r.encrypted is False else "?")
             + (f", {r.protocol}" if r.protocol else ""),
             f"  snapshot    ALLOW_SNAPSHOT_ISOLATION {r.snapshot_isolation or '?'}, "
             f"READ_COMMITTED_SNAPSHOT {'ON' if r.read_committed_snapshot else 'OFF'}",
             f"  read check  {r.read_check or '-'}"]
    for t in r.tables:
        perms = ", ".join(f"{k} {'yes' if v else 'NO' if v is False else '?'}" for k, v in t.permissions.items())
        rows = f"~{t.estimated_rows:,} rows" if t.estimated_rows is not None else "? rows"
        columns = "?" if t.columns is None else t.columns
        lines.append(f"  table {t.source_table:<28} -> {t.target_table:<24} "
                     f"{'readable' if t.readable else 'NOT READABLE'}; {perms}; "
                     f"{columns} columns mapped; {rows}"
                     + (f"; change tracking {t.change_tracking}" if t.change_tracking else ""))
    lines += [f"  note        {n}" for n in r.notes]
    lines += [f"  problem     {p}" for p in r.problems]
    return "\n".join(lines)


def as_dict(r: SourceReport) -> dict[str, Any]:
    return asdict(r)
