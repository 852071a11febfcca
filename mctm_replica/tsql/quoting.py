"""T-SQL identifiers: brackets with ``]`` doubled, and table references with their hint."""

from __future__ import annotations

import re

from mctm_replica.naming import TSQL_MAX_IDENTIFIER, IdentifierError

# pymssql (2.x) reads every `%s` and `%d` in a statement as a positional parameter and
# `%(name)s` as a named one, inside brackets and quotes too, and has no escape for them
# (`%%` is sent as `%%`). A name holding one would be cut into the statement's values.
_PLACEHOLDER = re.compile(r"%[sd(]")


def quote_tsql(name: str) -> str:
    """Bracket-quote a T-SQL identifier, doubling ``]`` as SQL Server requires. Any other
    ``%`` is sent as it is; a name pymssql would read a parameter placeholder in is refused."""
    if not name or len(name) > TSQL_MAX_IDENTIFIER or "\x00" in name:
        raise IdentifierError(f"`{name}` is not a valid SQL Server identifier")
    if (m := _PLACEHOLDER.search(name)) is not None:
        raise IdentifierError(
            f"`{name}` contains `{m.group()}`, which pymssql (the SQL Server driver) reads as a query "
            f"parameter wherever it stands in a statement, with no way to escape it; leave the column out "
            f"(`columns: {{exclude: [{name}]}}` in tables.yaml) or rename it on the source")
    return "[" + name.replace("]", "]]") + "]"


def qualified(schema: str, table: str) -> str:
    """``[schema].[table]``."""
    return f"{quote_tsql(schema)}.{quote_tsql(table)}"


def table_ref(schema: str, table: str, *, nolock: bool) -> str:
    """``[schema].[table] WITH (NOLOCK)``, or without the hint."""
    return qualified(schema, table) + (" WITH (NOLOCK)" if nolock else "")
