"""``rows_match``: compare every value of a replica with its source, not just the count.

Row counts miss the worst failures -- a changed value, two swapped rows, a truncated
text, a timestamp shifted by a microsecond. This module reads both sides and reports
the keys missing in the replica, the keys only in the replica, and the keys whose values
differ, with the differing columns and up to :data:`MAX_EXAMPLES` example keys.

Three strategies, chosen from the table's plan:

* ``merge`` (streaming): when every key column has a type that SQL Server and
  PostgreSQL sort the same way (integers, decimals, money, dates and times, bit,
  floats), both sides are read ``ORDER BY`` the key in batches and merge-compared.
  Memory is two batches whatever the table size; the cost is one ordered scan per side.
* ``hash``: keys whose sort orders differ between the servers (text collations,
  uniqueidentifier's byte order, binary) cannot be merged. The source's rows are held in
  a dict by key and the target streamed against it: memory grows with the table (about
  200 bytes plus the row's values per row), fine for today's tables.
* ``multiset``: a table without a key is compared as a multiset of rows: each distinct
  row must occur as often in the replica as in the source.

Values are compared as the type map says they were copied (:mod:`mctm_replica.typemap`):
money/decimal by numeric value (``Decimal`` equality ignores the scale), datetime2 and
time at the microseconds the replica holds (pymssql already delivers microseconds),
datetimeoffset by instant (aware datetimes compare by instant), text with NUL
characters stripped, uniqueidentifier case-insensitively, real as float32, xml as text,
binary as bytes.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from psycopg2 import sql as pgsql

from mctm_replica.canonical import canon_rows, canonicalizers, render
from mctm_replica.plan import TablePlan
from mctm_replica.tsql import reads

#: Example keys kept in the check's metadata; enough to start an investigation, small
#: enough for the UI and an alert message.
MAX_EXAMPLES = 20

#: Source types whose order is identical in SQL Server and PostgreSQL (no collation,
#: no byte-order quirk), so an ORDER BY on both sides can be merged.
MERGE_SAFE_TYPES = frozenset({
    "bit", "tinyint", "smallint", "int", "bigint", "decimal", "numeric", "money",
    "smallmoney", "float", "real", "date", "time", "datetime", "datetime2",
    "smalldatetime", "datetimeoffset",
})

Strategy = Literal["merge", "hash", "multiset"]
Kind = Literal["missing", "extra", "different"]



class ContentCheckError(RuntimeError):
    """The comparison itself could not be carried out (not a difference in the data)."""


@dataclass(frozen=True)
class Example:
    kind: Kind  # missing: only in the source; extra: only in the replica
    key: dict[str, Any]  # key columns (all columns for a table without key), JSON-safe
    columns: tuple[str, ...] = ()  # for `different`: the columns whose values differ

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "key": self.key}
        if self.columns:
            out["columns"] = list(self.columns)
        return out


@dataclass
class ContentDiff:
    strategy: Strategy
    source_rows: int = 0
    target_rows: int = 0
    missing: int = 0
    extra: int = 0
    different: int = 0
    differing_columns: Counter = field(default_factory=Counter)
    examples: list[Example] = field(default_factory=list)
    seconds: float = 0.0
    method: str = "rows"  # "checksum": segment checksums, rows only where they differ
    details: dict[str, Any] = field(default_factory=dict)  # the method's own figures

    @property
    def passed(self) -> bool:
        return self.missing == 0 and self.extra == 0 and self.different == 0

    def note(self, example: Example) -> None:
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(example)

    def summary(self) -> str:
        if self.passed:
            how = "segment checksums" if self.method == "checksum" else f"{self.strategy} comparison"
            return f"all {self.source_rows:,} rows match ({how})"
        parts = []
        if self.missing:
            parts.append(f"{self.missing:,} row(s) missing in the replica")
        if self.extra:
            parts.append(f"{self.extra:,} extra row(s) in the replica")
        if self.different:
            cols = ", ".join(sorted(self.differing_columns))
            parts.append(f"{self.different:,} row(s) with different values (columns: {cols})")
        return "; ".join(parts)

    def metadata(self) -> dict[str, Any]:
        """Plain values for AssetCheckResult metadata (the caller wraps the JSON ones)."""
        return {
            "source_rows": self.source_rows,
            "target_rows": self.target_rows,
            "missing_in_target": self.missing,
            "extra_in_target": self.extra,
            "different_values": self.different,
            "differing_columns": dict(sorted(self.differing_columns.items())),
            "example_keys": [e.as_json() for e in self.examples],
            "strategy": self.strategy,
            "method": self.method,
            **self.details,
            "duration_s": round(self.seconds, 3),
        }


# ---- comparison -------------------------------------------------------------------------


def choose_strategy(plan: TablePlan) -> Strategy:
    if not plan.primary_key:
        return "multiset"
    by_target = {c.target_name: c for c in plan.columns}
    if all(by_target[k].source_type.name in MERGE_SAFE_TYPES for k in plan.primary_key):
        return "merge"
    return "hash"


class _Comparer:
    def __init__(self, plan: TablePlan, strategy: Strategy):
        self.names = plan.target_columns
        self.key_idx = [self.names.index(k) for k in plan.primary_key]
        self.diff = ContentDiff(strategy)

    def key(self, row: tuple) -> tuple:
        return tuple(row[i] for i in self.key_idx)

    def key_dict(self, row: tuple) -> dict[str, Any]:
        idx = self.key_idx or range(len(self.names))
        return {self.names[i]: render(row[i]) for i in idx}

    def missing(self, row: tuple) -> None:
        self.diff.missing += 1
        self.diff.note(Example("missing", self.key_dict(row)))

    def extra(self, row: tuple) -> None:
        self.diff.extra += 1
        self.diff.note(Example("extra", self.key_dict(row)))

    def pair(self, s: tuple, t: tuple) -> None:
        if s == t:
            return
        cols = tuple(self.names[i] for i, (a, b) in enumerate(zip(s, t)) if a != b)
        self.diff.different += 1
        self.diff.differing_columns.update(cols)
        self.diff.note(Example("different", self.key_dict(s), cols))


def _counted(rows: Iterator[tuple], diff: ContentDiff, attr: str) -> Iterator[tuple]:
    n = 0
    try:
        for n, row in enumerate(rows, 1):  # noqa: B007 (n is read in `finally`)
            yield row
    finally:
        setattr(diff, attr, n)


def _ordered(rows: Iterator[tuple], key: Callable[[tuple], tuple], side: str) -> Iterator[tuple]:
    """Pass rows through, failing loudly if ``side`` did not deliver them in key order
    (a merge over unordered input would report false differences)."""
    prev = None
    for row in rows:
        k = key(row)
        if prev is not None and not prev < k:
            raise ContentCheckError(
                f"the {side} returned key {k!r} after {prev!r}: not in ascending key order, "
                f"so a merge comparison is impossible (duplicate key or a type the two "
                f"servers sort differently)"
            )
        prev = k
        yield row


def compare(
    plan: TablePlan,
    source_batches: Iterable[list[tuple]],
    target_batches: Iterable[list[tuple]],
    strategy: Strategy | None = None,
) -> ContentDiff:
    """Compare row batches of both sides (columns in ``plan.columns`` order).

    For ``merge`` both inputs must be sorted by the key; the other strategies take any
    order. Pure logic: the callers own the connections.
    """
    strategy = strategy or choose_strategy(plan)
    if strategy != "multiset" and not plan.primary_key:
        raise ContentCheckError(f"strategy `{strategy}` needs a key; the table has none")
    cmp = _Comparer(plan, strategy)
    diff = cmp.diff
    src_canon, tgt_canon = canonicalizers(plan)
    src = _counted(canon_rows(source_batches, src_canon), diff, "source_rows")
    tgt = _counted(canon_rows(target_batches, tgt_canon), diff, "target_rows")
    if strategy == "merge":
        _merge(cmp, _ordered(src, cmp.key, "source"), _ordered(tgt, cmp.key, "replica"))
    elif strategy == "hash":
        _hash(cmp, src, tgt)
    else:
        _multiset(cmp, src, tgt)
    return diff


def _merge(cmp: _Comparer, src: Iterator[tuple], tgt: Iterator[tuple]) -> None:
    s, t = next(src, None), next(tgt, None)
    while s is not None or t is not None:
        if t is None or (s is not None and cmp.key(s) < cmp.key(t)):
            cmp.missing(s)
            s = next(src, None)
        elif s is None or cmp.key(t) < cmp.key(s):
            cmp.extra(t)
            t = next(tgt, None)
        else:
            cmp.pair(s, t)
            s, t = next(src, None), next(tgt, None)


def _hash(cmp: _Comparer, src: Iterator[tuple], tgt: Iterator[tuple]) -> None:
    pending: dict[tuple, tuple] = {}
    for s in src:
        pending[cmp.key(s)] = s
    for t in tgt:
        s = pending.pop(cmp.key(t), None)
        if s is None:
            cmp.extra(t)
        else:
            cmp.pair(s, t)
    for s in pending.values():
        cmp.missing(s)


def _multiset(cmp: _Comparer, src: Iterator[tuple], tgt: Iterator[tuple]) -> None:
    counts: Counter = Counter(src)
    for t in tgt:
        if counts[t] > 0:
            counts[t] -= 1
        else:
            cmp.extra(t)
    for row, n in counts.items():
        for _ in range(n):
            cmp.missing(row)


# ---- reading both sides -----------------------------------------------------------------

# Source batches fetched ahead of the comparison: the source scan is the slow side, so
# it keeps running while PostgreSQL is read and rows are compared; two batches bound memory.
_PREFETCH_DEPTH = 2
_DONE = object()


@contextmanager
def _prefetched(batches: Iterable[list[tuple]]) -> Iterator[Iterator[list[tuple]]]:
    """Iterate ``batches`` on a background thread; errors are re-raised to the consumer.

    Leaving the block stops and joins the thread, so the caller may close the source
    connection right after.
    """
    q: queue.Queue = queue.Queue(maxsize=_PREFETCH_DEPTH)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
            put(_DONE)
        except BaseException as e:  # handed to the consumer, which re-raises it
            put(e)

    def consume() -> Iterator[list[tuple]]:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    thread = threading.Thread(target=produce, name="rows_match source", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        thread.join(timeout=60)


def compare_table(mssql: Any, pg_conn: Any, plan: TablePlan, *, batch_size: int = 10_000,
                  where: RowSlice | None = None) -> ContentDiff:
    """``rows_match`` as the table's ``rows_match`` setting says: segment checksums first
    (:mod:`mctm_replica.verify.checksum`), or every row (:func:`compare_rows`). A source
    that cannot compute the checksums (before SQL Server 2019) is compared by rows. A
    ``where`` slice (one time partition: a day's or a month's rows) is compared by rows."""
    if where is not None:
        return compare_rows(mssql, pg_conn, plan, batch_size=batch_size, where=where)
    if plan.spec.rows_match == "checksum":
        from mctm_replica.verify.checksum import compare_by_checksum, utf8_hashing

        reason = utf8_hashing(mssql)
        if reason is None:
            diff, stats = compare_by_checksum(mssql, pg_conn, plan, segment_rows=plan.spec.rows_match_segment_rows,
                                              batch_size=batch_size)
            diff.method = "checksum"
            diff.details = {k: v for k, v in vars(stats).items()}
            return diff
        diff = compare_rows(mssql, pg_conn, plan, batch_size=batch_size)
        diff.details = {"checksum_unavailable": reason}
        return diff
    return compare_rows(mssql, pg_conn, plan, batch_size=batch_size)


#: A slice of both tables: (T-SQL condition, PostgreSQL condition, their shared parameters).
RowSlice = tuple[str, pgsql.Composable, tuple]


def compare_rows(mssql: Any, pg_conn: Any, plan: TablePlan, *, batch_size: int = 10_000,
                 where: RowSlice | None = None) -> ContentDiff:
    """Read the source through ``mssql`` (a MssqlResource) and the replica through
    ``pg_conn`` (psycopg2, not autocommit) and compare them with :func:`compare`; only the
    rows of the ``where`` slice, if given."""
    strategy = choose_strategy(plan)
    spec = plan.spec
    by_target = {c.target_name: c for c in plan.columns}
    query = reads.select_sql(spec.source_schema, spec.source_table, plan.source_columns, nolock=spec.nolock)
    target_query = pgsql.SQL("SELECT {} FROM {}.{}").format(
        pgsql.SQL(", ").join(map(pgsql.Identifier, plan.target_columns)),
        pgsql.Identifier(spec.target_schema),
        pgsql.Identifier(spec.target_table),
    )
    params: tuple = ()
    if where is not None:
        query = reads.where(query, where[0])
        target_query = pgsql.SQL("{} WHERE {}").format(target_query, where[1])
        params = where[2]
    if strategy == "merge":
        query += reads.order_by([by_target[k].source_name for k in plan.primary_key])
        target_query = pgsql.SQL("{} ORDER BY {}").format(
            target_query, pgsql.SQL(", ").join(map(pgsql.Identifier, plan.primary_key))
        )
    started = time.monotonic()
    with mssql.stream(query, params, what=f"`{spec.source_name}`") as source_batches, \
            pg_conn.cursor(name=f"rows_match_{uuid.uuid4().hex[:8]}") as cur:
        cur.itersize = batch_size
        cur.execute(target_query, params or None)

        def target_batches() -> Iterator[list[tuple]]:
            while rows := cur.fetchmany(batch_size):
                yield rows

        with _prefetched(source_batches) as source_ahead:
            diff = compare(plan, source_ahead, target_batches(), strategy)
    pg_conn.rollback()  # read-only; ends the snapshot
    diff.seconds = time.monotonic() - started
    return diff
