"""T-SQL identifiers: brackets with ``]`` doubled, and table references with their hint."""

from __future__ import annotations

from mctm_replica.naming import TSQL_MAX_IDENTIFIER, IdentifierError


def quote_tsql(name: str) -> str:
    """Bracket-quote a T-SQL identifier, doubling ``]`` as SQL Server requires."""
    if not name or len(name) > TSQL_MAX_IDENTIFIER or "\x00" in name:
        raise IdentifierError(f"`{name}` is not a valid SQL Server identifier")
    return "[" + name.replace("]", "]]") + "]"


def qualified(schema: str, table: str) -> str:
    """``[schema].[table]``."""
    return f"{quote_tsql(schema)}.{quote_tsql(table)}"


def table_ref(schema: str, table: str, *, nolock: bool) -> str:
    """``[schema].[table] WITH (NOLOCK)``, or without the hint."""
    return qualified(schema, table) + (" WITH (NOLOCK)" if nolock else "")


def param_safe(quoted: str) -> str:
    """A quoted name inside text pymssql substitutes parameters into: its ``%`` doubled, so a
    ``%`` in a name is not read as a placeholder."""
    return quoted.replace("%", "%%")
