"""Load and validate the table registry (``tables.yaml``) into typed specs.

Tables are data, not code: adding a table or a source is a YAML change. The packaged
``mctm_replica/tables.yaml`` is used unless ``MCTM_REPLICA_TABLES`` names another file.
Every problem is reported at load time -- before Dagster builds a single asset -- with
the file, the entry and the fix, so a bad edit never reaches a scheduled run.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from mctm_replica.connection_settings import (
    CONNECTION_KEYS,
    ConnectionConfigError,
    SourceConnection,
    parse_connection,
)
from mctm_replica.indexes.spec import IndexesSpec, IndexSpecError, parse_indexes
from mctm_replica.naming import ColumnNaming, IdentifierError, check_pg_identifier, split_qualified
from mctm_replica.parallel.settings import check_connection_caps, parse_max_connections, parse_parallel_readers
from mctm_replica.partitions import PartitionConfigError, PartitionSpec, parse_partitions
from mctm_replica.table_options import (
    FreshnessSpec,
    IncrementalSpec,
    TableOptionError,
    parse_freshness,
    parse_incremental,
)

TABLES_ENV = "MCTM_REPLICA_TABLES"
PACKAGED_TABLES = Path(__file__).with_name("tables.yaml")

Mode = Literal["full", "incremental", "change_tracking"]

# Dagster asset key parts and group names must be plain names; target schema/table names
# become the asset key, so they follow the same rule (and need no quoting by readers).
_DAGSTER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_PREFIX = re.compile(r"[A-Z][A-Z0-9_]*")

_SOURCE_KEYS = {"env_prefix", "max_concurrent_tables", "description", "format_on_server", *CONNECTION_KEYS}
_TABLE_KEYS = {
    "source", "source_table", "target_table", "mode", "primary_key", "columns", "nolock",
    "row_count_tolerance", "column_naming", "column_names", "description",
    "rows_match_blocking", "rows_match", "rows_match_segment_rows", "freshness", "watermark",
    "watermark_lookback", "deletes", "max_delete_fraction", "partitions",
    "indexes",
}
_SOURCE_KEYS |= {"max_connections"}  # mctm_replica.parallel.settings
_TABLE_KEYS |= {"parallel_readers"}  # mctm_replica.parallel.settings
_INCREMENTAL_ONLY = ("watermark", "watermark_lookback", "deletes")



#: Delete guard default: a source that suddenly answers with half its rows is more likely
#: broken (a partial table, a wrong database) than emptied on purpose.
DEFAULT_MAX_DELETE_FRACTION = 0.5
#: Tables below this many replica rows are exempt from the default guard: a handful of
#: rows legitimately churn by more than half.
SMALL_TABLE_ROWS = 1000



RowsMatchMethod = Literal["checksum", "rows"]
#: Rows per rows_match checksum segment: 100 segments at 1,000,000 rows, so the sums are a
#: few KB and a differing segment costs at most 10,000 rows of comparison.
DEFAULT_SEGMENT_ROWS = 10_000
# Below this a segment's sums would be about as large as its rows.
_MIN_SEGMENT_ROWS = 100


class ConfigError(ValueError):
    """tables.yaml is invalid; the message names the file, the entry and the fix."""


@dataclass(frozen=True)
class SourceSpec:
    name: str
    env_prefix: str  # <PREFIX>_HOST, _PORT, _DB, _USER, _PASSWORD
    max_concurrent_tables: int = 1  # the source was never meant to take parallel full scans
    description: str = ""
    # SQL Server formats each row as a COPY CSV line (mctm_replica.tsql.csv_lines); false reads
    # typed values and formats them in Python (slower; for servers before SQL Server 2016).
    format_on_server: bool = True
    # TLS, certificate validation and read-only intent (mctm_replica.connection_settings).
    connection: SourceConnection = field(default_factory=SourceConnection)
    max_connections: int = 1  # source connections its copies hold at once (parallel.settings)

    @property
    def resource_key(self) -> str:
        return f"mssql_{self.name}"


@dataclass(frozen=True)
class TableSpec:
    source: str
    source_schema: str
    source_table: str
    target_schema: str
    target_table: str
    mode: Mode = "full"
    primary_key: tuple[str, ...] | None = None  # None: the source's own primary key
    include: tuple[str, ...] | None = None  # None: every column
    exclude: tuple[str, ...] = ()
    nolock: bool = True
    row_count_tolerance: int = 0
    column_naming: ColumnNaming = "snake_case"
    column_names: dict[str, str] = field(default_factory=dict)
    description: str = ""
    rows_match_blocking: bool = True  # a content mismatch fails the run (false: alert only)
    rows_match: RowsMatchMethod = "checksum"  # segment checksums first, or every row ("rows")
    rows_match_segment_rows: int = DEFAULT_SEGMENT_ROWS  # rows per checksum segment
    freshness: FreshnessSpec = field(default_factory=FreshnessSpec)
    incremental: IncrementalSpec | None = None  # set exactly when mode is incremental
    # Delete guard: a run may remove at most this share of the replica's rows. None: the
    # default (DEFAULT_MAX_DELETE_FRACTION, tables under SMALL_TABLE_ROWS exempt).
    max_delete_fraction: float | None = None
    indexes: IndexesSpec = field(default_factory=IndexesSpec)  # the source's indexes on the replica
    parallel_readers: int = 1  # reader processes of a full load (mctm_replica.parallel)
    partitions: PartitionSpec | None = None  # time-partitioned asset (mctm_replica.partitions)

    @property
    def source_name(self) -> str:
        return f"{self.source_schema}.{self.source_table}"

    @property
    def target_name(self) -> str:
        return f"{self.target_schema}.{self.target_table}"

    @property
    def asset_key_path(self) -> list[str]:
        return [self.target_schema, self.target_table]


@dataclass(frozen=True)
class ReplicaConfig:
    path: Path
    sources: dict[str, SourceSpec]
    tables: list[TableSpec]


def tables_path() -> Path:
    override = os.environ.get(TABLES_ENV)
    return Path(override) if override else PACKAGED_TABLES


def load_config(path: str | Path | None = None) -> ReplicaConfig:
    """Read and validate ``path`` (default: ``$MCTM_REPLICA_TABLES`` or the packaged file)."""
    p = Path(path) if path is not None else tables_path()
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"{p}: file not found; set {TABLES_ENV} to an existing file") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {e}") from e
    return parse_config(raw, path=p)


def parse_config(raw: Any, *, path: Path) -> ReplicaConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with `sources` and `tables`")
    unknown = set(raw) - {"sources", "tables"}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {sorted(unknown)}; "
                          "only `sources` and `tables` are allowed")
    sources = _parse_sources(raw.get("sources"), path)
    tables_raw = raw.get("tables")
    if not isinstance(tables_raw, list) or not tables_raw:
        raise ConfigError(f"{path}: `tables` must be a non-empty list of table entries")
    tables = [_parse_table(entry, i, sources, path) for i, entry in enumerate(tables_raw)]
    seen: dict[str, str] = {}
    for t in tables:
        key = t.target_name.lower()
        if key in seen:
            raise ConfigError(
                f"{path}: tables `{seen[key]}` and `{t.source}:{t.source_name}` both write "
                f"`{t.target_name}`; give one of them another `target_table`"
            )
        seen[key] = f"{t.source}:{t.source_name}"
    check_connection_caps(sources.values(), tables, path)
    return ReplicaConfig(path=path, sources=sources, tables=tables)


def _parse_sources(raw: Any, path: Path) -> dict[str, SourceSpec]:
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{path}: `sources` must map source names to `env_prefix` settings")
    result = {}
    for name, body in raw.items():
        where = f"{path}: source `{name}`"
        if not isinstance(name, str) or not _DAGSTER_NAME.fullmatch(name):
            raise ConfigError(f"{where}: source names must be letters, digits and `_`")
        if not isinstance(body, dict):
            raise ConfigError(f"{where}: expected a mapping with `env_prefix`")
        _no_unknown(body, _SOURCE_KEYS, where)
        prefix = body.get("env_prefix")
        if not isinstance(prefix, str) or not _ENV_PREFIX.fullmatch(prefix):
            raise ConfigError(f"{where}: `env_prefix` must be upper-case like `SQL_SERVER_MCTM`")
        limit = body.get("max_concurrent_tables", 1)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ConfigError(f"{where}: `max_concurrent_tables` must be a whole number >= 1")
        on_server = body.get("format_on_server", True)
        if not isinstance(on_server, bool):
            raise ConfigError(f"{where}: `format_on_server` must be true or false, not {on_server!r}")
        try:
            connection = parse_connection(body, where, path.parent)
        except ConnectionConfigError as e:
            raise ConfigError(str(e)) from e
        result[name] = SourceSpec(name, prefix, limit, str(body.get("description", "")), on_server,
                                  connection, max_connections=parse_max_connections(body, where, limit))
    return result


def _parse_table(entry: Any, index: int, sources: dict[str, SourceSpec], path: Path) -> TableSpec:
    label = entry.get("source_table", f"#{index + 1}") if isinstance(entry, dict) else f"#{index + 1}"
    where = f"{path}: table entry {index + 1} (`{label}`)"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping")
    _no_unknown(entry, _TABLE_KEYS, where)
    for key in ("source", "source_table", "target_table"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise ConfigError(f"{where}: missing `{key}`")
    if entry["source"] not in sources:
        raise ConfigError(f"{where}: unknown source `{entry['source']}`; "
                          f"declare it under `sources` (known: {sorted(sources)})")
    try:
        s_schema, s_table = split_qualified(entry["source_table"])
    except IdentifierError as e:
        raise ConfigError(f"{where}: `source_table`: {e}") from e
    t_schema, _, t_table = entry["target_table"].partition(".")
    for part in (t_schema, t_table):
        if not _DAGSTER_NAME.fullmatch(part):
            raise ConfigError(
                f"{where}: `target_table` must be `schema.table` of letters, digits and `_` "
                f"(it becomes the asset key), got `{entry['target_table']}`"
            )
        check_pg_identifier(part, what=f"{where}: `target_table`")
    mode = entry.get("mode", "full")
    if mode not in ("full", "incremental", "change_tracking"):
        raise ConfigError(f"{where}: `mode` must be `full`, `incremental` or `change_tracking`, got `{mode}`")
    if mode == "change_tracking" and entry.get("primary_key") is None:
        raise ConfigError(f"{where}: `mode: change_tracking` needs `primary_key` (the tracked table's key: "
                          f"changes are merged and deleted by it); list the key column(s)")
    incremental = _option(parse_incremental, entry, where) if mode == "incremental" else None
    if incremental is None:
        given = [k for k in _INCREMENTAL_ONLY if k in entry]
        if given:
            raise ConfigError(f"{where}: {given} only apply to `mode: incremental`; remove them "
                              f"or set `mode: incremental`")
    naming = entry.get("column_naming", "snake_case")
    if naming not in ("snake_case", "preserve"):
        raise ConfigError(f"{where}: `column_naming` must be `snake_case` or `preserve`")
    tolerance = entry.get("row_count_tolerance", 0)
    if not isinstance(tolerance, int) or isinstance(tolerance, bool) or tolerance < 0:
        raise ConfigError(f"{where}: `row_count_tolerance` must be a whole number >= 0")
    # Incremental tables read committed data by default: a dirty read of a change that is
    # later rolled back would stay in the replica until the row changes again (a full copy
    # heals by itself on the next run).
    nolock = entry.get("nolock", incremental is None and mode != "change_tracking")
    if not isinstance(nolock, bool):
        raise ConfigError(f"{where}: `nolock` must be true or false")
    rows_match_blocking = entry.get("rows_match_blocking", True)
    if not isinstance(rows_match_blocking, bool):
        raise ConfigError(f"{where}: `rows_match_blocking` must be true or false")
    rows_match = entry.get("rows_match", "checksum")
    if rows_match not in ("checksum", "rows"):
        raise ConfigError(f"{where}: `rows_match` must be `checksum` (segment checksums, rows only where "
                          f"they differ) or `rows` (compare every row), got `{rows_match}`")
    segment_rows = entry.get("rows_match_segment_rows", DEFAULT_SEGMENT_ROWS)
    if not isinstance(segment_rows, int) or isinstance(segment_rows, bool) or segment_rows < _MIN_SEGMENT_ROWS:
        raise ConfigError(f"{where}: `rows_match_segment_rows` must be a whole number >= {_MIN_SEGMENT_ROWS}, "
                          f"got `{segment_rows}`")
    freshness = _option(parse_freshness, entry.get("freshness"), where)
    fraction = entry.get("max_delete_fraction")
    if fraction is not None and (isinstance(fraction, bool) or not isinstance(fraction, (int, float))
                                 or not 0 <= fraction <= 1):
        raise ConfigError(f"{where}: `max_delete_fraction` must be a number from 0 to 1 (the largest "
                          f"share of the replica's rows one run may delete), got {fraction!r}")
    include, exclude = _parse_columns(entry.get("columns"), where)
    renames = entry.get("column_names", {}) or {}
    if not isinstance(renames, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in renames.items()
    ):
        raise ConfigError(f"{where}: `column_names` must map source column names to target names")
    try:
        indexes = parse_indexes(entry.get("indexes"), where)
    except IndexSpecError as e:
        raise ConfigError(str(e)) from e
    return TableSpec(
        source=entry["source"],
        source_schema=s_schema,
        source_table=s_table,
        target_schema=t_schema,
        target_table=t_table,
        mode=mode,
        primary_key=_str_list(entry.get("primary_key"), "primary_key", where),
        include=include,
        exclude=exclude,
        nolock=nolock,
        row_count_tolerance=tolerance,
        column_naming=naming,
        column_names=dict(renames),
        description=str(entry.get("description", "")),
        rows_match_blocking=rows_match_blocking,
        rows_match=rows_match,
        rows_match_segment_rows=segment_rows,
        freshness=freshness,
        incremental=incremental,
        max_delete_fraction=None if fraction is None else float(fraction),
        indexes=indexes,
        parallel_readers=parse_parallel_readers(entry, where),
        partitions=_parse_partitions(entry, mode, where),
    )


def _parse_partitions(entry: dict, mode: str, where: str) -> PartitionSpec | None:
    if "partitions" not in entry:
        return None
    if mode != "full":
        raise ConfigError(f"{where}: `partitions` replaces `mode: incremental` (each partition is "
                          f"copied whole); remove one of them")
    try:
        return parse_partitions(entry["partitions"], where)
    except PartitionConfigError as e:
        raise ConfigError(str(e)) from e


def _option(parse, raw: Any, where: str):
    try:
        return parse(raw, where)
    except TableOptionError as e:
        raise ConfigError(str(e)) from e


def _parse_columns(raw: Any, where: str) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    if raw is None:
        return None, ()
    if not isinstance(raw, dict) or set(raw) - {"include", "exclude"}:
        raise ConfigError(f"{where}: `columns` takes `include` and/or `exclude` lists")
    include = _str_list(raw.get("include"), "columns.include", where)
    exclude = _str_list(raw.get("exclude"), "columns.exclude", where) or ()
    if include is not None and exclude:
        raise ConfigError(f"{where}: use either `columns.include` or `columns.exclude`, not both")
    return include, exclude


def _str_list(raw: Any, key: str, where: str) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) and x for x in raw):
        raise ConfigError(f"{where}: `{key}` must be a non-empty list of column names")
    return tuple(raw)


def _no_unknown(body: dict, allowed: set[str], where: str) -> None:
    unknown = set(body) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
