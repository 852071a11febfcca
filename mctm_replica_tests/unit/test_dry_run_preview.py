"""Pure logic of the dry run: a new load mode plugs into the preview with one method, and
the text and metadata show what it reports."""

from __future__ import annotations

import logging

from mctm_replica.config import TableSpec
from mctm_replica.io_managers.modes import Applied, Decision, DeleteGuard, LoadMode, PlannedQuery, Read, Refresh
from mctm_replica.io_managers.preview import TablePreview, format_preview
from mctm_replica.plan import ColumnPlan, ReplicaBatches, SourceQuery, TablePlan
from mctm_replica.typemap import SourceType


class _VersionMode(LoadMode):
    """A stand-in for a later mode (change tracking): it adds only ``preview_details``."""

    name = "change_tracking"

    def decide(self, cur, run: Refresh) -> Decision:
        return Decision(False, "changes since version 41", reconcile=False)

    def reads(self, run: Refresh, decision: Decision) -> list[Read]:
        return [Read("rows", lambda: None, query=SourceQuery("SELECT * FROM CHANGETABLE(...) WHERE v > %s", "t"),
                     params=(41,))]

    def apply(self, cur, run, decision, stages) -> Applied:
        raise AssertionError("a dry run never applies")

    def preview_details(self, run: Refresh, decision: Decision) -> dict:
        return {"change_tracking_version": 41}


def _run() -> Refresh:
    spec = TableSpec(source="s", source_schema="dbo", source_table="t", target_schema="p", target_table="t")
    plan = TablePlan(spec, [ColumnPlan("id", SourceType("bigint"), "id", "bigint", False, "plain")], ["id"])
    return Refresh("p.t", None, None, ReplicaBatches(plan, open=lambda: None), DeleteGuard.for_table(spec, allowed=False),
                   "r", logging.getLogger(__name__), dry_run=True)


def test_a_new_mode_is_previewed_from_decide_reads_and_its_details():
    preview = _VersionMode().preview(None, _run())
    assert (preview.load, preview.reason, preview.reconcile_deletes) == (
        "change_tracking", "changes since version 41", False)
    assert preview.queries == [PlannedQuery("rows", "SELECT * FROM CHANGETABLE(...) WHERE v > %s", (41,))]
    text = format_preview(TablePreview("s:dbo.t", "p.t", "change_tracking", load=preview.load, reason=preview.reason,
                                       reconcile_deletes=False, queries=[q.as_dict() for q in preview.queries],
                                       details=preview.details, replica_exists=True))
    assert "  change tracking version: 41" in text
    assert "  sql (rows): SELECT * FROM CHANGETABLE(...) WHERE v > %s  -- parameters [41]" in text


def test_rowversion_parameters_print_as_hex_and_metadata_marks_the_dry_run():
    q = PlannedQuery("rows", "SELECT ... WHERE [rv] >= %s", (bytes.fromhex("00000000000007d1"),))
    assert q.as_dict()["params"] == ["0x00000000000007D1"]
    meta = TablePreview("s:dbo.t", "p.t", "full", refused="replica table `p.t` no longer matches").metadata()
    assert meta["dry_run"] is True and meta["load"] == "none (the run would fail)"
    assert meta["refused"].startswith("replica table `p.t`")
