"""Load modes as strategies: one class per mode behind :class:`~.base.LoadMode`, driven
by the replica type handler (:mod:`mctm_replica.io_managers.refresh`)."""

from __future__ import annotations

from mctm_replica.io_managers.modes.base import Applied, Decision, LoadMode, PlannedQuery, Preview, Read, Refresh
from mctm_replica.io_managers.modes.change_tracking import ChangeTrackingMerge
from mctm_replica.io_managers.modes.full import FullByDifference
from mctm_replica.io_managers.modes.guard import DeleteGuard, MassDeleteError
from mctm_replica.io_managers.modes.incremental import IncrementalMerge
from mctm_replica.io_managers.modes.partition import PartitionSlice
from mctm_replica.plan import TablePlan

__all__ = ["Applied", "ChangeTrackingMerge", "Decision", "DeleteGuard", "FullByDifference", "IncrementalMerge",
           "LoadMode", "MassDeleteError", "PartitionSlice", "PlannedQuery", "Preview", "Read", "Refresh", "mode_for"]


def mode_for(plan: TablePlan) -> LoadMode:
    """A fresh strategy for this run of ``plan``'s table (instances keep per-run state)."""
    if plan.spec.mode == "change_tracking":
        return ChangeTrackingMerge()
    if plan.spec.partitions is not None:
        return PartitionSlice()
    return IncrementalMerge() if plan.watermark is not None else FullByDifference()
