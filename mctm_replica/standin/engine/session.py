"""One client connection: its DuckDB cursor, transaction state and T-SQL batch loop.

``execute`` parses a whole batch first (a syntax error anywhere rejects the
batch, as in SQL Server), then translates and runs one statement at a time,
lazily: the next statement runs only after the previous result set has been
consumed, and result rows stream from DuckDB in batches.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from mctm_replica.standin.contract import (
    DatabaseChanged, Done, ResultSet, RowCount, SqlError, StatementResult,
)
from mctm_replica.standin.engine import ddl, dml
from mctm_replica.standin.engine.catalog import TableInfo, load_schemas, load_tables, object_id, quote
from mctm_replica.standin.engine.convert import MACROS
from mctm_replica.standin.engine.decl import decl_from_duckdb, to_column
from mctm_replica.standin.engine.dialect import StandinTSQL
from mctm_replica.standin.engine.functions import UTF8_COLLATIONS
from mctm_replica.standin.engine.errors import map_error
from mctm_replica.standin.engine.query import translate_query, unsupported
from mctm_replica.standin.engine.packing import needs_types, pack_query
from mctm_replica.standin.engine.rows import converters_for, stream_rows
from mctm_replica.standin.engine.translate import Translator
from mctm_replica.standin.engine.typed import Scope

logging.getLogger("sqlglot").setLevel(logging.ERROR)

DEFAULT_TEXTSIZE = 4096  # SQL Server's @@TEXTSIZE after SET TEXTSIZE 0
_ACCEPTED_SETS = {
    "ansi_nulls", "ansi_padding", "ansi_warnings", "ansi_null_dflt_on", "ansi_null_dflt_off",
    "quoted_identifier", "concat_null_yields_null", "arithabort", "arithignore", "numeric_roundabort",
    "dateformat", "datefirst", "language", "lock_timeout", "deadlock_priority", "cursor_close_on_commit",
    "ansi_defaults", "xact_abort", "statistics", "nocount", "textsize", "implicit_transactions",
    "transaction", "context_info", "query_governor_cost_limit", "fmtonly", "rowcount", "showplan_all",
    "showplan_text", "showplan_xml", "noexec", "parseonly", "forceplan", "no_browsetable",
    "transaction_isolation_level", "standin_identity_insert_on", "standin_identity_insert_off",
}
_ISOLATION = re.compile(
    r"\bSET\s+TRANSACTION\s+ISOLATION\s+LEVEL\s+(READ\s+UNCOMMITTED|READ\s+COMMITTED|REPEATABLE\s+READ|SNAPSHOT|SERIALIZABLE)",
    re.I)
_NAME = r'(?:\[[^\]]*(?:\]\][^\]]*)*\]|"[^"]*"|[\w#@$]+)'
_IDENTITY_INSERT = re.compile(rf"\bSET\s+IDENTITY_INSERT\s+({_NAME}(?:\s*\.\s*{_NAME})*)\s+(ON|OFF)\b", re.I)
_KEYWORDS = frozenset(
    "ADD ALL ALTER AND ANY AS ASC BEGIN BETWEEN BY CASE CHECK COLUMN COMMIT CONSTRAINT CREATE CROSS DATABASE "
    "DEFAULT DELETE DESC DISTINCT DROP ELSE END EXEC EXECUTE EXISTS FOREIGN FROM FULL GROUP HAVING IDENTITY IN "
    "INDEX INNER INSERT INTO IS JOIN KEY LEFT LIKE NOT NULL OF ON OR ORDER OUTER PRIMARY RIGHT ROLLBACK SCHEMA "
    "SELECT SET TABLE THEN TO TOP TRAN TRANSACTION TRUNCATE UNION UNIQUE UPDATE USE VALUES VIEW WHEN WHERE WITH".split())
_DELETE_TOP = re.compile(r"^\s*top\s*\(\s*(\d+)\s*\)", re.I)
# Only the server collation exists here: char/varchar/text live in its code page
# 1252 and compare case-insensitively. Another COLLATE (Japanese_CI_AS stores
# varchar in code page 932, _CS_ compares case-sensitively) would silently give
# other bytes or results, so it is refused instead of ignored.
_SUPPORTED_COLLATIONS = frozenset({"sql_latin1_general_cp1_ci_as", "database_default"})
# Binary collations of the same code page 1252 change only how values compare (by code
# point), never their bytes: accepted on expressions, where COLLATE "binary" in DuckDB
# does the same. A column declared with one is still refused (the catalog has only the
# server collation).
BINARY_COLLATIONS = frozenset({"latin1_general_bin", "latin1_general_bin2",
                               "latin1_general_100_bin", "latin1_general_100_bin2"})
# Strings, comments and quoted identifiers are skipped so "collate" inside them is no keyword.
_COLLATE_SCAN = re.compile(
    r"N?'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/|\[(?:[^\]]|\]\])*\]|\"[^\"]*\""
    r"|\bCOLLATE\s+(\[(?:[^\]]|\]\])*\]|\w+)",
    re.I | re.S,
)


def _check_collations(sql: str) -> None:
    if "collate" not in sql.lower():
        return
    for m in _COLLATE_SCAN.finditer(sql):
        name = m.group(1)
        if name is None:
            continue
        name = name[1:-1].replace("]]", "]") if name.startswith("[") else name
        if name.lower() not in _SUPPORTED_COLLATIONS | BINARY_COLLATIONS | UTF8_COLLATIONS:
            raise _unsupported_collation(name)


def _unsupported_collation(name: str) -> SqlError:
    return SqlError(
        50000,
        f"The SQL Server stand-in does not support collation '{name}'; it only has the server "
        "collation SQL_Latin1_General_CP1_CI_AS and, on expressions, Latin1_General binary "
        "collations (use nvarchar for text outside code page 1252).",
    )


def _server_collation_dropped(node: exp.Expression) -> exp.Expression:
    """COLLATE of the server collation changes nothing; a binary one stays for the
    translator on an expression, and is refused on a column or a database."""
    if isinstance(node, exp.Collate):
        return node if node.expression.name.lower() in BINARY_COLLATIONS | UTF8_COLLATIONS else node.this
    declared = node.this if isinstance(node, (exp.CollateColumnConstraint, exp.CollateProperty)) \
        else node.args.get("collate")
    if isinstance(declared, exp.Expression) and declared.name.lower() in BINARY_COLLATIONS | UTF8_COLLATIONS:
        raise _unsupported_collation(declared.name)
    return node


class DuckSession:
    """contract.EngineSession on one DuckDB cursor."""

    def __init__(self, engine, database: str, *, spid: int, login: str) -> None:
        self.engine = engine
        self.spid = spid
        self.login = login
        self.database = engine.display_name(database)
        self._trancount = 0
        self.nocount = False
        # @@TEXTSIZE: SQL Server starts ODBC-flagged logins (pytds, FreeTDS after its SET batch)
        # unlimited and others at DEFAULT_TEXTSIZE; the front end may set this attribute after login.
        self.textsize = 2147483647
        self.implicit_transactions = False
        self.identity_insert: set[str] = set()
        self.last_identity: int | None = None
        self.last_rowcount = 0
        self._cache: dict[str, tuple[int, dict[tuple[str, str], TableInfo]]] = {}
        self._local_version = 0
        self.cur = engine.new_cursor()
        for stmt in MACROS:
            self.cur.execute(stmt)
        self._use(self.database)

    # ------------------------------------------------------------ contract
    @property
    def trancount(self) -> int:
        return self._trancount

    def begin(self) -> None:
        if self._trancount == 0:
            self.cur.execute("BEGIN TRANSACTION")
        self._trancount += 1

    def commit(self) -> None:
        if self._trancount == 0:
            raise SqlError(3902, "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.")
        self._trancount -= 1
        if self._trancount == 0:
            try:
                self.cur.execute("COMMIT")
            except duckdb.Error as e:
                self._local_version += 1
                raise map_error(e) from e
            finally:
                self.engine.rowversions_committed(self)

    def rollback(self) -> None:
        if self._trancount == 0:
            raise SqlError(3903, "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.")
        self._trancount = 0
        try:
            self.cur.execute("ROLLBACK")
        finally:
            self._local_version += 1
            self.engine.rowversions_committed(self)

    def close(self) -> None:
        try:
            if self._trancount:
                self.cur.execute("ROLLBACK")
        except duckdb.Error:
            pass
        self._trancount = 0
        self.engine.session_closed(self)
        try:
            self.cur.close()
        except duckdb.Error:
            pass

    # ------------------------------------------------------------ catalog access
    def ddl_changed(self) -> None:
        self._local_version += 1
        self.engine.bump_version()

    def all_tables(self, db: str) -> dict[tuple[str, str], TableInfo]:
        version = self.engine.version * 1_000_000 + self._local_version
        key = db.lower()
        hit = self._cache.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        alias = self.engine.alias(db)
        if alias is None:
            raise SqlError(911, f"Database '{db}' does not exist. Make sure that the name is entered correctly.")
        tables = load_tables(self.cur, self.engine.display_name(db), alias)
        self._cache[key] = (version, tables)
        return tables

    def all_schemas(self, db: str) -> list[str]:
        return load_schemas(self.cur, self.engine.alias(db))

    def database_display(self, name: str) -> str:
        if not self.engine.has_database(name):
            raise SqlError(911, f"Database '{name}' does not exist. Make sure that the name is entered correctly.")
        return self.engine.display_name(name)

    def database_ids(self) -> list[tuple[str, int]]:
        return self.engine.database_ids()

    def object_id(self, db: str, schema: str, name: str) -> int:
        return object_id(db, schema, name)

    def lookup_table(self, catalog: str, schema: str, name: str) -> TableInfo | None:
        db = catalog or self.database
        if catalog and not self.engine.has_database(catalog):
            return None
        return self.all_tables(db).get(((schema or "dbo").lower(), name.lower()))

    def count_rows(self, t: TableInfo) -> int:
        return int(self.cur.execute(f"SELECT count(*) FROM {t.qualified}").fetchone()[0])

    def bulk_insert(self, table: str, columns: list[str], rows: list[tuple]) -> int:
        """Fast load of rows in the contract's representations (no T-SQL translation)."""
        return dml.bulk_insert(self, table, columns, rows)

    # ------------------------------------------------------------ batches
    def execute(self, sql: str, params: Mapping[str, object] | None = None) -> Iterator[StatementResult]:
        statements = self._parse(sql)
        for stmt in statements:
            if stmt is None:
                continue
            try:
                result = self._run(stmt, params)
            except SqlError:
                self._after_error()
                raise
            except duckdb.Error as e:
                self._after_error()
                raise map_error(e) from e
            if result is not None:
                yield result

    def _after_error(self) -> None:
        """DuckDB aborts a transaction on any failed statement: mirror that as XACT_ABORT."""
        if self._trancount:
            try:
                self.cur.execute("SELECT 1").fetchall()
            except duckdb.Error:
                self._trancount = 0
                self._local_version += 1
                try:
                    self.cur.execute("ROLLBACK")
                except duckdb.Error:
                    pass

    def _parse(self, sql: str) -> list[exp.Expression | None]:
        _check_collations(sql)
        # sqlglot cannot parse isolation levels; they are accepted and have no effect
        sql = _ISOLATION.sub("SET TRANSACTION_ISOLATION_LEVEL ON", sql)
        sql = _IDENTITY_INSERT.sub(
            lambda m: f"SET STANDIN_IDENTITY_INSERT_{m.group(2).upper()} '{m.group(1).replace(chr(39), chr(39) * 2)}'", sql)
        try:
            statements = sqlglot.parse(sql, read=StandinTSQL)
        except ParseError as e:
            near = ""
            if e.errors:
                near = (e.errors[0].get("highlight") or "").strip()
            if near.upper() in _KEYWORDS:
                raise SqlError(156, f"Incorrect syntax near the keyword '{near}'.", severity=15) from e
            raise SqlError(102, f"Incorrect syntax near '{near}'.", severity=15) from e
        except TokenError as e:
            raise SqlError(105, f"Unclosed quotation mark after the character string '{sql[-20:]}'.", severity=15) from e
        if "collate" in sql.lower():
            statements = [None if st is None else st.transform(_server_collation_dropped) for st in statements]
        return statements

    def _use(self, name: str) -> None:
        alias = self.engine.alias(name)
        if alias is None:
            raise SqlError(911, f"Database '{name}' does not exist. Make sure that the name is entered correctly.")
        self.cur.execute(f"USE {quote(alias)}.dbo")
        self.database = self.engine.display_name(name)
        self.engine.session_uses(self, self.database)

    def _implicit_begin(self) -> None:
        if self.implicit_transactions and self._trancount == 0:
            self.begin()

    def _run(self, stmt: exp.Expression, params) -> StatementResult | None:
        tr = Translator(self, dict(params or {}))
        if isinstance(stmt, (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery)):
            self._implicit_begin()
            return self._query(stmt, tr)
        if isinstance(stmt, (exp.Insert, exp.Update, exp.Delete, exp.TruncateTable)):
            self._implicit_begin()
            count = dml.run(self, stmt, tr)
            self.last_rowcount = count
            if isinstance(stmt, exp.TruncateTable):
                return RowCount(0)
            return Done() if self.nocount else RowCount(count)
        if isinstance(stmt, exp.Use):
            old = self.database
            self._use(stmt.this.name if stmt.this is not None else "")
            return DatabaseChanged(old, self.database)
        if isinstance(stmt, exp.Transaction):
            self.begin()
            return Done()
        if isinstance(stmt, exp.Commit):
            self.commit()
            return Done()
        if isinstance(stmt, exp.Rollback):
            if stmt.args.get("savepoint"):
                raise unsupported("ROLLBACK to a savepoint")
            self.rollback()
            return Done()
        if isinstance(stmt, exp.Set):
            self._set(stmt)
            return Done()
        if isinstance(stmt, (exp.Create, exp.Drop, exp.Alter)):
            ddl.run(self, stmt, tr)
            return Done()
        if isinstance(stmt, exp.Execute):
            name = stmt.this.sql(dialect="tsql") if stmt.this is not None else "?"
            raise SqlError(2812, f"Could not find stored procedure '{name}'.")
        if isinstance(stmt, exp.Command):
            return self._command(stmt)
        raise unsupported(f"the {type(stmt).__name__.upper()} statement")

    def _query(self, stmt: exp.Expression, tr: Translator) -> ResultSet:
        sql, outs = translate_query(tr, stmt, Scope())
        params = tr.params_for(sql)
        decls = [t.decl for _name, t in outs]
        try:
            bound = [str(t) for t in self.cur.sql(sql, params=params).types] if needs_types(decls) else None
            sql, packed = pack_query(sql, decls, bound)
            res = self.cur.execute(sql, params)
        except duckdb.Error as e:
            raise map_error(e) from e
        columns = []
        for (name, t), desc in zip(outs, res.description):
            d = t.decl if t.decl is not None else decl_from_duckdb(str(desc[1]))
            columns.append(to_column(name, d, nullable=t.nullable, identity=t.identity))
        duck_types = [str(d[1]) for d in res.description]
        convs = converters_for(columns, duck_types, outs, self.textsize, packed)
        return ResultSet(columns, stream_rows(self, res, convs), packed)

    def _set(self, stmt: exp.Set) -> None:
        for item in stmt.expressions:
            if item.args.get("kind") and str(item.args.get("kind")).upper() == "TRANSACTION":
                continue  # isolation levels: accepted, DuckDB MVCC is snapshot isolation
            target = item.this
            if isinstance(target, exp.EQ):
                name = target.this.name.lower()
                value = target.expression
                if name.startswith("standin_identity_insert_"):
                    self._identity_insert(value.name, name.endswith("_on"))
                    continue
                text = value.name.upper() if isinstance(value, (exp.Var, exp.Column, exp.Identifier, exp.Literal, exp.Boolean)) else value.sql().upper()
                if isinstance(value, exp.Boolean):
                    text = "ON" if value.this else "OFF"
                if name.startswith("@"):
                    raise unsupported("variables")
                self._set_option(name, text)
            else:
                raise unsupported(f"SET {item.sql('tsql')}")

    def _set_option(self, name: str, value: str) -> None:
        if name not in _ACCEPTED_SETS:
            raise SqlError(195, f"'{name.upper()}' is not a recognized SET option.", severity=15)
        on = value == "ON"
        if name == "nocount":
            self.nocount = on
        elif name == "textsize":
            if not value.lstrip("-").isdigit():
                raise SqlError(102, f"Incorrect syntax near '{value}'.", severity=15)
            n = int(value)
            # 0 restores SQL Server's default; -1 (or any negative) means unlimited
            self.textsize = DEFAULT_TEXTSIZE if n == 0 else (2147483647 if n < 0 else n)
        elif name == "implicit_transactions":
            self.implicit_transactions = on
        elif name == "rowcount" and value not in ("0",):
            raise unsupported("SET ROWCOUNT")
        elif name in ("fmtonly", "noexec", "parseonly", "showplan_all", "showplan_text", "showplan_xml") and on:
            raise unsupported(f"SET {name.upper()} ON")

    def _identity_insert(self, name: str, on: bool) -> None:
        tbl = sqlglot.parse_one(f"SELECT 1 FROM {name}", read=StandinTSQL).find(exp.Table)
        info = self.lookup_table(tbl.text("catalog"), tbl.text("db"), tbl.name)
        if info is None:
            raise SqlError(208, f"Invalid object name '{name}'.")
        if not any(c.identity for c in info.columns):
            raise SqlError(8106, f"Table '{info.schema}.{info.name}' does not have the identity property. "
                                 "Cannot perform SET operation.")
        key = info.qualified.lower()
        if on:
            self.identity_insert = {key}
        else:
            self.identity_insert.discard(key)

    def _command(self, stmt: exp.Command) -> StatementResult:
        verb = stmt.this.upper() if isinstance(stmt.this, str) else str(stmt.this).upper()
        rest = stmt.expression.name if isinstance(stmt.expression, exp.Expression) else str(stmt.expression or "")
        if verb == "SET":
            m = re.match(r"^\s*(\w+)\s+(.*?)\s*;?\s*$", rest, re.S)
            if m:
                self._set_option(m.group(1).lower(), m.group(2).upper())
                return Done()
        if verb == "PRINT":
            return Done()
        if verb in ("EXEC", "EXECUTE"):
            name = rest.split()[0] if rest.split() else "?"
            raise SqlError(2812, f"Could not find stored procedure '{name}'.")
        if verb == "DELETE":
            m = _DELETE_TOP.match(rest)
            if m:
                count = dml.delete_top(self, int(m.group(1)), rest[m.end():])
                self.last_rowcount = count
                return Done() if self.nocount else RowCount(count)
        raise unsupported(f"the statement '{verb} {rest[:40]}'")
