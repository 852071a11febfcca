"""The indexes a replica table should have: the source's non-clustered ones plus the extra ones.

Names are derived from the target table, because PostgreSQL index names share one
namespace per schema (with tables) and are cut at 63 bytes: ``<table>_<source index in
snake_case>`` (``mctm_module`` + ``IX_mctm_module_ICCID`` -> ``mctm_module_ix_mctm_module_iccid``).
A name that would be longer, or that two indexes of the table would share, is cut and
given an 8-hex-digit suffix hashed from the table and the exact source name, so it is the
same on every run and unique.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

from psycopg2 import sql

from mctm_replica.config import ConfigError, TableSpec
from mctm_replica.indexes.filters import Untranslatable, translate_filter
from mctm_replica.naming import PG_MAX_IDENTIFIER_BYTES, to_snake_case
from mctm_replica.plan import TablePlan
from mctm_replica.resources.mssql_indexes import SourceIndex, read_source_indexes

# Room left for `_` + 8 hex digits when a name is cut.
_CUT_BYTES = PG_MAX_IDENTIFIER_BYTES - 9
# Unbounded types ((max) columns): a value past btree's ~2,700-byte index row limit in an
# INCLUDE column would fail a later refresh, so such columns are left out of INCLUDE.
_UNBOUNDED = ("text", "bytea")


@dataclass(frozen=True)
class ReplicaIndex:
    name: str
    columns: list[tuple[str, bool]]  # (target column, descending)
    include: list[str]
    unique: bool
    where: sql.Composable | None
    origin: str  # "source index [IX_...]" or "extra index in tables.yaml"
    # A unique one as a DEFERRABLE INITIALLY DEFERRED constraint: checked at COMMIT, on the
    # refresh's final rows (the apply's row-by-row steps may pass through duplicates).
    deferred: bool = False


@dataclass
class IndexPlan:
    enabled: bool = True  # false: `indexes: none`
    wanted: list[ReplicaIndex] = field(default_factory=list)
    not_created: list[str] = field(default_factory=list)  # source indexes left out, with the reason
    notes: list[str] = field(default_factory=list)  # indexes created with a difference, and why


def _cut(text: str, max_bytes: int) -> str:
    data = text.encode()[:max_bytes]
    return data.decode(errors="ignore").rstrip("_")


def index_name(table: str, base: str, *, hashed: bool = False) -> str:
    """``<table>_<base>``; cut with a deterministic hash suffix when too long or when ``hashed``."""
    name = f"{table}_{to_snake_case(base) or 'index'}"
    if not hashed and len(name.encode()) <= PG_MAX_IDENTIFIER_BYTES:
        return name
    return f"{_cut(name, _CUT_BYTES)}_{zlib.crc32(f'{table}/{base}'.encode()):08x}"


def build_index_plan(spec: TableSpec, plan: TablePlan, source_indexes: list[SourceIndex]) -> IndexPlan:
    """What the replica table should have; extra indexes naming unknown columns raise ConfigError."""
    if not spec.indexes.enabled:
        return IndexPlan(enabled=False)
    columns = {c.source_name.lower(): (c.target_name, c.pg_type) for c in plan.columns}
    result = IndexPlan()
    chosen: list[tuple[SourceIndex, list[tuple[str, bool]], list[str], sql.Composable | None]] = []
    for index in source_indexes:
        label = f"source index [{index.name}]"
        reason = _left_out(index, columns)
        where = None
        if reason is None and index.filter:
            try:
                where = translate_filter(index.filter, columns)
            except Untranslatable as e:
                reason = f"its filter {index.filter} is not translated: {e}"
        if reason is not None:
            result.not_created.append(f"{label}: {reason}")
            continue
        unbounded = [c for c in index.include if columns[c.lower()][1] in _UNBOUNDED]
        if unbounded:
            result.notes.append(f"{label}: created without INCLUDE column(s) {unbounded}: a long value of an "
                                f"unbounded type would exceed PostgreSQL's index row size and fail a refresh")
        keys = [(columns[c.lower()][0], d) for c, d in index.columns]
        deferred = index.unique and (where is None or _only_not_null(index))
        if deferred:
            where = None  # NULLs never conflict in PostgreSQL: `k IS NOT NULL` changes nothing
            if any(d for _, d in keys):
                result.notes.append(f"{label}: created ascending (a deferrable unique constraint has no DESC; "
                                    f"an index is read in either direction)")
                keys = [(k, False) for k, _ in keys]
        elif index.unique:
            result.notes.append(f"{label}: created non-unique (a filtered unique index cannot be a deferred "
                                f"constraint, and checked row by row it would fail refreshes that move values "
                                f"between rows)")
        chosen.append((index, keys, [columns[c.lower()][0] for c in index.include if c not in unbounded],
                       where, deferred))
    plain = [index_name(spec.target_table, i.name) for i, *_ in chosen]
    for (index, keys, include, where, deferred), name in zip(chosen, plain):
        shared = plain.count(name) > 1
        result.wanted.append(ReplicaIndex(index_name(spec.target_table, index.name, hashed=shared), keys,
                                          include, deferred, where, f"source index [{index.name}]", deferred))
    for n, extra in enumerate(spec.indexes.extra, start=1):
        result.wanted.append(_extra(spec, plan, extra, n))
    names = [i.name for i in result.wanted]
    dup = next((x for x in names if names.count(x) > 1), None)
    if dup is not None:
        raise ConfigError(f"table `{spec.source}:{spec.source_name}`: two indexes of the replica would both be "
                          f"named `{dup}`; give the `indexes.extra` entry another `name`")
    return result


_NOT_NULL = re.compile(r"\[((?:[^\]]|\]\])+)\] IS NOT NULL")


def _only_not_null(index: SourceIndex) -> bool:
    """The filter is only `[k] IS NOT NULL` of key columns, ANDed (``WHERE ICCID IS NOT NULL``)."""
    text = index.filter.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    keys = {c.lower() for c, _ in index.columns}
    parts = [_NOT_NULL.fullmatch(p.strip().strip("()")) for p in text.split(" AND ")]
    return all(m and m.group(1).replace("]]", "]").lower() in keys for m in parts)


def _left_out(index: SourceIndex, columns: dict[str, tuple[str, str]]) -> str | None:
    if index.type_desc != "NONCLUSTERED":
        return (f"a {index.type_desc} index; only non-clustered (rowstore) indexes are created "
                "(the replica's primary key comes from the source's)")
    if index.disabled:
        return "disabled on the source"
    missing = [c for c, _ in index.columns if c.lower() not in columns] + [
        c for c in index.include if c.lower() not in columns]
    if missing:
        return f"column(s) {missing} are not copied to the replica"
    return None


def _extra(spec: TableSpec, plan: TablePlan, extra, n: int) -> ReplicaIndex:
    where = f"table `{spec.source}:{spec.source_name}`: `indexes.extra` entry {n}"
    targets = {c.target_name: c.target_name for c in plan.columns}
    by_source = {c.source_name.lower(): c.target_name for c in plan.columns}

    def resolve(name: str) -> str:
        found = targets.get(name) or by_source.get(name.lower())
        if found is None:
            raise ConfigError(f"{where}: column `{name}` is not a column of the replica "
                              f"(it has {sorted(targets)}); fix tables.yaml")
        return found

    keys = [(resolve(c), d) for c, d in extra.columns]
    include = [resolve(c) for c in extra.include]
    if extra.name:
        name = extra.name
        if len(name.encode()) > PG_MAX_IDENTIFIER_BYTES:
            raise ConfigError(f"{where}: `name` `{name}` is longer than PostgreSQL's 63 bytes; shorten it")
    else:
        name = index_name(spec.target_table, "_".join(k for k, _ in keys) + "_extra")
    deferred = extra.unique and not extra.where and not any(d for _, d in keys)
    return ReplicaIndex(name, keys, include, extra.unique, sql.SQL(extra.where) if extra.where else None,
                        "extra index in tables.yaml", deferred)


def wanted_indexes(mssql, spec: TableSpec, plan: TablePlan) -> IndexPlan:
    """Read the source's indexes (unless `indexes: none`) and build the table's IndexPlan."""
    if not spec.indexes.enabled:
        return IndexPlan(enabled=False)
    return build_index_plan(spec, plan, read_source_indexes(mssql, spec.source_schema, spec.source_table))
