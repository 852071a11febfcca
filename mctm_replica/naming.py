"""Identifier handling on both sides: ``schema.table`` parsing, column renaming, limits.

The replica's readers get lower snake_case column names by default (``CustomerID`` ->
``customer_id``, ``"SIM No"`` -> ``sim_no``) because unquoted PostgreSQL identifiers fold to
lower case: a column called ``CustomerID`` in PostgreSQL would have to be double-quoted in
every query the application writes. ``column_naming: preserve`` keeps source names as they
are for tables whose readers expect that.

T-SQL identifiers are bracketed in one place, :func:`mctm_replica.tsql.quoting.quote_tsql`;
PostgreSQL identifiers go through ``psycopg2.sql.Identifier``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Literal

ColumnNaming = Literal["snake_case", "preserve"]

# SQL Server's sysname is nvarchar(128); PostgreSQL truncates identifiers past 63 bytes
# (NAMEDATALEN - 1) silently, so a longer target name must be an error, not a surprise.
TSQL_MAX_IDENTIFIER = 128
PG_MAX_IDENTIFIER_BYTES = 63

_UNQUOTED_TSQL = re.compile(r"[A-Za-z_@#][A-Za-z0-9_@#$]*")
_PART = re.compile(r"\[((?:[^\]]|\]\])+)\]|([^.\[\]]+)")
_CAMEL_LOWER_UPPER = re.compile(r"([a-z0-9])([A-Z])")
_CAMEL_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
_NON_WORD = re.compile(r"[^0-9a-zA-Z\u0080-\uffff]+")


class IdentifierError(ValueError):
    """An identifier that cannot be used as written."""


def split_qualified(name: str) -> tuple[str, str]:
    """Parse ``schema.table`` where each part may be ``[bracket quoted]`` (``]]`` escapes ``]``).

    >>> split_qualified("dbo.customer")
    ('dbo', 'customer')
    >>> split_qualified("[sales data].[odd]]name]")
    ('sales data', 'odd]name')
    """
    parts: list[str] = []
    pos = 0
    while True:
        m = _PART.match(name, pos)
        if m is None:
            raise IdentifierError(
                f"`{name}` is not `schema.table`; quote parts with brackets, e.g. `dbo.[SIM No]`"
            )
        part = m.group(1).replace("]]", "]") if m.group(1) is not None else m.group(2)
        if m.group(2) is not None and part != part.strip():
            raise IdentifierError(f"`{name}` has spaces around `{part.strip()}`; bracket-quote it")
        parts.append(part)
        pos = m.end()
        if pos == len(name):
            break
        if name[pos] != ".":
            raise IdentifierError(f"`{name}` has unexpected text at position {pos}")
        pos += 1
    if len(parts) != 2:
        raise IdentifierError(f"`{name}` must have exactly two parts, `schema.table`")
    for part in parts:
        if not part or any(ord(ch) < 32 for ch in part) or len(part) > TSQL_MAX_IDENTIFIER:
            raise IdentifierError(f"`{name}` has an empty, over-long or control-character part")
    return parts[0], parts[1]


def to_snake_case(name: str) -> str:
    """``CustomerID`` -> ``customer_id``, ``UserAgent`` -> ``user_agent``, ``SIM No`` -> ``sim_no``."""
    s = _CAMEL_ACRONYM.sub(r"\1_\2", name)
    s = _CAMEL_LOWER_UPPER.sub(r"\1_\2", s)
    s = _NON_WORD.sub("_", s).strip("_").lower()
    return s


def check_pg_identifier(name: str, *, what: str) -> str:
    if not name:
        raise IdentifierError(f"{what} is empty")
    if "\x00" in name:
        raise IdentifierError(f"{what} `{name!r}` contains a NUL character")
    if len(name.encode()) > PG_MAX_IDENTIFIER_BYTES:
        raise IdentifierError(
            f"{what} `{name}` is longer than PostgreSQL's {PG_MAX_IDENTIFIER_BYTES}-byte limit"
        )
    return name


def target_column_names(
    source_names: Iterable[str],
    *,
    naming: ColumnNaming,
    renames: Mapping[str, str] | None = None,
    table: str,
) -> dict[str, str]:
    """Map each source column to its PostgreSQL name; explicit ``renames`` win.

    Raises :class:`IdentifierError` naming both source columns when two land on one name.
    """
    renames = {k.lower(): v for k, v in (renames or {}).items()}
    result: dict[str, str] = {}
    owner: dict[str, str] = {}
    for source in source_names:
        target = renames.get(source.lower())
        if target is None:
            target = source if naming == "preserve" else to_snake_case(source)
        if not target:
            raise IdentifierError(
                f"table `{table}`: column `{source}` has no usable snake_case name; "
                f"add it to `column_names` in tables.yaml (e.g. `{source}: col_1`)"
            )
        check_pg_identifier(target, what=f"table `{table}`: target column for `{source}`")
        if "%" in target:
            # psycopg2 reads every % of a statement run with parameters as a placeholder,
            # identifiers included, and the replica's statements take parameters
            raise IdentifierError(
                f"table `{table}`: target column `{target}` (from `{source}`) contains `%`, which psycopg2 "
                f"reads as a query parameter; give it a name without `%` under `column_names` in tables.yaml "
                f"(e.g. `{source}: {to_snake_case(source) or 'col_1'}`)")
        if target in owner:
            raise IdentifierError(
                f"table `{table}`: source columns `{owner[target]}` and `{source}` both become "
                f"`{target}`; give one of them a name under `column_names` in tables.yaml"
            )
        owner[target] = source
        result[source] = target
    return result


def is_plain_tsql_identifier(name: str) -> bool:
    return _UNQUOTED_TSQL.fullmatch(name) is not None


#: Metadata key lineage and catalog tools read for the table an asset is (Dagster's convention).
TABLE_NAME_KEY = "dagster/table_name"


def replica_table_name(database: str | None, schema: str, table: str) -> str:
    """The replica's fully qualified name, ``<database>.<schema>.<table>``.

    The database is ``PG_DB`` as the definitions load (not secret, like the ports); where it
    is unset (a unit test, a UI with no connection settings) the name is ``<schema>.<table>``
    rather than a guessed database.
    """
    return ".".join(p for p in (database, schema, table) if p)
