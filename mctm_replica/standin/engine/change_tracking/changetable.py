"""CHANGETABLE(CHANGES ...) / CHANGETABLE(VERSION ...) and the Change Tracking functions.

The net effect of a key's changes after ``last_sync_version`` follows what SQL
Server returns (probed behaviour, see the tests):

* SYS_CHANGE_VERSION: the latest change's version;
* SYS_CHANGE_CREATION_VERSION: the latest insert's version among those changes, else NULL;
* SYS_CHANGE_OPERATION: 'D' if the last change was a delete -- also for a row
  inserted and deleted after the baseline, which SQL Server reports as 'D', not
  as nothing; else 'I' if the first change after the baseline was an insert (the
  row did not exist then); else 'U' (a delete and re-insert of a key is an update);
* SYS_CHANGE_COLUMNS (tables WITH TRACK_COLUMNS_UPDATED = ON, operation 'U'
  only): SQL Server's mask, 4 zero bytes then each updated column_id as a
  little-endian int in order of first update; NULL when one UPDATE set every
  non-key column or the key was deleted and re-inserted;
* a NULL version returns every change; a negative or future one none.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.tokens import TokenType

from mctm_replica.standin.contract import SqlError
from mctm_replica.standin.engine.catalog import quote
from mctm_replica.standin.engine.change_tracking.state import current_version_sql, hidden, registry, side_table
from mctm_replica.standin.engine.decl import Decl
from mctm_replica.standin.engine.typed import Scope, Source, Typed

BIG = Decl("bigint")
_OUT = [("SYS_CHANGE_VERSION", BIG), ("SYS_CHANGE_CREATION_VERSION", BIG),
        ("SYS_CHANGE_OPERATION", Decl("nchar", length=1)), ("SYS_CHANGE_COLUMNS", Decl("varbinary", length=4100)),
        ("SYS_CHANGE_CONTEXT", Decl("varbinary", length=128))]
_LE_INT = "printf('%02x%02x%02x%02x', x & 255, (x >> 8) & 255, (x >> 16) & 255, (x >> 24) & 255)"


def parse_changetable(self):
    """sqlglot FUNCTION_PARSERS entry: CHANGETABLE(CHANGES t, v) / CHANGETABLE(VERSION t, (cols), (values))."""
    kind = self._curr.text.upper() if self._curr else ""
    if kind not in ("CHANGES", "VERSION"):
        self.raise_error("Expected CHANGES or VERSION")
    self._advance()
    table = self._parse_table_parts()
    self._match(TokenType.COMMA)
    if kind == "CHANGES":
        args = [self._parse_unary()]
    else:
        args = [exp.Tuple(expressions=self._parse_wrapped_csv(self._parse_column))]
        self._match(TokenType.COMMA)
        args.append(exp.Tuple(expressions=self._parse_wrapped_csv(self._parse_bitwise)))
    return self.expression(exp.Anonymous(this="CHANGETABLE", expressions=[exp.var(kind), table, *args]))


def is_changetable(node: exp.Expression) -> bool:
    return isinstance(node, exp.Anonymous) and node.name.upper() == "CHANGETABLE"


def _tracked_table(tr, table: exp.Table):
    from mctm_replica.standin.engine.query import written_name

    s = tr.s
    written = written_name(table)
    schema = table.text("db").lower()
    if schema in ("sys", "information_schema"):
        raise SqlError(22107, f"Object '{written}' is of a data type that is not supported by the CHANGETABLE "
                              "function. The object must be a user-defined table.")
    info = s.lookup_table(table.text("catalog"), table.text("db"), table.name)
    if info is None:
        raise SqlError(208, f"Invalid object name '{written}'.")
    if info.kind != "BASE TABLE":
        raise SqlError(22107, f"Object '{written}' is of a data type that is not supported by the CHANGETABLE "
                              "function. The object must be a user-defined table.")
    from mctm_replica.standin.engine.change_tracking.capture import tracks

    track = tracks(s, info)
    if track is None:
        raise SqlError(22105, f"Change tracking is not enabled on table '{written}'.")
    return info, track


def changetable_source(tr, table: exp.Table, scope: Scope) -> tuple[str, Source]:
    """SQL and Source for ``CHANGETABLE(...) AS alias`` in FROM."""
    node = table.this
    alias = table.alias
    if not alias:
        raise SqlError(22104, "A table returned by the CHANGETABLE function must be aliased.")
    kind = node.expressions[0].name.upper()
    info, track = _tracked_table(tr, node.expressions[1])
    keys = [info.column(c) for c in info.pk[1]]
    side, commits = side_table(info.alias, info.object_id), hidden(info.alias, "ct_commits")
    key_out = ", ".join(f"k{i} AS {quote(c.name)}" for i, c in enumerate(keys))
    k_list = ", ".join(f"k{i}" for i in range(len(keys)))
    if kind == "CHANGES":
        arg = node.expressions[2]
        last = tr.expr(arg, scope)
        if last.decl is not None and last.decl.type not in ("tinyint", "smallint", "int", "bigint", "bit",
                                                              "decimal", "numeric"):
            raise SqlError(8114, f"Error converting data type {last.decl.type} to bigint.")
        lv = f"CAST({last.sql} AS BIGINT)"
        cond = f"({lv} IS NULL OR ({lv} >= 0 AND c.version > {lv}))"
        op = ("CASE WHEN arg_max(op, (v, seq)) = 'D' THEN 'D' WHEN arg_min(op, (v, seq)) = 'I' THEN 'I' "
              "ELSE 'U' END")
        if track[0]:
            cols = (f"CASE WHEN op = 'U' AND all_listed THEN from_hex('00000000' || array_to_string(list_transform("
                    f"list_filter(ids, lambda x, i: list_position(ids, x) = i), lambda x: {_LE_INT}), '')) END")
            agg_cols = (", flatten(list(cols ORDER BY v, seq) FILTER (WHERE op = 'U' AND cols IS NOT NULL)) AS ids, "
                        "bool_and(op = 'D' OR (op = 'U' AND cols IS NOT NULL)) AS all_listed")
        else:
            cols, agg_cols = "CAST(NULL AS BLOB)", ""
        sql = (f"SELECT v AS \"SYS_CHANGE_VERSION\", cv AS \"SYS_CHANGE_CREATION_VERSION\", op AS "
               f"\"SYS_CHANGE_OPERATION\", {cols} AS \"SYS_CHANGE_COLUMNS\", CAST(NULL AS BLOB) AS "
               f"\"SYS_CHANGE_CONTEXT\", {key_out} FROM (SELECT {k_list}, max(v) AS v, "
               f"max(v) FILTER (WHERE op = 'I') AS cv, {op} AS op{agg_cols} FROM (SELECT s.*, c.version AS v "
               f"FROM {side} AS s JOIN {commits} AS c ON c.tx = s.tx WHERE {cond}) AS e GROUP BY {k_list}) AS g")
        outs = list(_OUT)
        nullables = [False, True, False, True, True]
    else:
        cols_t, vals_t = node.expressions[2], node.expressions[3]
        names = [c.name for c in cols_t.expressions]
        pk_low = [c.name.lower() for c in keys]
        for n in names:
            if n.lower() not in pk_low:
                raise SqlError(22111, f"The column '{n}' specified in the CHANGETABLE(VERSION ...) function is not "
                                      f"part of the primary key for table '{info.name}'.")
        if len(names) != len(keys) or len({n.lower() for n in names}) != len(names):
            raise SqlError(22110, "The number of columns specified in the CHANGETABLE(VERSION ...) function does not "
                                  f"match the number of primary key columns for table '{info.name}'.")
        if len(vals_t.expressions) != len(names):
            raise SqlError(22103, "The arguments supplied are not valid for the VERSION option of the CHANGETABLE "
                                  "function.")
        given = {}
        for n, v in zip(names, vals_t.expressions):
            c = info.column(n)
            given[c.name.lower()] = tr.convert(tr.expr(v, scope), c.decl).sql
        where = " AND ".join(f"u.{quote(c.name)} = {given[c.name.lower()]}" for c in keys)
        match = " AND ".join(f"s.k{i} = u.{quote(c.name)}" for i, c in enumerate(keys))
        version = (f"(SELECT CASE WHEN bool_or(c.version IS NULL) THEN NULL ELSE max(c.version) END FROM {side} AS s "
                   f"LEFT JOIN {commits} AS c ON c.tx = s.tx WHERE {match})")
        key_sel = ", ".join(f"u.{quote(c.name)}" for c in keys)
        sql = (f"SELECT {version} AS \"SYS_CHANGE_VERSION\", CAST(NULL AS BLOB) AS \"SYS_CHANGE_CONTEXT\", {key_sel} "
               f"FROM {info.qualified} AS u WHERE {where}")
        outs = [_OUT[0], _OUT[4]]
        nullables = [True, True]
    outs += [(c.name, c.decl) for c in keys]
    nullables += [False] * len(keys)
    names = [n for n, _ in outs]
    renames = table.args["alias"].columns
    if renames:
        names = [c.name for c in renames] + names[len(renames):]
    src = Source(alias, names, [d for _, d in outs], nullables, [False] * len(outs), match_names=(alias.lower(),))
    col_sql = "(" + ", ".join(quote(n) for n in names) + ")"
    return f"({sql}) AS {quote(alias)}{col_sql}", src


# ------------------------------------------------------------------ scalar functions
def _current_version(tr, node, scope):
    if node.expressions:
        raise SqlError(174, "The change_tracking_current_version function requires 0 argument(s).", severity=15)
    alias = tr.s.engine.alias(tr.s.database)
    if not registry(tr.s.engine).settings(alias).change_tracking:
        return Typed("CAST(NULL AS BIGINT)", BIG)
    return Typed(current_version_sql(alias), BIG)


def _min_valid_version(tr, node, scope):
    if len(node.expressions) != 1:
        raise SqlError(174, "The change_tracking_min_valid_version function requires 1 argument(s).", severity=15)
    arg = tr.expr(node.expressions[0], scope)
    if arg.decl is None or arg.decl.type not in ("int", "smallint"):
        raise SqlError(8116, f"Argument data type {arg.decl.type if arg.decl else 'NULL'} is invalid for argument 1 "
                             "of change_tracking_min_valid_version function.")
    alias = tr.s.engine.alias(tr.s.database)
    if not registry(tr.s.engine).settings(alias).change_tracking:
        return Typed("CAST(NULL AS BIGINT)", BIG)
    return Typed(f"(SELECT min_valid_version FROM {hidden(alias, 'ct_tables')} WHERE object_id = {arg.sql})", BIG)


def _is_column_in_mask(tr, node, scope):
    if len(node.expressions) != 2:
        raise SqlError(174, "The change_tracking_is_column_in_mask function requires 2 argument(s).", severity=15)
    col, mask = (tr.expr(a, scope) for a in node.expressions)
    if col.decl is None or col.decl.type != "int":
        raise SqlError(8116, f"Argument data type {col.decl.type if col.decl else 'NULL'} is invalid for argument 1 "
                             "of change_tracking_is_column_in_mask function.")
    # NULL (every column) -> 1; else look for the id among the 4-byte entries after the header
    if mask.is_const and mask.const is not None and (not isinstance(mask.const, bytes) or len(mask.const) < 8):
        raise SqlError(22101, "The value supplied for the change_columns argument of CHANGE_TRACKING_IS_COLUMN_IN_MASK "
                              "function is not valid. The value must be a bitmask returned by the CHANGETABLE(CHANGES "
                              "...) function.")
    m = f"CAST({mask.sql} AS BLOB)"
    hexed = f"hex({m})"
    sql = (f"CAST(CASE WHEN {m} IS NULL THEN 1 WHEN octet_length({m}) < 8 THEN 0 "
           f"WHEN list_contains(list_transform(range(0, (octet_length({m}) - 4) // 4), "
           f"lambda i: substr({hexed}, 9 + i * 8, 8)), {_hex_le(col.sql)}) THEN 1 ELSE 0 END AS INTEGER)")
    return Typed(sql, Decl("int"))


def _hex_le(x: str) -> str:
    v = f"CAST({x} AS INTEGER)"
    return (f"upper(printf('%02x%02x%02x%02x', {v} & 255, ({v} >> 8) & 255, ({v} >> 16) & 255, "
            f"(CAST({v} AS BIGINT) >> 24) & 255))")


FUNCTIONS = {
    "CHANGE_TRACKING_CURRENT_VERSION": _current_version,
    "CHANGE_TRACKING_MIN_VALID_VERSION": _min_valid_version,
    "CHANGE_TRACKING_IS_COLUMN_IN_MASK": _is_column_in_mask,
}
