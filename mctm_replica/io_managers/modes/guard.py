"""The delete guard: a run never removes most of a replica because the source said so.

A source that answers with a partial table (a wrong database, a half-restored backup, a
view that lost a join) looks to a replicator exactly like a table whose rows were deleted.
So every run that would remove more than ``max_delete_fraction`` of the replica's rows
fails before COMMIT -- the replica stays as it was -- and names the table, both counts and
the two ways on: fix the source, or run once with ``allow_mass_delete: true``.

Pure logic: the modes count, :meth:`DeleteGuard.check` decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from mctm_replica.config import DEFAULT_MAX_DELETE_FRACTION, SMALL_TABLE_ROWS, TableSpec
from mctm_replica.resources.postgres import TargetError


class MassDeleteError(TargetError):
    """A run would delete more of the replica than the table allows; nothing was changed."""


@dataclass(frozen=True)
class DeleteGuard:
    table: str  # schema.table of the replica
    max_fraction: float
    explicit: bool  # set in tables.yaml: small tables are guarded too
    allowed: bool  # run config allow_mass_delete: this run may delete any share

    @classmethod
    def for_table(cls, spec: TableSpec, *, allowed: bool) -> DeleteGuard:
        explicit = spec.max_delete_fraction is not None
        fraction = spec.max_delete_fraction if explicit else DEFAULT_MAX_DELETE_FRACTION
        return cls(spec.target_name, fraction, explicit, allowed)

    def exceeded(self, removed: int, before: int) -> bool:
        """Whether removing ``removed`` of the replica's ``before`` rows is too many."""
        if self.allowed or removed <= 0 or before <= 0:
            return False
        if not self.explicit and before < SMALL_TABLE_ROWS:
            return False
        return removed > self.max_fraction * before

    def check(self, removed: int, before: int, *, what: str = "delete") -> None:
        """Raise :class:`MassDeleteError` (before COMMIT, so the replica is untouched)."""
        if not self.exceeded(removed, before):
            return
        setting = "" if self.explicit else " (the default)"
        raise MassDeleteError(
            f"replica table `{self.table}`: this run would {what} {removed:,} of its {before:,} "
            f"rows ({removed / before:.0%}), more than `max_delete_fraction` {self.max_fraction:g}"
            f"{setting}; nothing was changed. If the source really lost these rows, run the "
            f"asset once with run config `allow_mass_delete: true`; otherwise fix the source "
            f"(a partial or wrong table), or raise `max_delete_fraction` for `{self.table}` in "
            f"tables.yaml"
        )
