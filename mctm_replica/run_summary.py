"""A per-table summary of one replica run, read back from the Dagster instance.

The demo prints it; it is built from the run's own events (materialization metadata and
check evaluations) so it shows exactly what the UI shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dagster import DagsterEventType, DagsterInstance


@dataclass
class TableSummary:
    asset: str
    rows: int | None = None
    seconds: float | None = None
    rows_per_s: float | None = None
    load: str = "-"  # "full", or "incremental|change_tracking +inserted ~updated -deleted"
    checks: dict[str, bool] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.rows is not None and all(self.checks.values())


def summarize_run(instance: DagsterInstance, run_id: str) -> list[TableSummary]:
    tables: dict[str, TableSummary] = {}
    for record in instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
    ).records:
        mat = record.event_log_entry.dagster_event.event_specific_data.materialization
        key = ".".join(mat.asset_key.path)
        meta = mat.metadata
        tables[key] = TableSummary(
            key,
            rows=meta["rows_copied"].value if "rows_copied" in meta else None,
            seconds=meta["duration_s"].value if "duration_s" in meta else None,
            rows_per_s=meta["rows_per_s"].value if "rows_per_s" in meta else None,
            load=_load(meta),
        )
    for record in instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
    ).records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        key = ".".join(evaluation.asset_key.path)
        tables.setdefault(key, TableSummary(key)).checks[evaluation.check_name] = evaluation.passed
    return sorted(tables.values(), key=lambda t: t.asset)


def _load(meta) -> str:
    if "load" not in meta:
        return "-"
    if meta["load"].value not in ("incremental", "change_tracking"):
        return str(meta["load"].value)
    deleted = f" -{meta['rows_deleted'].value}" if "rows_deleted" in meta else ""
    return f"{meta['load'].value} +{meta['rows_inserted'].value} ~{meta['rows_updated'].value}{deleted}"


def format_summary(rows: list[TableSummary]) -> str:
    header = f"{'table':<28} {'load':<24} {'rows':>9} {'seconds':>8} {'rows/s':>10}  checks"
    lines = [header, "-" * len(header)]
    for t in rows:
        checks = ", ".join(f"{n} {'passed' if ok else 'FAILED'}" for n, ok in sorted(t.checks.items()))
        lines.append(
            f"{t.asset:<28} {t.load:<24} {_n(t.rows):>9} {_f(t.seconds, 2):>8} {_f(t.rows_per_s, 0):>10}  "
            f"{checks or 'none'}"
        )
    return "\n".join(lines)


def _n(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def _f(v: float | None, digits: int) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"
