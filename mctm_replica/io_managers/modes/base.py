"""The interface every load mode implements, and what the type handler tells a mode.

A mode answers the handler's questions about one run, in this order, all inside the
refresh transaction (:class:`~mctm_replica.io_managers.refresh.ReplicaBatchesTypeHandler`):

1. :meth:`LoadMode.decide` -- how this run loads (from stored state, run config and
   whether the table was just created); it may read its state ``FOR UPDATE``.
2. :meth:`LoadMode.reads` -- which source streams to stage, each a :class:`Read` into
   its own ``TEMP`` table (rows; for key reconciliation, the keys).
3. :meth:`LoadMode.apply` -- bring the live table to the staged rows (DML only; the
   handler has applied schema changes and locked against other writers), counting what it
   did and asking the :class:`~.guard.DeleteGuard` before deletes stand.
4. :meth:`LoadMode.save_state` -- store what the next run starts from (a watermark, a
   change-tracking version, a partition's bounds) in the same transaction.
5. :meth:`LoadMode.metadata` -- the mode's own materialization metadata.

A dry run (``mctm-replica plan``, run config ``dry_run: true``) asks only
:meth:`LoadMode.preview`, in a READ ONLY transaction, with ``run.dry_run`` set: what the
run would do, as a :class:`Preview`. The default asks :meth:`~LoadMode.decide` and
:meth:`~LoadMode.reads` (which must then write nothing and open no stream) and lists the
reads' source statements (:meth:`~LoadMode.planned_queries`); a mode adds its own facts
in :meth:`~LoadMode.preview_details`.

The handler keeps everything shared: the advisory lock, schema drift, the staging
COPYs, the lock and ``lock_timeout``, COMMIT/rollback and the common metadata. A new
mode (change tracking, time partitions) is a new class here, not branches there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dagster._core.storage.db_io_manager import TableSlice
from psycopg2 import sql

from mctm_replica.io_managers.copy_format import Encoder
from mctm_replica.io_managers.difference import Counts
from mctm_replica.io_managers.drift import ColumnChange
from mctm_replica.io_managers.modes.guard import DeleteGuard
from mctm_replica.plan import Batches, ReplicaBatches, SourceQuery, TablePlan


@dataclass
class Refresh:
    """One run's refresh of one table, as the handler hands it to a mode."""

    name: str  # schema.table
    table_slice: TableSlice
    live: sql.Composed  # the live table, quoted
    batches: ReplicaBatches
    guard: DeleteGuard
    run_id: str
    log: Any  # Dagster's logger
    table_created: bool = False  # created in this transaction: it is empty
    changes: list[ColumnChange] = field(default_factory=list)  # schema drift this run applies
    # Set by the handler: the live table was emptied (``emptied_rows`` deleted) for a
    # schema change that rebuilds columns, before apply.
    emptied: bool = False
    emptied_rows: int = 0
    # Set by the handler: a table created by this run was filled by COPY itself (see
    # LoadMode.fills_new_table), so apply has nothing left to insert.
    filled_by_copy: bool = False
    staged_rows: dict[str, int] = field(default_factory=dict)  # stage -> rows copied
    # A dry run: decide and reads must not write (the transaction is READ ONLY), lock rows
    # or read the source; only LoadMode.preview is called.
    dry_run: bool = False

    @property
    def plan(self) -> TablePlan:
        return self.batches.plan


@dataclass(frozen=True)
class Decision:
    """How this run loads the table."""

    full: bool  # every source row (True) or only changes
    reason: str  # for the log and metadata (`load_reason`)
    since: Any = None  # incremental: the first watermark value read
    previous: Any = None  # incremental: the stored watermark
    reconcile: bool = True  # remove rows deleted in the source on this run


@dataclass(frozen=True)
class Read:
    """One source stream the handler COPYs into the ``TEMP`` table named by ``stage``."""

    stage: str  # "rows" (the table's columns) or "keys" (its primary key)
    open: Callable[[], Batches]
    observe: Callable[[list[tuple]], None] | None = None  # sees every batch (watermark max)
    total: int | None = None  # expected rows, for progress and ETA
    encoder: Encoder | None = None  # None: the table's row encoder
    query: SourceQuery | None = None  # the statement ``open`` runs, for the dry run
    params: tuple = ()  # its parameters


@dataclass(frozen=True)
class PlannedQuery:
    """A statement the run would send to the source (``%s`` placeholders, pymssql's)."""

    purpose: str  # "rows", "changes", "keys", "watermark limit", ...
    sql: str
    params: tuple = ()

    def as_dict(self) -> dict[str, Any]:
        return {"purpose": self.purpose, "sql": self.sql, "params": [_plain(p) for p in self.params]}


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex().upper()
    return value if isinstance(value, int | float | str) or value is None else str(value)


@dataclass
class Preview:
    """What a mode would do on this run; filled by :meth:`LoadMode.preview`."""

    load: str  # "full", or the mode's name (``incremental``)
    reason: str  # as ``load_reason`` would be
    reconcile_deletes: bool  # rows deleted in the source are removed on this run
    queries: list[PlannedQuery] = field(default_factory=list)  # in the order the run sends them
    details: dict[str, Any] = field(default_factory=dict)  # the mode's own facts (watermark, version, ...)


@dataclass
class Applied(Counts):
    """What :meth:`LoadMode.apply` did, plus mode-specific figures for the metadata."""

    extra: dict[str, Any] = field(default_factory=dict)


class LoadMode(ABC):
    """One way of loading a table. One instance per run: it may keep what it decided."""

    #: ``load`` metadata value of a run that did not load in full.
    name: str = ""
    #: Whether a table this run created may be filled by COPY directly, skipping the stage:
    #: true for modes whose every read of a new table is one full ``rows`` stream that
    #: :func:`~.full.apply_full` would only insert. Nobody sees a table before the
    #: transaction that creates it commits, so readers lose nothing, and a failed load
    #: rolls the table back with it.
    fills_new_table: bool = False

    @abstractmethod
    def decide(self, cur, run: Refresh) -> Decision: ...

    @abstractmethod
    def reads(self, run: Refresh, decision: Decision) -> list[Read]: ...

    @abstractmethod
    def apply(self, cur, run: Refresh, decision: Decision, stages: Mapping[str, sql.Composable]) -> Applied: ...

    def preview(self, cur, run: Refresh) -> Preview:
        """What this run would do, without changing anything (``run.dry_run`` is set).
        A mode usually overrides only :meth:`planned_queries` or :meth:`preview_details`."""
        decision = self.decide(cur, run)
        return Preview(
            load="full" if decision.full else self.name, reason=decision.reason,
            reconcile_deletes=decision.full or decision.reconcile,
            queries=self.planned_queries(run, decision, self.reads(run, decision)),
            details=self.preview_details(run, decision))

    def planned_queries(self, run: Refresh, decision: Decision, reads: list[Read]) -> list[PlannedQuery]:
        """The source statements, in the order the run sends them: by default its reads'."""
        return [PlannedQuery(r.stage, r.query.sql, r.params or r.query.params) for r in reads if r.query is not None]

    def preview_details(self, run: Refresh, decision: Decision) -> dict[str, Any]:
        """The mode's own facts for the dry run (a watermark, a change-tracking version)."""
        return {}

    def save_state(self, cur, run: Refresh, decision: Decision, applied: Applied) -> None:
        """Nothing to store by default (a full table starts from scratch every run)."""

    def metadata(self, run: Refresh, decision: Decision, applied: Applied) -> dict[str, Any]:
        return {}
