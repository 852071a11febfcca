"""Reading a T-SQL batch's text: the rewrites sqlglot needs, collation checks, and one
statement's text into a sqlglot tree with SQL Server's syntax error numbers.

Used by ``DuckSession`` (session.py); batch.py and script.py find the statements' bounds.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from mctm_replica.standin.contract import SqlError
from mctm_replica.standin.engine import collations
from mctm_replica.standin.engine.dialect import StandinTSQL
from mctm_replica.standin.engine.hashing import UTF8_COLLATIONS
from mctm_replica.standin.engine.sysviews_server import isolation_code

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
_CONTROL_FLOW = frozenset({"WHILE", "RETURN", "GOTO", "BREAK", "CONTINUE", "THROW", "WAITFOR"})
# Collations (see collations.py): a column or database may name any _CI_AS collation the
# stand-in knows (code page 1252, 932 or UTF-8); on an expression a binary collation
# compares by code point (DuckDB's "binary"), and a _CI_AS one changes nothing (all
# text compares case-insensitively). Any other name is refused with a clear error
# rather than silently ignored.
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
        if name.lower() in UTF8_COLLATIONS:
            continue  # an expression's UTF-8 bytes for HASHBYTES (translate.x_Collate checks where)
        if name.lower() != "database_default":
            coll = collations.lookup(name)  # error 50000 naming an unknown or unsupported one
            if coll.case_sensitive and not coll.binary:
                raise SqlError(50000, f"The SQL Server stand-in does not support collation '{coll.name}': "
                                      "it compares text case-insensitively, or by code point under a "
                                      "_BIN/_BIN2 collation.")


def _server_collation_dropped(node: exp.Expression) -> exp.Expression:
    """COLLATE on an expression: a binary one stays for the translator, a _CI_AS one
    changes nothing here; declared collations (column, database) go to ddl.py."""
    if isinstance(node, exp.Collate):
        name = node.expression.name
        if name.lower() in UTF8_COLLATIONS:
            return node  # HASHBYTES(..., CAST(x AS varchar) COLLATE ..._UTF8): the translator handles it
        binary = name.lower() != "database_default" and collations.lookup(name).binary
        return node if binary else node.this
    return node


def rewrite_batch(sql: str) -> str:
    """The batch with what sqlglot cannot parse rewritten; refuses unsupported collations."""
    _check_collations(sql)
    # sqlglot cannot parse isolation levels; the level is kept for sys.dm_exec_sessions only
    sql = _ISOLATION.sub(lambda m: f"SET TRANSACTION_ISOLATION_LEVEL {isolation_code(m.group(1))}", sql)
    return _IDENTITY_INSERT.sub(
        lambda m: f"SET STANDIN_IDENTITY_INSERT_{m.group(2).upper()} '{m.group(1).replace(chr(39), chr(39) * 2)}'", sql)


def parse_statement(sql: str, tokens: list | None = None, source: str = "") -> exp.Expression:
    """One statement's text (batch.py found its bounds) as a sqlglot tree."""
    word = sql.split(None, 1)[0].upper() if sql.strip() else ""
    if word in _CONTROL_FLOW:  # refused before the batch runs, so no half-run batch
        raise SqlError(50000, f"The SQL Server stand-in does not support {word} (only IF ... ELSE and "
                              "BEGIN ... END).")
    try:
        if tokens:  # already tokenized by batch.py
            parsed = StandinTSQL().parser().parse(tokens, source or sql)
        else:
            parsed = sqlglot.parse(sql, read=StandinTSQL)
        statements = [s for s in parsed if s is not None]
    except ParseError as e:
        near = ""
        if e.errors:
            near = (e.errors[0].get("highlight") or "").strip()
        if near.upper() in _KEYWORDS:
            raise SqlError(156, f"Incorrect syntax near the keyword '{near}'.", severity=15) from e
        raise SqlError(102, f"Incorrect syntax near '{near}'.", severity=15) from e
    except TokenError as e:
        raise SqlError(105, f"Unclosed quotation mark after the character string '{sql[-20:]}'.", severity=15) from e
    if len(statements) != 1:
        raise SqlError(102, f"Incorrect syntax near '{sql[:40]}'.", severity=15)
    stmt = statements[0]
    if "collate" in sql.lower():
        stmt = stmt.transform(_server_collation_dropped)
    return stmt
