"""Map DuckDB exceptions to the errors SQL Server would raise.

Conversions the translator wraps in ``error('__MSSQL__<n>__message')`` come back
verbatim; constraint and catalog errors are rebuilt from the declared catalog
so the messages name SQL Server's constraints and tables.
"""

from __future__ import annotations

import re

import duckdb

from mctm_replica.standin.contract import SqlError

_MSSQL = re.compile(r"__MSSQL__(\d+)__(.*)", re.S)
_DUP = re.compile(r'Duplicate key "(.*)" violates (primary key|unique) constraint', re.S)
_NOTNULL = re.compile(r"NOT NULL constraint failed: ([^.]+)\.(.+)")
_RANGE_TYPES = {"UINT8": "tinyint", "INT16": "smallint", "INT32": "int", "INT64": "bigint",
                "TINYINT": "tinyint", "UTINYINT": "tinyint", "SMALLINT": "smallint", "INTEGER": "int", "BIGINT": "bigint"}


def map_error(e: Exception, context: dict | None = None) -> SqlError:
    """A SqlError for DuckDB exception ``e``; ``context`` has the statement's target table."""
    msg = str(e)
    m = _MSSQL.search(msg)
    if m:
        text = m.group(2).split("\n")[0].strip()
        return SqlError(int(m.group(1)), text)
    ctx = context or {}
    if isinstance(e, duckdb.ConstraintException):
        d = _DUP.search(msg)
        if d:
            info = ctx.get("table")
            kind = d.group(2)
            values = ", ".join(v.split(": ", 1)[-1] for v in d.group(1).split(", "))
            cname, label = "PK", "PRIMARY KEY"
            if info is not None:
                if kind == "primary key" and info.pk:
                    cname = info.pk[0]
                elif info.uniques:
                    cname, label = info.uniques[0][0], "UNIQUE KEY"
                obj = f"{info.schema}.{info.name}"
            else:
                obj = "?"
            if kind != "primary key":
                label = "UNIQUE KEY"
            return SqlError(2627, f"Violation of {label} constraint '{cname}'. Cannot insert duplicate key in "
                                  f"object '{obj}'. The duplicate key value is ({values}).", severity=14)
        n = _NOTNULL.search(msg)
        if n:
            info = ctx.get("table")
            col = n.group(2).strip().strip('"')
            where = f"{info.db}.{info.schema}.{info.name}" if info is not None else n.group(1)
            if info is not None and info.column(col):
                col = info.column(col).name
            verb = ctx.get("verb", "INSERT")
            return SqlError(515, f"Cannot insert the value NULL into column '{col}', table '{where}'; column "
                                 f"does not allow nulls. {verb} fails.", state=2)
        return SqlError(547, msg.split("\n")[0])
    if isinstance(e, (duckdb.ConversionException, duckdb.OutOfRangeException)):
        if "out of range" in msg or "overflow" in msg.lower():
            t = "numeric" if "DECIMAL" in msg else "int"
            for k, v in _RANGE_TYPES.items():
                if f"type {k}" in msg or f"destination type {k}" in msg or f"to {k}" in msg:
                    t = v
            return SqlError(8115, f"Arithmetic overflow error converting expression to data type {t}.")
        return SqlError(245, f"Conversion failed: {msg.splitlines()[0]}")
    if isinstance(e, duckdb.TransactionException) or "Conflict" in msg:
        return SqlError(1205, "Transaction (Process ID) was deadlocked on lock resources with another process "
                              "and has been chosen as the deadlock victim. Rerun the transaction.", severity=13)
    if isinstance(e, duckdb.CatalogException):
        fm = re.search(r"Scalar Function with name (\w+) does not exist", msg)
        if fm:
            return SqlError(195, f"'{fm.group(1)}' is not a recognized built-in function name.", severity=15)
        tm = re.search(r"Table with name (\S+) does not exist", msg)
        if tm:
            return SqlError(208, f"Invalid object name '{tm.group(1)}'.")
    if isinstance(e, duckdb.BinderException):
        cm = re.search(r'Referenced column "([^"]+)" not found', msg)
        if cm:
            return SqlError(207, f"Invalid column name '{cm.group(1)}'.")
        gm = re.search(r'column "([^"]+)" must appear in the GROUP BY clause', msg)
        if gm:
            return SqlError(8120, f"Column '{gm.group(1)}' is invalid in the select list because it is not contained "
                                  "in either an aggregate function or the GROUP BY clause.")
        fm = re.search(r"No function matches the given name and argument types '(\w+)\(", msg)
        if fm:
            return SqlError(8116, f"Argument data type is invalid for argument 1 of {fm.group(1)} function.")
    if isinstance(e, duckdb.ParserException):
        near = re.search(r'syntax error at or near "([^"]*)"', msg)
        return SqlError(102, f"Incorrect syntax near '{near.group(1) if near else ''}'.", severity=15)
    return SqlError(50000, "The SQL Server stand-in does not support this statement (DuckDB: "
                           + msg.splitlines()[0] + ")")
