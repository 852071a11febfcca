"""The copy's and the checks' reads of a source table. Every value is a ``%s`` parameter."""

from __future__ import annotations

from collections.abc import Sequence

from mctm_replica.tsql.quoting import quote_tsql, table_ref

#: The highest rowversion no open transaction can still commit below.
MIN_ACTIVE_ROWVERSION_SQL = "SELECT MIN_ACTIVE_ROWVERSION()"


def select_sql(schema: str, table: str, columns: Sequence[str], *, nolock: bool) -> str:
    """``SELECT [a], [b] FROM [s].[t] WITH (NOLOCK)`` with every identifier bracket-quoted."""
    cols = ", ".join(quote_tsql(c) for c in columns)
    return f"SELECT {cols} FROM {table_ref(schema, table, nolock=nolock)}"


def order_by(columns: Sequence[str]) -> str:
    """`` ORDER BY [a], [b]``."""
    return " ORDER BY " + ", ".join(quote_tsql(c) for c in columns)


def count_sql(schema: str, table: str, *, nolock: bool, where: str = "") -> str:
    """``SELECT COUNT_BIG(*) FROM [s].[t]``, with a ``where`` condition if given."""
    return f"SELECT COUNT_BIG(*) FROM {table_ref(schema, table, nolock=nolock)}" + (f" WHERE {where}" if where else "")


def key_span_sql(schema: str, table: str, key: str, *, nolock: bool) -> str:
    """The lowest and highest value of column ``key``."""
    k = quote_tsql(key)
    return f"SELECT MIN({k}), MAX({k}) FROM {table_ref(schema, table, nolock=nolock)}"


def max_sql(schema: str, table: str, column: str, *, nolock: bool) -> str:
    """The column's current maximum."""
    return f"SELECT MAX({quote_tsql(column)}) FROM {table_ref(schema, table, nolock=nolock)}"


def at_least(column: str, *, cast_type: str | None = None, or_null: bool = False) -> str:
    """``[col] >= %s`` (the parameter cast to ``cast_type`` if given), ``OR [col] IS NULL``
    when ``or_null``: a watermark's changed rows."""
    q = quote_tsql(column)
    value = f"CAST(%s AS {cast_type})" if cast_type else "%s"
    return f"({q} >= {value} OR {q} IS NULL)" if or_null else f"{q} >= {value}"


def in_slice(column: str) -> str:
    """``[col] >= %s AND [col] < %s``: one partition's rows, bounds passed as parameters."""
    q = quote_tsql(column)
    return f"{q} >= %s AND {q} < %s"


def outside_slices(column: str) -> str:
    """Rows in no partition: NULL, before the first, at or after the end of the last."""
    q = quote_tsql(column)
    return f"{q} IS NULL OR {q} < %s OR {q} >= %s"


def outside_count_sql(schema: str, table: str, column: str, *, nolock: bool) -> str:
    """Rows in no partition and how many of them have a NULL partition column."""
    q = quote_tsql(column)
    return (f"SELECT COUNT_BIG(*), COUNT_BIG(CASE WHEN {q} IS NULL THEN 1 END) "
            f"FROM {table_ref(schema, table, nolock=nolock)} WHERE {outside_slices(column)}")


def between(column: str) -> str:
    """`` WHERE [col] BETWEEN %s AND %s``."""
    return f" WHERE {quote_tsql(column)} BETWEEN %s AND %s"


def where(query: str, condition: str) -> str:
    """``query`` (a SELECT without WHERE) narrowed by ``condition``."""
    return f"{query} WHERE {condition}"


def half_open(key: str, *, lower: bool, upper: bool) -> str:
    """``[key] >= %s AND [key] < %s`` (either bound left out); empty when neither is given."""
    k = quote_tsql(key)
    return " AND ".join([f"{k} >= %s"] * lower + [f"{k} < %s"] * upper)
