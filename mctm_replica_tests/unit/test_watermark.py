"""Pure logic: watermark types, lookback, stored text and the run's load decision."""

import datetime as dt

import pytest

from mctm_replica.config import ConfigError, TableSpec
from mctm_replica.table_options import DeletesSpec, IncrementalSpec
from mctm_replica.io_managers.modes.incremental import decide
from mctm_replica.io_managers.state import ReplicaState
from mctm_replica.plan import ColumnPlan, ReplicaBatches, TablePlan
from mctm_replica.typemap import SourceType
from mctm_replica.watermark import resolve_watermark


def wm(type_name: str, lookback=None, nullable=False, precision=None):
    return resolve_watermark(table="src:dbo.t", column="UpdatedAt", target_column="updated_at",
                             source_type=SourceType(type_name, datetime_precision=precision),
                             nullable=nullable, lookback=lookback)


def test_kinds_defaults_and_predicates():
    w = wm("datetime2", precision=3)
    assert (w.kind, w.cast_type, w.lookback) == ("time", "datetime2(7)", dt.timedelta(minutes=10))
    assert w.predicate() == "[UpdatedAt] >= CAST(%s AS datetime2(7))"
    assert wm("datetimeoffset").cast_type == "datetimeoffset(7)"
    assert (wm("bigint").kind, wm("bigint").lookback) == ("integer", 0)
    assert wm("timestamp").kind == "rowversion"  # INFORMATION_SCHEMA's name for rowversion
    assert wm("bigint", nullable=True).predicate() == "([UpdatedAt] >= %s OR [UpdatedAt] IS NULL)"


@pytest.mark.parametrize(("type_name", "lookback", "fragment"), [
    ("int", None, "type `int` cannot be a watermark"),
    ("date", None, "type `date` cannot be a watermark"),
    ("datetime2", 5, "must be a duration like `10 minutes`, not the number 5"),
    ("bigint", dt.timedelta(minutes=1), "must be a whole number of values"),
])
def test_unusable_watermarks_name_table_column_and_fix(type_name, lookback, fragment):
    with pytest.raises(ConfigError) as e:
        wm(type_name, lookback)
    assert "table `src:dbo.t`, watermark column `UpdatedAt`" in str(e.value)
    assert fragment in str(e.value)


def test_stored_text_round_trips_and_low_bound():
    t = wm("datetime2", dt.timedelta(minutes=10))
    v = dt.datetime(2024, 5, 1, 12, 0, 0, 123456)
    assert t.from_text(t.to_text(v)) == v
    assert t.low_bound(v) == dt.datetime(2024, 5, 1, 11, 50, 0, 123456)
    assert t.parameter(t.low_bound(v)) == "2024-05-01 11:50:00.123456"
    tz = wm("datetimeoffset", dt.timedelta(seconds=30))
    v = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    assert tz.from_text(tz.to_text(v)) == v
    assert tz.parameter(tz.low_bound(v)) == "2024-05-01 11:59:30+09:00"
    rv = wm("timestamp", 3)
    assert rv.to_text(b"\x00\x00\x00\x00\x00\x00\x07\xd1") == "00000000000007d1"
    assert rv.low_bound(b"\x00\x00\x00\x00\x00\x00\x07\xd1") == b"\x00\x00\x00\x00\x00\x00\x07\xce"
    assert rv.low_bound(b"\x00" * 7 + b"\x01") == b"\x00" * 8  # never below zero
    assert wm("bigint", 5).low_bound(100) == 95
    assert wm("datetime", dt.timedelta(0)).lookback == dt.timedelta(milliseconds=4)  # one datetime tick
    early = wm("datetime2", dt.timedelta(days=1))
    assert early.low_bound(dt.datetime(1, 1, 1, 1)) == dt.datetime.min


def plan(deletes=DeletesSpec()) -> TablePlan:
    spec = TableSpec(source="s", source_schema="dbo", source_table="t", target_schema="p", target_table="t",
                     mode="incremental", primary_key=("id",),
                     incremental=IncrementalSpec("wm", 5, deletes))
    col = ColumnPlan("wm", SourceType("bigint"), "wm", "bigint", False, "plain")
    return TablePlan(spec, [col], ["id"], wm("bigint", 5))


def state(watermark="100", runs=0, column="updated_at"):
    now = dt.datetime(2024, 1, 1)
    return ReplicaState("p.t", column, "integer", watermark, runs, now, now, [])


def batches(p, **kw):
    return ReplicaBatches(p, open=lambda: None, **kw)


def test_load_decision():
    p = plan()
    d = decide(p, batches(p), state(), False)
    assert (d.full, d.since, d.previous, d.reconcile) == (False, 95, 100, True)
    assert decide(p, batches(p), state(), True).reason == "replica table created"
    assert decide(p, batches(p, full_refresh=True), state(), False).reason == "full_refresh requested"
    assert decide(p, batches(p), None, False).reason == "no stored watermark"
    assert decide(p, batches(p), state(column="other"), False).reason == \
        "watermark column changed from `other`"
    every3 = plan(DeletesSpec("every_n_runs", 3))
    assert decide(every3, batches(every3), state(runs=1), False).reconcile is False
    assert decide(every3, batches(every3), state(runs=2), False).reconcile is True
    assert decide(every3, batches(every3, reconcile_deletes=True), state(runs=0), False).reconcile is True
    never = plan(DeletesSpec("never"))
    assert decide(never, batches(never), state(runs=99), False).reconcile is False


def test_stored_watermark_never_passes_the_limit_read_before_the_scan():
    w = wm("bigint")
    assert w.to_store(120, 110) == 110  # rows changed during the scan are read again
    assert w.to_store(100, 110) == 100
    assert w.to_store(None, 110) is None  # nothing read
    assert w.to_store(120, None) is None  # table empty when the scan began: load in full next time
    assert wm("timestamp").cap_sql("dbo", "t", nolock=False) == "SELECT MIN_ACTIVE_ROWVERSION()"
    assert w.cap_sql("dbo", "t", nolock=True) == "SELECT MAX([UpdatedAt]) FROM [dbo].[t] WITH (NOLOCK)"
