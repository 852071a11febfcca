"""Helpers for tests that write replica tables through the real IO manager."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import contextmanager

from dagster import AssetKey, asset, materialize

from mctm_replica.config import TableSpec
from mctm_replica.io_managers.postgres import PostgresReplicaIOManager
from mctm_replica.local.postgres import LocalPostgres
from mctm_replica.plan import ColumnPlan, ReplicaBatches, TablePlan
from mctm_replica.resources.postgres import PostgresResource
from mctm_replica.typemap import SourceType, lookup, pg_type


def postgres_resource(pg: LocalPostgres, database: str) -> PostgresResource:
    return PostgresResource(
        host=pg.host, port=pg.port, database=database, user=pg.user, password=pg.password
    )


def plan_for(schema: str, table: str, columns: list[tuple[str, SourceType, bool]], pk=()) -> TablePlan:
    spec = TableSpec(source="src", source_schema="dbo", source_table=table,
                     target_schema=schema, target_table=table)
    cols = [
        ColumnPlan(name, t, name, pg_type(t, table=table, column=name), nullable, lookup(t).value)
        for name, t, nullable in columns
    ]
    return TablePlan(spec, cols, list(pk))


def batches_of(rows: list[tuple], size: int, hook: Callable[[int], None] | None = None):
    """An ``open`` callable yielding ``rows`` in batches; ``hook(i)`` runs before batch i."""

    @contextmanager
    def _open():
        def gen() -> Iterable[list[tuple]]:
            for i in range(0, len(rows), size):
                if hook:
                    hook(i // size)
                yield rows[i : i + size]

        yield gen()

    return _open


def materialize_plan(plan: TablePlan, open_, pg: LocalPostgres, database: str, **kw):
    @asset(key=AssetKey([plan.spec.target_schema, plan.spec.target_table]),
           io_manager_key="replica_io_manager")
    def _replica() -> ReplicaBatches:
        return ReplicaBatches(plan, open_)

    return materialize(
        [_replica],
        resources={"replica_io_manager": PostgresReplicaIOManager(
            postgres=postgres_resource(pg, database))},
        **kw,
    )


def materialization_metadata(result, index: int = 0) -> dict:
    return result.get_asset_materialization_events()[index].materialization.metadata


def failure_text(result) -> str:
    """Every step failure's error message and causes, joined (what an operator would read)."""
    parts = []
    for event in result.get_step_failure_events():
        err = event.step_failure_data.error
        while err is not None:
            parts.append(err.message)
            err = err.cause
    return "\n".join(parts)


def run_log_text(instance, run_id: str) -> str:
    """Every message and metadata value of one run's event log, as one string."""
    out = []
    for entry in instance.all_logs(run_id):
        out.append(entry.user_message or "")
        event = entry.dagster_event
        if event is not None:
            out.append(repr(event.event_specific_data))
    return "\n".join(out)
