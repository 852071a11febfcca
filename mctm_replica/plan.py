"""A table's replication plan: which source columns go where, as which PostgreSQL type.

The plan is computed from the live source schema on every run (introspection is one cheap
catalog query) and the table's entry in tables.yaml, before any row is read, so an
unmapped type, a bad include list or a name collision fails the run while the replica is
untouched. It is also what an asset hands its IO manager: :class:`ReplicaBatches`
couples the plan with a lazy stream of row batches from the source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mctm_replica.config import ConfigError, TableSpec
from mctm_replica.naming import target_column_names
from mctm_replica.partitions import PartitionRun
from mctm_replica.resources.mssql import SourceTable
from mctm_replica.typemap import SourceType, lookup, pg_type
from mctm_replica.watermark import Watermark, resolve_watermark

if TYPE_CHECKING:  # desired.py imports this module
    from mctm_replica.indexes.desired import IndexPlan

Batches = AbstractContextManager[Iterator[list[tuple]]]


@dataclass(frozen=True)
class ColumnPlan:
    source_name: str
    source_type: SourceType
    target_name: str
    pg_type: str  # as PostgreSQL's format_type() prints it
    nullable: bool
    value: str  # loader value family: 'text' (NUL-stripped), 'bytes' (hex) or 'plain'


@dataclass(frozen=True)
class TablePlan:
    spec: TableSpec
    columns: list[ColumnPlan]
    primary_key: list[str]  # target column names, in key order; empty = no key
    watermark: Watermark | None = None  # incremental tables only

    @property
    def source_columns(self) -> list[str]:
        return [c.source_name for c in self.columns]

    @property
    def target_columns(self) -> list[str]:
        return [c.target_name for c in self.columns]


@dataclass(frozen=True)
class SourceQuery:
    """One statement a run sends to the source, as sent: T-SQL with ``%s`` placeholders
    (pymssql's). The asset opens its streams from these same objects, and the dry run
    (``mctm-replica plan``) prints them, so the two cannot drift apart."""

    sql: str
    what: str  # for error messages: "`dbo.t`", "the keys of `dbo.t`"
    params: tuple = ()  # values for its ``%s`` placeholders (a partition's bounds)


@dataclass
class ReplicaBatches:
    """What a replica asset returns: the plan and ways to open the source's row batches.

    Each opener is a context manager yielding an iterator of row batches (lists of tuples);
    leaving it closes the source connection. The IO manager decides which it reads, because
    it holds the stored watermark, in the transaction that will replace it.
    """

    plan: TablePlan
    open: Callable[[], Batches]  # every row, in ``plan.columns`` order
    source_rows_hint: int | None = None  # sys.partitions row count, for progress/ETA
    # Run config: reload every row, and rebuild columns the source dropped or retyped.
    full_refresh: bool = False
    # Incremental tables: rows whose watermark is >= the bound given (``plan.columns`` order)...
    changes: Callable[[Any], Batches] | None = None
    # ...and the primary-key columns of every source row, for delete reconciliation.
    keys: Callable[[], Batches] | None = None
    # ...and the highest watermark this run may store, read before the scan starts.
    cap: Callable[[], Any] | None = None
    # Run config: reconcile deletes on this run whatever the table's `deletes` setting says.
    reconcile_deletes: bool = False
    # Run config: accept, on this run only, deleting more than `max_delete_fraction` of the rows.
    allow_mass_delete: bool = False
    # ``open`` and ``changes`` yield (csv_line, watermark...) rows that SQL Server formatted
    # (mctm_replica.tsql.csv_lines) instead of typed values in ``plan.columns`` order.
    lines: bool = False
    # The indexes the replica table should have; None: leave indexes alone.
    indexes: IndexPlan | None = None
    # The statements behind ``open``/``changes``/``keys``/``cap`` by those names.
    queries: dict[str, SourceQuery] = field(default_factory=dict)
    # ``mode: change_tracking``: the checked Change Tracking reads of the table
    # (mctm_replica.resources.change_tracking.ChangeTrackingSource).
    ct: Any = None
    # Time-partitioned tables: the one partition this run replaces (``open`` reads only it).
    partition: PartitionRun | None = None


def build_plan(spec: TableSpec, source: SourceTable) -> TablePlan:
    where = f"table `{spec.source}:{spec.source_name}`"
    by_lower = {c.name.lower(): c for c in source.columns}

    def resolve(names: tuple[str, ...], key: str) -> list[str]:
        missing = [n for n in names if n.lower() not in by_lower]
        if missing:
            raise ConfigError(
                f"{where}: `{key}` names column(s) {missing} that the source does not have "
                f"(it has {[c.name for c in source.columns]}); fix tables.yaml"
            )
        return [by_lower[n.lower()].name for n in names]

    if spec.include is not None:
        chosen = resolve(spec.include, "columns.include")
        selected = [c for c in source.columns if c.name in chosen]
    else:
        dropped = set(resolve(spec.exclude, "columns.exclude"))
        selected = [c for c in source.columns if c.name not in dropped]
    if not selected:
        raise ConfigError(f"{where}: no columns left to copy; fix `columns` in tables.yaml")

    names = target_column_names(
        [c.name for c in selected],
        naming=spec.column_naming,
        renames=spec.column_names,
        table=spec.source_name,
    )
    unknown_renames = [k for k in spec.column_names if k.lower() not in by_lower]
    if unknown_renames:
        raise ConfigError(f"{where}: `column_names` renames unknown column(s) {unknown_renames}")

    columns = [
        ColumnPlan(
            source_name=c.name,
            source_type=c.type,
            target_name=names[c.name],
            pg_type=pg_type(c.type, table=spec.source_name, column=c.name),
            nullable=c.nullable,
            value=lookup(c.type).value,
        )
        for c in selected
    ]

    key_source = resolve(spec.primary_key, "primary_key") if spec.primary_key else source.primary_key
    selected_names = {c.name for c in selected}
    left_out = [k for k in key_source if k not in selected_names]
    if left_out:
        raise ConfigError(
            f"{where}: primary key column(s) {left_out} are excluded from the copy; include "
            f"them or set `primary_key` in tables.yaml"
        )
    watermark = None
    if spec.incremental is not None:
        (wm_name,) = resolve((spec.incremental.watermark,), "watermark")
        wm_column = next(c for c in columns if c.source_name == wm_name) if wm_name in selected_names else None
        if wm_column is None:
            raise ConfigError(f"{where}: the watermark column `{wm_name}` is excluded from the copy; "
                              f"include it in `columns`")
        watermark = resolve_watermark(
            table=f"{spec.source}:{spec.source_name}", column=wm_name, source_type=wm_column.source_type,
            target_column=wm_column.target_name, nullable=wm_column.nullable,
            lookback=spec.incremental.lookback,
        )
    return TablePlan(spec, columns, [names[k] for k in key_source], watermark)
