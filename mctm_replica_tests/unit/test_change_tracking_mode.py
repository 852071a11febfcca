"""Pure logic of mode change_tracking: how a run decides between a full load and the
changes, and the T-SQL it reads them with (the end-to-end tests are in
mctm_replica_tests/integration/test_change_tracking_mode.py)."""

from __future__ import annotations

import datetime as dt

from mctm_replica.io_managers.modes.change_tracking import STATE_KIND, decide
from mctm_replica.io_managers.state import ReplicaState
from mctm_replica.resources.change_tracking import CtStatus, key_problem
from mctm_replica.tsql.change_tracking import changes_sql

STATUS = CtStatus("McTM", snapshot=False, current_version=50, min_valid_version=10, retention="2 DAYS")


def state(version: int | None, kind: str = STATE_KIND) -> ReplicaState:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    return ReplicaState("public.t", "", kind, None, 0, now, now, [], version)


def test_full_load_reasons_in_order():
    kw = {"table": "src:dbo.t"}
    assert decide(None, STATUS, table_created=True, full_refresh=False, **kw).reason == "replica table created"
    assert decide(state(20), STATUS, table_created=False, full_refresh=True, **kw).reason == "full_refresh requested"
    assert decide(None, STATUS, table_created=False, full_refresh=False, **kw).reason == \
        "no stored Change Tracking version"
    # a table that was incremental before keeps no version: it starts with a full load
    assert decide(state(20, kind="datetime"), STATUS, table_created=False, full_refresh=False, **kw).full


def test_retention_passed_only_below_the_minimum_valid_version():
    kw = {"table_created": False, "full_refresh": False, "table": "src:dbo.t"}
    at_min = decide(state(10), STATUS, **kw)
    assert (at_min.full, at_min.since, at_min.previous) == (False, 10, 10)
    passed = decide(state(9), STATUS, **kw)
    assert passed.full and passed.previous == 9
    assert passed.reason.startswith("retention passed: stored Change Tracking version 9 of `src:dbo.t` is older "
                                    "than its minimum valid version 10")
    assert "2 DAYS" in passed.reason and "ALTER DATABASE [McTM] SET CHANGE_TRACKING (CHANGE_RETENTION" in passed.reason


def test_changes_sql_quotes_names_and_takes_the_version_as_a_parameter():
    q = changes_sql("dbo", "odd]%name", ["id", "k2", "v"], ["id", "k2"])
    assert "CHANGETABLE(CHANGES [dbo].[odd]]%name], %s) AS ct" in q  # pymssql sends %% as %%
    assert "LEFT JOIN [dbo].[odd]]%name] AS t ON t.[id] = ct.[id] AND t.[k2] = ct.[k2]" in q
    assert q.startswith("SELECT CASE WHEN t.[id] IS NULL THEN 1 ELSE 0 END, ct.[id], ct.[k2], t.[id], t.[k2], t.[v] ")
    assert q.count("%s") == 1


def test_the_configured_key_must_be_the_tracked_tables_key():
    assert key_problem(["ID", "k2"], ["k2", "id"]) is None
    assert key_problem(["code"], ["id"]) == ("`primary_key` ['code'] is not the table's primary key ['id'], the key "
                                             "Change Tracking records; set `primary_key: ['id']`")
    assert key_problem(["id"], []) == "the table has no primary key, which Change Tracking needs"
