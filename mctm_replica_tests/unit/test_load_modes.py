"""Pure logic of the load modes: which strategy a table gets, the delete guard's rule."""

import pytest

from mctm_replica.config import TableSpec
from mctm_replica.table_options import DeletesSpec, IncrementalSpec
from mctm_replica.io_managers.modes import (
    DeleteGuard,
    FullByDifference,
    IncrementalMerge,
    MassDeleteError,
    mode_for,
)
from mctm_replica.plan import ColumnPlan, ReplicaBatches, TablePlan
from mctm_replica.typemap import SourceType
from mctm_replica.watermark import resolve_watermark


def spec(**kw) -> TableSpec:
    return TableSpec(source="s", source_schema="dbo", source_table="t", target_schema="p", target_table="t", **kw)


def test_each_mode_gets_its_strategy_and_full_always_loads_everything():
    col = ColumnPlan("id", SourceType("bigint"), "id", "bigint", False, "plain")
    full = TablePlan(spec(), [col], ["id"])
    assert isinstance(mode_for(full), FullByDifference)
    decision = mode_for(full).decide(None, None)
    assert (decision.full, decision.reason) == (True, "mode full")
    wm = resolve_watermark(table="s:dbo.t", column="id", source_type=SourceType("bigint"), target_column="id",
                           nullable=False, lookback=None)
    inc = TablePlan(spec(mode="incremental", primary_key=("id",), incremental=IncrementalSpec("id", None,
                                                                                              DeletesSpec())),
                    [col], ["id"], wm)
    assert isinstance(mode_for(inc), IncrementalMerge)
    assert mode_for(inc) is not mode_for(inc)  # one instance per run: it keeps the run's state
    assert ReplicaBatches(full, open=lambda: None).allow_mass_delete is False


def test_default_guard_exempts_small_tables_and_allows_half():
    guard = DeleteGuard.for_table(spec(), allowed=False)
    assert (guard.max_fraction, guard.explicit) == (0.5, False)
    assert not guard.exceeded(999, 999)  # under 1,000 rows: exempt by default
    assert not guard.exceeded(500, 1000)  # exactly half is allowed
    assert guard.exceeded(501, 1000)
    assert not guard.exceeded(0, 0) and not guard.exceeded(0, 5000)


def test_explicit_fraction_guards_small_tables_too_and_run_config_lifts_it():
    guard = DeleteGuard.for_table(spec(max_delete_fraction=0.1), allowed=False)
    assert guard.exceeded(2, 10) and not guard.exceeded(1, 10)
    assert DeleteGuard.for_table(spec(max_delete_fraction=0.0), allowed=False).exceeded(1, 10)
    assert not DeleteGuard.for_table(spec(max_delete_fraction=1.0), allowed=False).exceeded(10, 10)
    assert not DeleteGuard.for_table(spec(max_delete_fraction=0.1), allowed=True).exceeded(10, 10)


def test_guard_error_names_table_counts_setting_and_fix():
    with pytest.raises(MassDeleteError) as e:
        DeleteGuard.for_table(spec(), allowed=False).check(1500, 2000)
    msg = str(e.value)
    assert msg.startswith("replica table `p.t`: this run would delete 1,500 of its 2,000 rows (75%), more "
                          "than `max_delete_fraction` 0.5 (the default); nothing was changed.")
    assert "run config `allow_mass_delete: true`" in msg and "raise `max_delete_fraction` for `p.t`" in msg
    with pytest.raises(MassDeleteError, match="would lose 9 of its 10 rows"):
        DeleteGuard.for_table(spec(max_delete_fraction=0.5), allowed=False).check(9, 10, what="lose")
