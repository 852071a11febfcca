"""Catalog views of the server, the session and object definitions.

``sys.system_views`` (SQLAlchemy looks up ``dm_exec_sessions`` there before
asking for the isolation level), ``sys.dm_exec_sessions``,
``sys.sql_modules``, ``sys.extended_properties``,
``sys.sequences``, ``sys.synonyms`` and ``INFORMATION_SCHEMA.VIEWS``.

What the front end knows about a connection (client host, program, TDS
version, encryption) reaches the engine session as ``connection_info`` (a
dict set at login, see login.py); missing keys answer as SQL Server does for
an unencrypted TCP connection.
"""

from __future__ import annotations

import zlib

from mctm_replica.standin.engine.decl import Decl

SN = Decl("nvarchar", length=128)
INT = Decl("int")
BIT = Decl("bit")
TINY = Decl("tinyint")
SMALL = Decl("smallint")
BIG = Decl("bigint")
DATETIME = Decl("datetime")
DESC60 = Decl("nvarchar", length=60)
MAXTEXT = Decl("nvarchar", length=-1)
# SQL Server's schema ids of the system schemas that hold catalog views
SYS_SCHEMA_ID = 4
INFORMATION_SCHEMA_ID = 3
# sys.dm_exec_sessions.transaction_isolation_level codes
ISOLATION_CODES = {"READ UNCOMMITTED": 1, "READ COMMITTED": 2, "REPEATABLE READ": 3, "SERIALIZABLE": 4, "SNAPSHOT": 5}
DEFAULT_ISOLATION = 2  # READ COMMITTED, SQL Server's default
TDS74 = 0x74000004
TDS_CLIENT_VERSION = 7  # dm_exec_sessions.client_version of every TDS 7.x client
DATE_FIRST = 7  # us_english's first day of the week (Sunday), as @@DATEFIRST answers
TSQL_ENDPOINT_ID = 4  # SQL Server's "TSQL Default TCP" endpoint
DEFAULT_PACKET_SIZE = 4096  # TDS's default when the login asked for none


def isolation_code(level: str) -> int:
    """The transaction_isolation_level code of ``SET TRANSACTION ISOLATION LEVEL <level>``."""
    return ISOLATION_CODES[" ".join(level.upper().split())]


def _object_columns():
    return [("name", SN), ("object_id", INT), ("principal_id", INT), ("schema_id", INT), ("parent_object_id", INT),
            ("type", Decl("char", length=2)), ("type_desc", DESC60), ("create_date", DATETIME),
            ("modify_date", DATETIME), ("is_ms_shipped", BIT), ("is_published", BIT), ("is_schema_published", BIT)]


def sys_system_views(ctx):
    from mctm_replica.standin.engine.sysviews import view_names

    rows = []
    for key in sorted(view_names()):
        schema, name = key.split(".", 1)
        # system objects have negative ids; any stable distinct value will do
        oid = -(zlib.crc32(key.encode()) & 0x3FFFFFFF) - 1
        sid = SYS_SCHEMA_ID if schema == "sys" else INFORMATION_SCHEMA_ID
        rows.append((name if schema == "sys" else name.upper(), oid, None, sid, 0, "V ", "VIEW",
                     ctx.when, ctx.when, True, False, False))
    return _object_columns(), rows


def _info(session) -> dict:
    return getattr(session, "connection_info", None) or {}


def _sessions(ctx) -> list:
    """Every open user session (SQL Server's system sessions, spid < 51, do not exist here)."""
    live = getattr(ctx.session.engine, "live_sessions", None)
    return live() if live is not None else [ctx.session]


def sys_dm_exec_sessions(ctx):
    cols = [("session_id", SMALL), ("login_time", DATETIME), ("host_name", SN), ("program_name", SN),
            ("host_process_id", INT), ("client_version", INT), ("client_interface_name", Decl("nvarchar", length=32)),
            ("login_name", SN), ("status", Decl("nvarchar", length=30)), ("is_user_process", BIT),
            ("text_size", INT), ("language", SN), ("date_format", Decl("nvarchar", length=3)), ("date_first", SMALL),
            ("quoted_identifier", BIT), ("arithabort", BIT), ("ansi_null_dflt_on", BIT), ("ansi_defaults", BIT),
            ("ansi_warnings", BIT), ("ansi_padding", BIT), ("ansi_nulls", BIT), ("concat_null_yields_null", BIT),
            ("transaction_isolation_level", SMALL), ("lock_timeout", INT), ("deadlock_priority", INT),
            ("row_count", BIG), ("prev_error", INT), ("original_login_name", SN), ("database_id", SMALL),
            ("authenticating_database_id", INT), ("open_transaction_count", INT)]
    db_ids = {n.lower(): i for n, i in ctx.session.database_ids()}
    rows = []
    for s in _sessions(ctx):
        info = _info(s)
        rows.append((s.spid, info.get("login_time", ctx.when), info.get("host_name"), info.get("program_name"),
                     info.get("host_process_id"), info.get("client_version", TDS_CLIENT_VERSION), info.get("client_interface_name"),
                     s.login, "running" if s is ctx.session else "sleeping", True, s.textsize, "us_english", "mdy",
                     DATE_FIRST, True, True, True, False, True, True, True, True,
                     getattr(s, "isolation_level", DEFAULT_ISOLATION), -1, 0, s.last_rowcount, 0, s.login,
                     db_ids.get(s.database.lower(), 1), 1, s.trancount))
    return cols, rows


def sys_sql_modules(ctx):
    cols = [("object_id", INT), ("definition", MAXTEXT), ("uses_ansi_nulls", BIT), ("uses_quoted_identifier", BIT),
            ("is_schema_bound", BIT), ("uses_database_collation", BIT), ("is_recompiled", BIT),
            ("null_on_null_input", BIT), ("execute_as_principal_id", INT), ("uses_native_compilation", BIT),
            ("inline_type", BIT), ("is_inlineable", BIT)]
    rows = [(t.object_id, t.definition, True, True, False, False, False, False, None, False, False, False)
            for t in ctx.tables if t.kind == "VIEW"]
    return cols, rows


def sys_extended_properties(ctx):
    # value is sql_variant in SQL Server; no statement of the stand-in sets extended properties
    cols = [("class", TINY), ("class_desc", DESC60), ("major_id", INT), ("minor_id", INT), ("name", SN),
            ("value", Decl("nvarchar", length=4000))]
    return cols, []


def sys_sequences(ctx):
    # CREATE SEQUENCE is not supported, so there are never rows
    cols = _object_columns() + [("start_value", BIG), ("increment", BIG), ("minimum_value", BIG),
                                ("maximum_value", BIG), ("is_cycling", BIT), ("is_cached", BIT), ("cache_size", INT),
                                ("system_type_id", TINY), ("user_type_id", INT), ("precision", TINY),
                                ("scale", TINY), ("current_value", BIG), ("is_exhausted", BIT),
                                ("last_used_value", BIG)]
    return cols, []


def sys_synonyms(ctx):
    # CREATE SYNONYM is not supported, so there are never rows (Sling's SQL Server connector
    # looks a table's name up here before it reads the table)
    return _object_columns() + [("base_object_name", Decl("nvarchar", length=1035))], []


def is_views(ctx):
    cols = [("TABLE_CATALOG", SN), ("TABLE_SCHEMA", SN), ("TABLE_NAME", SN),
            ("VIEW_DEFINITION", Decl("nvarchar", length=4000)), ("CHECK_OPTION", Decl("varchar", length=7)),
            ("IS_UPDATABLE", Decl("varchar", length=2))]
    # VIEW_DEFINITION shows the first 4000 characters, as SQL Server's does
    rows = [(ctx.db, t.schema, t.name, None if t.definition is None else t.definition[:4000], "NONE", "NO")
            for t in ctx.tables if t.kind == "VIEW"]
    return cols, rows


def is_sequences(ctx):
    # CREATE SEQUENCE is not supported, so there are never rows
    cols = [("SEQUENCE_CATALOG", SN), ("SEQUENCE_SCHEMA", SN), ("SEQUENCE_NAME", SN), ("DATA_TYPE", SN),
            ("NUMERIC_PRECISION", TINY), ("NUMERIC_PRECISION_RADIX", SMALL), ("NUMERIC_SCALE", INT),
            ("START_VALUE", Decl("nvarchar", length=4000)), ("MINIMUM_VALUE", Decl("nvarchar", length=4000)),
            ("MAXIMUM_VALUE", Decl("nvarchar", length=4000)), ("INCREMENT", Decl("nvarchar", length=4000)),
            ("CYCLE_OPTION", Decl("varchar", length=3)), ("DECLARED_DATA_TYPE", Decl("nvarchar", length=128)),
            ("DECLARED_NUMERIC_PRECISION", INT), ("DECLARED_NUMERIC_SCALE", INT)]
    return cols, []


def fn_listextendedproperty(ctx, args: list):
    """sys.fn_listextendedproperty(name, level0 type, name, level1 type, name, level2 type, name): no rows,
    as no statement of the stand-in sets extended properties (SQLAlchemy probes it for comment support)."""
    from mctm_replica.standin.contract import SqlError

    if len(args) != 7:
        raise SqlError(313 if len(args) < 7 else 8144, "An insufficient number of arguments were supplied for the "
                       "procedure or function fn_listextendedproperty." if len(args) < 7 else
                       "Procedure or function fn_listextendedproperty has too many arguments specified.")
    cols = [("objtype", SN), ("objname", SN), ("name", SN), ("value", Decl("nvarchar", length=4000))]
    return cols, []


TABLE_FUNCTIONS = {"fn_listextendedproperty": fn_listextendedproperty}

VIEWS = {
    "sys.system_views": sys_system_views, "sys.dm_exec_sessions": sys_dm_exec_sessions,
    "sys.sql_modules": sys_sql_modules,
    "sys.extended_properties": sys_extended_properties, "sys.sequences": sys_sequences,
    "sys.synonyms": sys_synonyms,
    "information_schema.views": is_views, "information_schema.sequences": is_sequences,
}
