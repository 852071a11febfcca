"""tables.yaml's ``parallel_readers`` (a table) and ``max_connections`` (a source).

``parallel_readers: N`` (default 1) reads a full load through N processes, each with its
own source connection and key range; it needs a single-column integer key, which only
the live source can confirm (:func:`integer_key`, checked before any row is read).

``max_connections`` caps the connections the copies of one source hold at once. It
defaults to ``max_concurrent_tables`` -- one connection per table copied at a time, what
the source always got -- so parallel readers need the source's owner to raise it
explicitly. tables.yaml is refused when the ``max_concurrent_tables`` tables of a source
with the most readers could together exceed it (:func:`check_connection_caps`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: More readers than this only multiplies connections: the one COPY that receives every
#: reader's rows is the limit well before (see README "Performance").
MAX_READERS = 16
#: SQL Server integer types a key range can be cut on.
INTEGER_KEY_TYPES = ("tinyint", "smallint", "int", "bigint")


def _error(message: str) -> Exception:
    from mctm_replica.config import ConfigError  # config imports this module

    return ConfigError(message)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_parallel_readers(entry: dict, where: str) -> int:
    readers = entry.get("parallel_readers", 1)
    if not _whole(readers) or not 1 <= readers <= MAX_READERS:
        raise _error(f"{where}: `parallel_readers` must be a whole number from 1 to {MAX_READERS} (reader "
                     f"processes of a full load, each with its own connection), got {readers!r}")
    key = entry.get("primary_key")
    if readers > 1 and isinstance(key, list) and len(key) != 1:
        raise _error(f"{where}: `parallel_readers: {readers}` needs a single integer key column to cut "
                     f"ranges on, but `primary_key` has {len(key)}; set one column or remove "
                     f"`parallel_readers`")
    return readers


def parse_max_connections(body: dict, where: str, max_concurrent_tables: int) -> int:
    cap = body.get("max_connections", max_concurrent_tables)
    if not _whole(cap) or cap < 1:
        raise _error(f"{where}: `max_connections` must be a whole number >= 1 (the most source "
                     f"connections this source's copies hold at once), got {cap!r}")
    if cap < max_concurrent_tables:
        raise _error(f"{where}: `max_connections` ({cap}) is below `max_concurrent_tables` "
                     f"({max_concurrent_tables}); every table copied at once needs a connection")
    return cap


def check_connection_caps(sources: Iterable[Any], tables: Iterable[Any], path: Any) -> None:
    """Refuse tables.yaml when one source's busiest copies could exceed its ``max_connections``.

    The source pool lets ``max_concurrent_tables`` steps read at once; a step holds at most
    ``parallel_readers`` connections (a check, one). The worst case is the readers of the
    ``max_concurrent_tables`` tables with the most readers, added up.
    """
    tables = list(tables)
    for source in sources:
        own = sorted(((t.parallel_readers, t) for t in tables if t.source == source.name),
                     key=lambda rt: -rt[0])
        busiest = own[: source.max_concurrent_tables]
        worst = sum(r for r, _ in busiest)
        if worst > source.max_connections:
            names = ", ".join(f"`{t.source_schema}.{t.source_table}` ({r})" for r, t in busiest if r > 1)
            raise _error(
                f"{path}: source `{source.name}`: `parallel_readers` of {names} with "
                f"`max_concurrent_tables: {source.max_concurrent_tables}` can open {worst} connections at "
                f"once, more than `max_connections: {source.max_connections}`; raise `max_connections` "
                f"(if the source can take {worst} concurrent scans) or lower `parallel_readers`")


def integer_key(plan: Any) -> str:
    """The source name of the single integer key column a parallel read cuts ranges on.

    Raises the ConfigError naming the table when its key is not one integer column."""
    spec = plan.spec
    where = f"table `{spec.source}:{spec.source_schema}.{spec.source_table}`"
    keyed = [c for c in plan.columns if c.target_name in plan.primary_key]
    if len(plan.primary_key) != 1 or len(keyed) != 1:
        raise _error(f"{where}: `parallel_readers: {spec.parallel_readers}` needs a single-column key to "
                     f"cut ranges on; its key is {plan.primary_key or 'missing'}; set `primary_key` to one "
                     f"integer column in tables.yaml or remove `parallel_readers`")
    column = keyed[0]
    if column.source_type.name not in INTEGER_KEY_TYPES:
        raise _error(f"{where}: `parallel_readers: {spec.parallel_readers}` needs an integer key "
                     f"({', '.join(INTEGER_KEY_TYPES)}); `{column.source_name}` is "
                     f"{column.source_type.declared()}; set `primary_key` to an integer column in "
                     f"tables.yaml or remove `parallel_readers`")
    return column.source_name
