"""The executor every job of the definitions uses: a process per step, except for one table.

A run of several tables needs the multiprocess executor: tables of different sources copy
at once, each step's memory is its own, and a step that dies takes only itself down. A run
of one table does not: its copy and its checks read one source, so its pool runs them one
after the other anyway, and a process per step only adds start-up -- the forkserver, then
a fork per step that opens its own Dagster instance (about 4 of the 9 s of a 1,000-row
`dagster asset materialize` on two cores). So a run whose steps all belong to one table
(the UI's "Materialize" of one asset, `dagster asset materialize --select` of one table,
a partition of a time-partitioned table, a check run alone) runs them in the run's own
process; any other run gets a process per step. Both paths claim the same pool slots
(Dagster's in-process executor honours pools too) and apply the same retry policy.
"""

from __future__ import annotations

from collections.abc import Iterator

from dagster import ExecutorDefinition, multiprocess_executor
from dagster._core.events import DagsterEvent
from dagster._core.execution.context.system import PlanOrchestrationContext
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.execution.retries import RetryMode
from dagster._core.execution.step_dependency_config import StepDependencyConfig
from dagster._core.executor.base import Executor
from dagster._core.executor.in_process import InProcessExecutor
from dagster._core.executor.init import InitExecutorContext

from mctm_replica.assets import SOURCE_TAG, TABLE_TAG
from mctm_replica.config import ReplicaConfig

# Steps start from a forkserver that has already imported Dagster, the drivers, the project
# (with its definitions built) and Dagster's PostgreSQL storage: each step forks from it
# instead of spawning a fresh interpreter that imports everything again (3-4 s a step on a
# two-core machine). Without the storage modules each step still imported them to open its
# instance (~0.6 s a step). Only modules whose import has no side effect beyond reading
# the environment belong here.
PRELOAD_MODULES = ["mctm_replica.definitions", "dagster._core.storage.base_storage", "dagster_postgres"]


def tables_of(execution_plan: ExecutionPlan) -> set[str]:
    """The replica tables whose steps this plan executes (freshness checks name none)."""
    return {table for step in execution_plan.get_steps_to_execute_in_topo_order()
            if (table := (step.tags or {}).get(TABLE_TAG))}


class ReplicaExecutor(Executor):
    """The multiprocess executor, or in process when the run touches one table."""

    def __init__(self, multiprocess: Executor):
        self._multiprocess = multiprocess
        self._in_process = InProcessExecutor(retries=multiprocess.retries,
                                             step_dependency_config=multiprocess.step_dependency_config)

    @property
    def retries(self) -> RetryMode:
        return self._multiprocess.retries

    @property
    def step_dependency_config(self) -> StepDependencyConfig:
        return self._multiprocess.step_dependency_config

    def execute(self, plan_context: PlanOrchestrationContext,
                execution_plan: ExecutionPlan) -> Iterator[DagsterEvent]:
        one_table = len(tables_of(execution_plan)) <= 1
        yield from (self._in_process if one_table else self._multiprocess).execute(plan_context, execution_plan)


def _create(init_context: InitExecutorContext) -> ReplicaExecutor:
    return ReplicaExecutor(multiprocess_executor.executor_creation_fn(init_context))


#: The executor's definition: multiprocess's configuration (``max_concurrent``,
#: ``tag_concurrency_limits``, ``start_method``, ``retries``) and requirements.
REPLICA_EXECUTOR = ExecutorDefinition(
    name="replica",
    config_schema=multiprocess_executor.config_schema,
    requirements=multiprocess_executor.get_requirements,
    executor_creation_fn=_create,
    description=__doc__.split("\n\n")[1].replace("\n", " "),
)


def source_concurrency_limits(config: ReplicaConfig) -> list[dict]:
    """The executor's tag limits: inside one run, at most ``max_concurrent_tables`` steps
    reading one source (copies and checks, tagged with :data:`SOURCE_TAG`) are started."""
    return [
        {"key": SOURCE_TAG, "value": s.name, "limit": s.max_concurrent_tables}
        for s in config.sources.values()
    ]


def replica_executor(config: ReplicaConfig) -> ExecutorDefinition:
    """The executor every job of the definitions uses (the implicit asset job too, through
    ``Definitions(executor=...)``).

    The source pools (:mod:`mctm_replica.pools`) are the limit, across runs. Inside a
    multiprocess run the executor also holds back a source's steps while
    ``max_concurrent_tables`` of them run: Dagster re-checks a step blocked by a pool only
    after 1 s, growing by 10% per attempt (up to 15 s), so without the tag limit every
    hand-over between two steps of one source would wait that long; with it, the next step
    claims the slot just freed."""
    return REPLICA_EXECUTOR.configured({
        "start_method": {"forkserver": {"preload_modules": PRELOAD_MODULES}},
        "tag_concurrency_limits": source_concurrency_limits(config),
    })
