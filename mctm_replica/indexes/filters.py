"""A filtered index's predicate, from SQL Server's stored text to PostgreSQL.

SQL Server stores ``filter_definition`` normalized: ``([Status]=(1))``,
``([ICCID] IS NOT NULL)``, ``([a]=(1) OR [a]=(2))`` for ``a IN (1, 2)``, ``[b]=N'x'``.
What is translated: bracketed columns of the copy (renamed through the table's column
mapping), number and string constants, comparisons, ``IS [NOT] NULL``, AND, OR, NOT and
parentheses. Anything else -- a function, a date computed on the server, a column not
copied, a constant whose meaning depends on the PostgreSQL session (a string compared
with a ``timestamptz``) -- raises :class:`Untranslatable` with the reason; the index is
then reported as not created rather than created with another meaning.

The result is an index predicate, so a predicate that selects slightly different rows
(PostgreSQL compares text case-sensitively, SQL Server's ``_CI_`` collations do not)
only changes which queries PostgreSQL may answer from the index, never a query's result.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from psycopg2 import sql

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<col>\[(?:[^\]]|\]\])+\])
    | (?P<num>\(\s*[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\s*\)|[-+]?\d+(?:\.\d+)?)
    | (?P<str>N?'(?:[^']|'')*')
    | (?P<op><>|!=|<=|>=|!<|!>|=|<|>)
    | (?P<paren>[()])
    | (?P<word>[A-Za-z_]+)
    )""", re.VERBOSE)
_KEYWORDS = {"AND", "OR", "NOT", "IS", "NULL"}
_OP_MAP = {"!=": "<>", "!<": ">=", "!>": "<="}
_NUMERIC = re.compile(r"smallint|integer|bigint|numeric.*|real|double precision")
# Types a quoted constant means the same thing for on both servers, whatever the session.
_STRING_OK = re.compile(r"character.*|text|date|timestamp(\(\d\))? without time zone|time.*without time zone|uuid")


class Untranslatable(ValueError):
    """The predicate has a form with no safe PostgreSQL equivalent here; the message says which."""


def translate_filter(text: str, columns: Mapping[str, tuple[str, str]]) -> sql.Composed:
    """PostgreSQL predicate for SQL Server's ``filter_definition`` ``text``.

    ``columns`` maps each copied source column (lower case) to ``(target name, pg type)``.
    """
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text.rstrip()):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise Untranslatable(f"cannot read `{text[pos:pos + 20]}` in the filter")
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "word":
            if value.upper() not in _KEYWORDS:
                raise Untranslatable(f"`{value}` (a function or keyword) has no translation")
            value = value.upper()
        tokens.append((kind, value))
        pos = m.end()
    parts: list[sql.Composable] = []
    for i, (kind, value) in enumerate(tokens):
        if kind == "col":
            parts.append(sql.Identifier(_column(value, columns)[0]))
        elif kind in ("num", "str"):
            parts.append(_constant(kind, value, _compared_type(tokens, i, columns)))
        elif kind == "op":
            parts.append(sql.SQL(_OP_MAP.get(value, value)))
        else:
            parts.append(sql.SQL(value))
    return sql.SQL(" ").join(parts)


def _column(token: str, columns: Mapping[str, tuple[str, str]]) -> tuple[str, str]:
    name = token[1:-1].replace("]]", "]")
    found = columns.get(name.lower())
    if found is None:
        raise Untranslatable(f"it uses column `{name}`, which is not copied to the replica")
    return found


def _compared_type(tokens: list[tuple[str, str]], i: int, columns: Mapping[str, tuple[str, str]]) -> str | None:
    """The PostgreSQL type of the column the constant at ``i`` is compared with, if any."""
    for op_at, col_at in ((i - 1, i - 2), (i + 1, i + 2)):
        if 0 <= col_at < len(tokens) and tokens[op_at][0] == "op" and tokens[col_at][0] == "col":
            return _column(tokens[col_at][1], columns)[1]
    return None


def _constant(kind: str, value: str, pg_type: str | None) -> sql.Composable:
    if kind == "num":
        number = value.strip("() \t")
        if pg_type == "boolean":
            if number not in ("0", "1"):
                raise Untranslatable(f"a bit column is compared with {number}")
            return sql.SQL("true" if number == "1" else "false")
        if pg_type is not None and not _NUMERIC.fullmatch(pg_type):
            raise Untranslatable(f"a {pg_type} column is compared with the number {number}")
        return sql.SQL(number)
    if pg_type is not None and not _STRING_OK.fullmatch(pg_type):
        raise Untranslatable(f"a {pg_type} column is compared with the string {value}")
    return sql.Literal(value[1:-1].replace("''", "'") if value.startswith("'") else value[2:-1].replace("''", "'"))
