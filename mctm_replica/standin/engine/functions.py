"""Built-in functions and @@variables whose result type or value SQL Server defines.

Each entry returns a ``Typed`` whose SQL yields the declared type's storage
form; functions not listed here go through sqlglot's generic translation.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from mctm_replica.standin.contract import SqlError
from mctm_replica.standin.engine.catalog_functions import columnproperty, parsename, schema_name_of
from mctm_replica.standin.engine.decl import UNICODE_TYPES, Decl
from mctm_replica.standin.engine.hashing import hashbytes
from mctm_replica.standin.engine.sqlshapes import dto_switched
from mctm_replica.standin.engine.typed import Typed

PRODUCT_VERSION = "16.0.4135.4"
VERSION = (
    "Microsoft SQL Server 2022 (RTM-CU15) (KB5041321) - 16.0.4135.4 (X64) \n"
    "\tJul 10 2024 14:09:09 \n\tCopyright (C) 2022 Microsoft Corporation\n"
    "\tDeveloper Edition (64-bit) on Linux (mctm_replica SQL Server stand-in) <X64>"
)
SERVER_NAME = "STANDIN"
SYSNAME = Decl("nvarchar", length=128)


def _args(tr, node, scope) -> list[Typed]:
    return [tr.expr(a, scope) for a in node.expressions]


def system_variable(tr, name: str) -> Typed:
    s = tr.s
    if name == "spid":
        return Typed(f"CAST({s.spid} AS SMALLINT)", Decl("smallint"))
    if name == "version":
        return Typed(tr.emit_const(VERSION, Decl("nvarchar", length=300)), Decl("nvarchar", length=300))
    if name == "trancount":
        return Typed(f"CAST({s.trancount} AS INTEGER)", Decl("int"))
    if name == "rowcount":
        return Typed(f"CAST({s.last_rowcount} AS INTEGER)", Decl("int"))
    if name == "servername":
        return Typed(tr.emit_const(SERVER_NAME, SYSNAME), SYSNAME)
    if name == "servicename":
        return Typed(tr.emit_const("MSSQLSERVER", SYSNAME), SYSNAME)
    if name in ("identity",):
        v = s.last_identity
        return Typed("NULL" if v is None else f"CAST({v} AS DECIMAL(38,0))", Decl("numeric", precision=38, scale=0))
    if name == "error":
        return Typed("CAST(0 AS INTEGER)", Decl("int"))
    if name == "language":
        return Typed(tr.emit_const("us_english", SYSNAME), SYSNAME)
    if name == "max_precision":
        return Typed("CAST(38 AS UTINYINT)", Decl("tinyint"))
    if name == "datefirst":
        return Typed("CAST(7 AS UTINYINT)", Decl("tinyint"))
    if name == "textsize":
        return Typed(f"CAST({s.textsize} AS INTEGER)", Decl("int"))
    if name == "lock_timeout":
        return Typed("CAST(-1 AS INTEGER)", Decl("int"))
    if name in ("pack_sent", "standin_bytes_sent"):
        # @@PACK_SENT: output packets written since the server started (SQL Server's).
        # @@STANDIN_BYTES_SENT: the bytes of those packets -- the stand-in's own, for
        # benchmarks measuring the source's work; SQL Server has no such variable.
        registry = getattr(s.engine, "connections", None)
        if name == "pack_sent":
            return Typed(f"CAST({registry.packets_sent if registry is not None else 0} AS INTEGER)", Decl("int"))
        return Typed(f"CAST({registry.bytes_sent if registry is not None else 0} AS BIGINT)", Decl("bigint"))
    if name == "options":
        return Typed("CAST(5496 AS INTEGER)", Decl("int"))
    raise SqlError(50000, f"The SQL Server stand-in does not support @@{name.upper()}.")


def _getdate(tr, node, scope):
    return Typed("__dtround(localtimestamp)", Decl("datetime"), nullable=False)


def _getutcdate(tr, node, scope):
    return Typed("__dtround(CAST(timezone('UTC', now()) AS TIMESTAMP))", Decl("datetime"), nullable=False)


def _sysdatetime(tr, node, scope):
    return Typed("__ts2t(localtimestamp)", Decl("datetime2", scale=7), nullable=False)


def _sysutcdatetime(tr, node, scope):
    return Typed("__ts2t(CAST(timezone('UTC', now()) AS TIMESTAMP))", Decl("datetime2", scale=7), nullable=False)


def _sysdatetimeoffset(tr, node, scope):
    return Typed("(CAST(__ts2t(CAST(timezone('UTC', now()) AS TIMESTAMP)) AS HUGEINT) * 2048 + 1024)",
                 Decl("datetimeoffset", scale=7), nullable=False)


def _min_active_rowversion(tr, node, scope):
    """The lowest rowversion an open transaction may still commit, else @@DBTS + 1."""
    alias = tr.s.engine.alias(tr.s.database)
    floor = tr.s.engine.active_rowversion_floor(alias)
    if floor is None:
        last, start = tr.s.cur.execute(
            "SELECT last_value, start_value FROM duckdb_sequences() WHERE database_name = ? "
            "AND schema_name = '__standin' AND sequence_name = 'rowversion'", [alias]).fetchone()
        floor = (start - 1 if last is None else last) + 1
    return Typed(f"CAST({int(floor)} AS BIGINT)", Decl("rowversion"), nullable=False)


def _newid(tr, node, scope):
    return Typed("uuid()", Decl("uniqueidentifier"), nullable=False)


def _len(tr, node, scope):
    (a,) = _args(tr, node, scope)
    d = Decl("bigint") if a.decl is not None and a.decl.length == -1 else Decl("int")
    from mctm_replica.standin.engine.decl import STRING_TYPES, storage_type

    x = a.sql if a.decl is None or a.decl.type in STRING_TYPES else tr.convert(a, Decl("varchar", length=-1)).sql
    trimmed = f"rtrim({x}, ' ')"
    # UTF-16 code units: a character outside the BMP counts twice (non-SC collations)
    n = f"(length({trimmed}) + length(regexp_replace({trimmed}, '[\\x{{0000}}-\\x{{FFFF}}]', '', 'g')))"
    return Typed(f"CAST({n} AS {storage_type(d)})", d)


def _datalength(tr, node, scope):
    (a,) = _args(tr, node, scope)
    t = a.decl.type if a.decl else "varchar"
    # bigint only for the (max) types; text, ntext and image answer int, as SQL Server does
    big = a.decl is not None and a.decl.length == -1 and t in ("varchar", "nvarchar", "varbinary")
    cast = "BIGINT" if big else "INTEGER"
    d = Decl("bigint") if big else Decl("int")
    if t in UNICODE_TYPES:
        # UTF-16 code units: characters outside the BMP take two
        x = f"(length({a.sql}) + length(regexp_replace({a.sql}, '[\\x{{0000}}-\\x{{FFFF}}]', '', 'g'))) * 2"
    elif t in ("char", "varchar", "text"):
        from mctm_replica.standin.engine import collations

        # bytes of the collation's code page (1252: one per character; 932: one or two; UTF-8)
        x = collations.byte_length_sql(a.sql, collations.of(a.decl.collation if a.decl else None))
    elif t in ("binary", "varbinary", "image"):
        x = f"octet_length({a.sql})"
    else:
        from mctm_replica.standin.engine.decl import octet_length

        x = f"CASE WHEN {a.sql} IS NULL THEN NULL ELSE {max(octet_length(a.decl), 0) if a.decl else 0} END"
    return Typed(f"CAST({x} AS {cast})", d)


def _nchar(tr, node, scope):
    # NCHAR(n): the UTF-16 code unit n as nchar(1); NCHAR(0) is how T-SQL writes a NUL.
    (a,) = _args(tr, node, scope)
    return Typed(f"chr(CAST({a.sql} AS INTEGER))", Decl("nchar", length=1))


def _db_name(tr, node, scope):
    args = _args(tr, node, scope)
    if args:
        raise SqlError(50000, "The SQL Server stand-in does not support DB_NAME(database_id).")
    # constant within a statement, so DATABASEPROPERTYEX(DB_NAME(), ...) can use it
    return Typed(tr.emit_const(tr.s.database, SYSNAME), SYSNAME, const=tr.s.database)


def _schema_name(tr, node, scope):
    args = _args(tr, node, scope)
    if args:
        return schema_name_of(tr, args[0])
    return Typed(tr.emit_const("dbo", SYSNAME), SYSNAME)


def _login(tr, node, scope):
    return Typed(tr.emit_const(tr.s.login, SYSNAME), SYSNAME)


def _user_name(tr, node, scope):
    return Typed(tr.emit_const("dbo", SYSNAME), SYSNAME)


def _host_name(tr, node, scope):
    return Typed(tr.emit_const("standin", SYSNAME), SYSNAME)


def _app_name(tr, node, scope):
    return Typed(tr.emit_const(getattr(tr.s, "app_name", "") or "", SYSNAME), SYSNAME)


def object_id_of(tr, name: str) -> int | None:
    """The object id of a one- to three-part table name, or None."""
    import sqlglot

    from mctm_replica.standin.engine.dialect import StandinTSQL

    try:
        tbl = sqlglot.parse_one(f"SELECT 1 FROM {name}", read=StandinTSQL).find(exp.Table)
    except Exception:
        return None
    info = tr.s.lookup_table(tbl.text("catalog"), tbl.text("db"), tbl.name) if tbl is not None else None
    return None if info is None else info.object_id


def _object_id(tr, node, scope):
    args = _args(tr, node, scope)
    if not args:
        raise SqlError(174, "The object_id function requires 1 to 3 argument(s).")
    if not args[0].is_const:
        if len(args) > 1:  # OBJECT_ID(expression, type): the current database's objects of that type
            from mctm_replica.standin.engine.catalog_functions import object_id_of as typed_object_id_of

            return typed_object_id_of(tr, args[0], args[1])
        return _object_id_of_expression(tr, args[0])
    if not isinstance(args[0].const, str):
        return Typed("CAST(NULL AS INTEGER)", Decl("int"))
    oid = object_id_of(tr, args[0].const)
    return Typed("CAST(NULL AS INTEGER)" if oid is None else f"CAST({oid} AS INTEGER)", Decl("int"))


def _object_id_of_expression(tr, name: Typed) -> Typed:
    """OBJECT_ID(<expression>), e.g. of QUOTENAME(TABLE_SCHEMA) + '.' + QUOTENAME(TABLE_NAME):
    the name is normalized in SQL (brackets dropped, lower-cased, the current database and
    'dbo.' added where omitted) and looked up among every database's tables and views.
    Names containing '.' or ']' inside brackets are not split correctly (see README)."""
    from mctm_replica.standin.engine.values import sql_literal

    v = sql_literal
    pairs = []
    for db, _id in tr.s.database_ids():
        for (schema, table), info in tr.s.all_tables(db).items():
            pairs.append(f"({v(f'{db.lower()}.{schema}.{table}', Decl('varchar'))}, {info.object_id})")
    if not pairs:
        return Typed(f"CAST(CASE WHEN ({name.sql}) IS NULL THEN NULL END AS INTEGER)", Decl("int"))
    n = f"lower(replace(replace(CAST(({name.sql}) AS VARCHAR), '[', ''), ']', ''))"
    parts = f"string_split({n}, '.')"
    db = v(tr.s.database.lower() + ".", Decl("varchar"))
    key = (f"CASE len({parts}) WHEN 1 THEN {db} || 'dbo.' || {n} WHEN 2 THEN {db} || {n} "
           f"WHEN 3 THEN {parts}[1] || '.' || coalesce(nullif({parts}[2], ''), 'dbo') || '.' || {parts}[3] END")
    return Typed(f"(SELECT m.id FROM (VALUES {', '.join(pairs)}) m(n, id) WHERE m.n = {key})", Decl("int"))


_PROPS = {
    "productversion": PRODUCT_VERSION, "productlevel": "RTM", "productupdatelevel": "CU15",
    "edition": "Developer Edition (64-bit)", "engineedition": "3", "servername": SERVER_NAME,
    "machinename": SERVER_NAME, "instancename": None, "collation": "SQL_Latin1_General_CP1_CI_AS",
    "ishadrenabled": "0", "isclustered": "0", "isfulltextinstalled": "0", "isintegratedsecurityonly": "0",
    "productmajorversion": "16", "productminorversion": "0", "productbuild": "4135",
}


def _serverproperty(tr, node, scope):
    args = _args(tr, node, scope)
    if not args or not args[0].is_const:
        raise SqlError(50000, "The SQL Server stand-in does not support SERVERPROPERTY with a non-constant name.")
    value = _PROPS.get(str(args[0].const).lower())
    d = Decl("nvarchar", length=128)
    return Typed(tr.emit_const(value, d), d)


def _databasepropertyex(tr, node, scope):
    args = _args(tr, node, scope)
    if len(args) != 2 or not all(a.is_const for a in args):
        raise SqlError(50000, "The SQL Server stand-in supports DATABASEPROPERTYEX with constant arguments only.")
    db, prop = str(args[0].const), str(args[1].const).lower()
    value = None
    if tr.s.engine.has_database(db):
        value = {"collation": tr.s.engine.database_collation(db).name, "status": "ONLINE",
                 "updateability": "READ_WRITE", "recovery": "SIMPLE"}.get(prop)
    d = Decl("nvarchar", length=128)
    return Typed(tr.emit_const(value, d), d)


def _collationproperty(tr, node, scope):
    from mctm_replica.standin.engine import collations

    args = _args(tr, node, scope)
    if len(args) != 2 or not all(a.is_const for a in args):
        raise SqlError(50000, "The SQL Server stand-in supports COLLATIONPROPERTY with constant arguments only.")
    coll = collations.try_lookup(None if args[0].const is None else str(args[0].const))
    prop = str(args[1].const).lower()
    value = None
    if coll is not None:  # NULL for an unknown name or property, as SQL Server answers
        value = {"codepage": coll.code_page, "lcid": coll.lcid, "comparisonstyle": coll.comparison_style,
                 "version": coll.version}.get(prop)
    d = Decl("int")
    return Typed(tr.emit_const(value, d), d)


def _scope_identity(tr, node, scope):
    v = tr.s.last_identity
    return Typed("NULL" if v is None else f"CAST({v} AS DECIMAL(38,0))", Decl("numeric", precision=38, scale=0))


def _switchoffset(tr, node, scope):
    """SWITCHOFFSET(datetimeoffset, '+hh:mm'): the same instant shown at another offset."""
    import re

    value, offset = _args(tr, node, scope)
    m = re.fullmatch(r"\s*([+-])(\d{2}):(\d{2})\s*", str(offset.const)) if offset.is_const else None
    if m is None or value.decl is None or value.decl.type != "datetimeoffset":
        raise SqlError(50000, "The SQL Server stand-in supports SWITCHOFFSET only of a datetimeoffset "
                              "to a constant '+hh:mm' offset.")
    minutes = (1 if m.group(1) == "+" else -1) * (int(m.group(2)) * 60 + int(m.group(3)))
    if abs(minutes) > 14 * 60:
        raise SqlError(9810, "The timezone provided to builtin function switchoffset is invalid.")
    return Typed(dto_switched(value.sql, minutes), value.decl, nullable=value.nullable)


def _isnull_like(tr, node, scope):
    return tr.x_Coalesce(exp.Coalesce(this=node.expressions[0], expressions=node.expressions[1:], is_null=True), scope)


def _quotename(tr, node, scope):
    """QUOTENAME(name[, quote]): nvarchar(258), NULL for a name over 128 characters."""
    args = _args(tr, node, scope)
    if not 1 <= len(args) <= 2:
        raise SqlError(174, "The quotename function requires 1 to 2 argument(s).")
    quote_char = "["
    if len(args) == 2:
        if not args[1].is_const or not isinstance(args[1].const, str):
            raise SqlError(50000, "The SQL Server stand-in supports QUOTENAME only with a constant quote character.")
        quote_char = args[1].const[:1]
    close = {"[": "]", "]": "]", "(": ")", ")": ")", "<": ">", ">": ">", "{": "}", "}": "}"}.get(quote_char, quote_char)
    opener = {"]": "[", ")": "(", ">": "<", "}": "{"}.get(quote_char, quote_char)
    if quote_char not in "[]\"'`(){}<>":
        return Typed("CAST(NULL AS VARCHAR)", Decl("nvarchar", length=258))
    x = f"CAST(({args[0].sql}) AS VARCHAR)"
    esc = close.replace("'", "''")
    body = f"'{opener.replace(chr(39), chr(39) * 2)}' || replace({x}, '{esc}', '{esc}{esc}') || '{esc}'"
    return Typed(f"CASE WHEN length({x}) > 128 THEN NULL ELSE {body} END", Decl("nvarchar", length=258))


FUNCTIONS: dict[str, Callable] = {
    "QUOTENAME": _quotename,
    "GETDATE": _getdate, "GETUTCDATE": _getutcdate, "SYSDATETIME": _sysdatetime,
    "SYSUTCDATETIME": _sysutcdatetime, "SYSDATETIMEOFFSET": _sysdatetimeoffset, "NEWID": _newid,
    "MIN_ACTIVE_ROWVERSION": _min_active_rowversion,
    "LEN": _len, "DATALENGTH": _datalength, "DB_NAME": _db_name, "SCHEMA_NAME": _schema_name,
    "SUSER_NAME": _login, "SUSER_SNAME": _login, "SYSTEM_USER": _login, "USER_NAME": _user_name,
    "CURRENT_USER": _user_name, "HOST_NAME": _host_name, "APP_NAME": _app_name, "OBJECT_ID": _object_id,
    "SERVERPROPERTY": _serverproperty, "DATABASEPROPERTYEX": _databasepropertyex,
    "COLLATIONPROPERTY": _collationproperty, "SCOPE_IDENTITY": _scope_identity, "NCHAR": _nchar,
    "COLUMNPROPERTY": columnproperty, "PARSENAME": parsename,
    "HASHBYTES": hashbytes, "SWITCHOFFSET": _switchoffset,
}

# Permission checks live with their own concern (a single sysadmin login).
from mctm_replica.standin.engine.permissions import has_perms_by_name  # noqa: E402

FUNCTIONS["HAS_PERMS_BY_NAME"] = has_perms_by_name

# Change Tracking's functions live with the rest of it (engine/change_tracking).
from mctm_replica.standin.engine.change_tracking import FUNCTIONS as _CT_FUNCTIONS  # noqa: E402

FUNCTIONS.update(_CT_FUNCTIONS)
