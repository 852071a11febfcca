"""Pure logic: every T-SQL text is built in ``mctm_replica/tsql/`` (DEVELOPERS.md: "All T-SQL
text is built in one place"), apart from the SQL Server stand-in, which is SQL Server.

The rule, read from each module's syntax tree (docstrings and comments do not count):

* a string literal that starts like a statement (``SELECT``, ``SET``, ``BEGIN``, ...) and
  carries something only T-SQL has -- a bracket-quoted name, a ``WITH (NOLOCK)`` hint,
  ``COUNT_BIG``, ``OBJECT_ID``, ``sys.`` views, ``INFORMATION_SCHEMA``, ``@@``, ``N'..'``
  literals, ``TOP (``, ``TRAN``, Change Tracking's functions ... -- is T-SQL;
* so is any string holding a ``WITH (NOLOCK)`` hint, and any f-string that calls the
  T-SQL quoting functions (``quote_tsql``, ``qualified``, ``table_ref``) to put a name in.

PostgreSQL's SQL has none of these markers (and is built with ``psycopg2.sql``), so it is
not flagged. Passing ``qualified(schema, table)`` as a parameter value is not building T-SQL.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mctm_replica"
ALLOWED = ("tsql", "standin")  # top-level subpackages that may build T-SQL
_STATEMENT = re.compile(r"^\s*\(?\s*(SELECT|INSERT|UPDATE|DELETE|SET|EXEC|EXECUTE|DECLARE|BEGIN|ALTER|CREATE|GRANT|"
                        r"WITH|IF|USE|MERGE|DROP)\b")
_TSQL_ONLY = re.compile(r"\[[^\]\s][^\]]*\]|WITH \(NOLOCK\)|COUNT_BIG|OBJECT_ID\(|\bsys\.[a-z_]+|INFORMATION_SCHEMA|"
                        r"SERVERPROPERTY|CHANGETABLE|CHANGE_TRACKING|MIN_ACTIVE_ROWVERSION|@@|HASHBYTES|"
                        r"\bN'|TOP \(|\bTRAN\b|DATALENGTH|SYSDATETIME|DB_NAME\(|\bdbo\.|nvarchar\(")
_QUOTING = {"quote_tsql", "qualified", "table_ref"}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            found.add(id(body[0].value))
    return found


def tsql_built_in(source: str) -> list[tuple[int, str]]:
    """(line, text) of every place ``source`` builds T-SQL by the module docstring's rule."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            text = node.value
            if "WITH (NOLOCK)" in text or (_STATEMENT.match(text) and _TSQL_ONLY.search(text)):
                found.append((node.lineno, text[:80]))
        elif isinstance(node, ast.JoinedStr):
            head = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
            calls = {c.func.id if isinstance(c.func, ast.Name) else c.func.attr
                     for v in node.values if isinstance(v, ast.FormattedValue)
                     for c in ast.walk(v) if isinstance(c, ast.Call) and isinstance(c.func, (ast.Name, ast.Attribute))}
            if calls & _QUOTING or (_STATEMENT.match(head) and _TSQL_ONLY.search(head)):
                found.append((node.lineno, head[:80]))
    return found


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in ALLOWED)


def test_no_module_outside_the_tsql_package_builds_tsql():
    offenders = [f"{p.relative_to(PACKAGE)}:{line}: {text!r}"
                 for p in _modules() for line, text in tsql_built_in(p.read_text(encoding="utf-8"))]
    assert offenders == [], "T-SQL built outside mctm_replica/tsql/:\n" + "\n".join(offenders)


@pytest.mark.parametrize("code", [
    'q = "SELECT COUNT_BIG(*) FROM [dbo].[t]"',
    'q = f"SELECT {cols} FROM {qualified(s, t)}"',
    'hint = " WITH (NOLOCK)"',
    'q = f"{quote_tsql(c)} >= %s"',
    'q = "SELECT name FROM sys.databases WHERE name = DB_NAME()"',
    'q = "BEGIN TRAN"',
    'q = "\\nSELECT c.COLUMN_NAME FROM INFORMATION_SCHEMA.COLUMNS AS c"',
    'q = f"SELECT MAX({col}) FROM {t} WITH (NOLOCK)"',
])
def test_the_rule_finds_tsql_however_it_is_written(code):
    assert tsql_built_in(code), code


@pytest.mark.parametrize("code", [
    '"""SELECT COUNT_BIG(*) FROM [dbo].[t] -- a docstring"""',
    'q = sql.SQL("SELECT count(*) FROM {}.{}")',
    'cur.execute("SELECT current_setting(\'server_encoding\')")',
    'cur.execute(reads.count_sql("dbo", "t", nolock=True))',
    'cur.execute(ESTIMATE_SQL, (qualified(schema, table),))',
    'msg = f"cannot count `{schema}.{table}` in {where}"',
    'label = "nvarchar Japanese"',
])
def test_the_rule_leaves_postgresql_messages_and_parameters_alone(code):
    assert tsql_built_in(code) == [], code
