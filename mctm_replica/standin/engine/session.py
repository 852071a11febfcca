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

from mctm_replica.standin.contract import (
    DatabaseChanged, Done, ResultSet, RowCount, SqlError, StatementResult,
)
from mctm_replica.standin.engine import change_tracking as ct
from mctm_replica.standin.engine import ddl, dml
from mctm_replica.standin.engine.catalog import TableInfo, load_schemas, load_tables, object_id, quote
from mctm_replica.standin.engine.catalog_ddl import index_options_first
from mctm_replica.standin.engine.convert import MACROS
from mctm_replica.standin.engine.decl import decl_from_duckdb, to_column
from mctm_replica.standin.engine.dialect import StandinTSQL
from mctm_replica.standin.engine import collations
from mctm_replica.standin.engine.errors import map_error
from mctm_replica.standin.engine.query import translate_query, unsupported
from mctm_replica.standin.engine.packing import needs_types, pack_query
from mctm_replica.standin.engine.parsing import parse_statement, rewrite_batch
from mctm_replica.standin.engine.rows import converters_for, stream_rows
from mctm_replica.standin.engine.script import parse_script, run_script
from mctm_replica.standin.engine.setopts import set_option
from mctm_replica.standin.engine.sysviews_server import DEFAULT_ISOLATION, ISOLATION_CODES
from mctm_replica.standin.engine.translate import Translator
from mctm_replica.standin.engine.typed import Scope

logging.getLogger("sqlglot").setLevel(logging.ERROR)

_DELETE_TOP = re.compile(r"^\s*top\s*\(\s*(\d+)\s*\)", re.I)


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
        self.fmtonly = False  # SET FMTONLY ON: result metadata only, nothing is changed
        self.isolation_level = DEFAULT_ISOLATION
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
                with ct.committing(self):  # Change Tracking versions this transaction's changes
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
        """Run a batch. ``params`` may carry ``declarations`` (contract.Params): the
        parameter declaration list, whose types the parameters then have."""
        self.batch_text = sql  # CREATE VIEW keeps it as its definition (sys.sql_modules), as SQL Server does
        declarations = getattr(params, "declarations", None)
        declared = None
        if declarations:
            from mctm_replica.standin.engine.script import parse_declarations

            declared = {n: d for n, (d, _out) in parse_declarations(declarations).items()}
        nodes = self._parse(sql)
        it = run_script(self, nodes, params, declared)
        while True:
            try:
                result = next(it)
            except StopIteration:
                return
            except SqlError:
                self._after_error()
                raise
            except duckdb.Error as e:
                self._after_error()
                raise map_error(e) from e
            yield result

    def validate(self, sql: str) -> None:
        """Parse a batch without running it (sp_prepare compiles, so reports syntax errors)."""
        self._parse(sql)

    def done(self) -> StatementResult:
        return Done()

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

    def _parse(self, sql: str) -> list:
        return parse_script(self, rewrite_batch(sql))

    def _parse_statement(self, sql: str, tokens: list | None = None, source: str = "") -> exp.Expression:
        """One statement's text (batch.py found its bounds) as a sqlglot tree."""
        return parse_statement(sql, tokens, source)

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

    def _run(self, stmt: exp.Expression, params, declared=None) -> StatementResult | None:
        # literals and CASTs to varchar take the collation of the database in use
        collations.CURRENT_DEFAULT.set(self.engine.database_collation(self.database))
        tr = Translator(self, dict(params or {}), declared)
        if isinstance(stmt, (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery, exp.Insert,
                             exp.Update, exp.Delete)):
            ct.check_snapshot(self, stmt)  # error 3952
        if isinstance(stmt, (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery)):
            self._implicit_begin()
            return self._query(stmt, tr)
        if self.fmtonly and isinstance(stmt, (exp.Insert, exp.Update, exp.Delete, exp.TruncateTable,
                                              exp.Create, exp.Drop, exp.Alter)):
            return Done()  # SET FMTONLY ON: statements that change data or schema do not run
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
        if isinstance(stmt, (exp.Create, exp.Drop, exp.Alter)):
            ddl.run(self, stmt, tr)
            return Done()
        if isinstance(stmt, exp.Execute) and ct.is_cleanup(stmt):
            ct.cleanup_procedure(self, stmt, tr)
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
        if self.fmtonly:  # SET FMTONLY ON: the columns only, as SQL Server answers
            return ResultSet(columns, iter(()), packed)
        convs = converters_for(columns, duck_types, outs, self.textsize, packed)
        return ResultSet(columns, stream_rows(self, res, convs), packed)

    def _set_option(self, name: str, value: str) -> None:
        if name == "transaction_isolation_level":  # reported by sys.dm_exec_sessions
            self.isolation_level = int(value)
            # only SNAPSHOT changes anything here (change_tracking.check_snapshot)
            self.isolation = "SNAPSHOT" if self.isolation_level == ISOLATION_CODES["SNAPSHOT"] else ""
        set_option(self, name, value)

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
        if verb == "ALTER" and ct.alter_command(self, rest):  # CHANGE_TRACKING, ALLOW_SNAPSHOT_ISOLATION
            return Done()
        if verb == "PRINT":
            return Done()
        reordered = index_options_first(rest) if verb == "CREATE" else None
        if reordered is not None:
            node = sqlglot.parse_one(f"CREATE {reordered}", read=StandinTSQL)
            if isinstance(node, exp.Create):
                ddl.run(self, node, None)
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
