"""The replica's side of indexes: read what a table has, create and drop what mctm_replica owns.

Every index mctm_replica creates carries ``COMMENT ON INDEX`` text starting with
``mctm_replica:`` and a hash of its definition. Only indexes with that mark are ever
dropped (the source removed the index, the table opted out with ``indexes: none``, or the
definition changed and the index is rebuilt); an index an operator made by hand -- any
index without the mark, whatever its name -- is never touched.

:func:`sync_indexes` runs inside the refresh transaction, after the rows are applied and
before COMMIT (README "Indexes on the replica" explains why not CONCURRENTLY). Each
index is created under a SAVEPOINT: one that cannot be built (a unique index the copied
rows violate, a lock that does not come) is reported and the refresh still commits.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import psycopg2
from dagster import MetadataValue
from dagster._core.storage.db_io_manager import TableSlice
from psycopg2 import sql

from mctm_replica.indexes.desired import IndexPlan, ReplicaIndex

MARK = "mctm_replica:"

_EXISTING_SQL = """
SELECT c.relname, obj_description(c.oid, 'pg_class'), i.indisprimary OR con.oid IS NOT NULL
FROM pg_index AS i
JOIN pg_class AS c ON c.oid = i.indexrelid
LEFT JOIN pg_constraint AS con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
WHERE i.indrelid = to_regclass(format('%%I.%%I', %s, %s))
ORDER BY c.relname
"""


@dataclass(frozen=True)
class Existing:
    name: str
    ours: bool
    signature: str | None
    constraint: bool  # the primary key or another constraint's index


def existing_indexes(cur, slice_: TableSlice) -> dict[str, Existing]:
    cur.execute(_EXISTING_SQL, (slice_.schema, slice_.table))
    found = {}
    for name, comment, constraint in cur.fetchall():
        ours = bool(comment) and comment.startswith(MARK)
        signature = comment.rsplit("definition ", 1)[-1] if ours and "definition " in comment else None
        found[name] = Existing(name, ours, signature, bool(constraint))
    return found


def create_statement(slice_: TableSlice, index: ReplicaIndex) -> sql.Composed:
    if index.deferred:
        return sql.SQL("ALTER TABLE {}.{} ADD CONSTRAINT {} UNIQUE ({}){} DEFERRABLE INITIALLY DEFERRED").format(
            sql.Identifier(slice_.schema), sql.Identifier(slice_.table), sql.Identifier(index.name),
            sql.SQL(", ").join(sql.Identifier(c) for c, _ in index.columns),
            sql.SQL(" INCLUDE ({})").format(sql.SQL(", ").join(map(sql.Identifier, index.include)))
            if index.include else sql.SQL(""))
    keys = sql.SQL(", ").join(sql.SQL("{}{}").format(sql.Identifier(c), sql.SQL(" DESC" if d else ""))
                              for c, d in index.columns)
    parts = [sql.SQL("CREATE {}INDEX IF NOT EXISTS {} ON {}.{} ({})").format(
        sql.SQL("UNIQUE " if index.unique else ""), sql.Identifier(index.name),
        sql.Identifier(slice_.schema), sql.Identifier(slice_.table), keys)]
    if index.include:
        parts.append(sql.SQL("INCLUDE ({})").format(sql.SQL(", ").join(map(sql.Identifier, index.include))))
    if index.where is not None:
        parts.append(sql.SQL("WHERE {}").format(index.where))
    return sql.SQL(" ").join(parts)


def signature(cur, slice_: TableSlice, index: ReplicaIndex) -> str:
    return hashlib.sha256(create_statement(slice_, index).as_string(cur).encode()).hexdigest()[:16]


@dataclass
class IndexDrift:
    create: list[str]
    drop: list[str]
    rebuild: list[str]
    taken: list[str]  # wanted names held by a hand-made index
    hand_made: list[str]
    constraints: set[str]  # existing names that are a constraint's index (dropped with the constraint)

    def differences(self) -> list[str]:
        return ([f"index `{n}` is missing on the replica (the next run creates it)" for n in self.create]
                + [f"index `{n}` is no longer wanted (removed on the source or from tables.yaml; the next run "
                   f"drops it)" for n in self.drop]
                + [f"index `{n}` has another definition on the source (the next run rebuilds it)"
                   for n in self.rebuild])


def index_drift(cur, slice_: TableSlice, plan: IndexPlan) -> IndexDrift:
    """How the replica's indexes differ from the plan, without changing anything."""
    existing = existing_indexes(cur, slice_)
    wanted = {i.name: i for i in plan.wanted} if plan.enabled else {}
    drift = IndexDrift([], [], [], [], [n for n, e in existing.items() if not e.ours and not e.constraint],
                       {n for n, e in existing.items() if e.constraint})
    for name, e in existing.items():
        if e.ours and name not in wanted:
            drift.drop.append(name)
    for name, index in wanted.items():
        e = existing.get(name)
        if e is None:
            drift.create.append(name)
        elif not e.ours:
            drift.taken.append(name)
        elif e.signature != signature(cur, slice_, index):
            drift.rebuild.append(name)
    return drift


def sync_indexes(cur, slice_: TableSlice, plan: IndexPlan, log) -> dict:
    """Create the wanted indexes, drop the ones mctm_replica made that are no longer wanted;
    returns the materialization metadata. Runs in the refresh's transaction."""
    table = f"{slice_.schema}.{slice_.table}"
    drift = index_drift(cur, slice_, plan)
    wanted = {i.name: i for i in plan.wanted}
    not_created = list(plan.not_created) + [
        f"`{n}`: the name is taken by an index not made by mctm_replica (kept as it is)" for n in drift.taken]
    dropped, created = [], []
    for name in drift.drop + drift.rebuild:
        # DROP INDEX takes ACCESS EXCLUSIVE on the table: readers wait for COMMIT (rare: the
        # source dropped or changed an index); lock_timeout bounds the wait.
        drop = (sql.SQL("ALTER TABLE {}.{} DROP CONSTRAINT {}").format(
            sql.Identifier(slice_.schema), sql.Identifier(slice_.table), sql.Identifier(name))
            if name in drift.constraints else
            sql.SQL("DROP INDEX IF EXISTS {}.{}").format(sql.Identifier(slice_.schema), sql.Identifier(name)))
        if _in_savepoint(cur, drop, not_created, f"`{name}` (not dropped)"):
            dropped.append(name)
            log.warning(f"{table}: dropped index {name} (mctm_replica made it; no longer wanted as it was); "
                        f"readers of the table wait for this run's COMMIT")
    for name in drift.create + [n for n in drift.rebuild if n in dropped]:
        index = wanted[name]
        text = f"{MARK} {index.origin}; definition {signature(cur, slice_, index)}"
        statement = sql.SQL("{}; COMMENT ON INDEX {}.{} IS {}").format(
            create_statement(slice_, index), sql.Identifier(slice_.schema), sql.Identifier(name), sql.Literal(text))
        if _in_savepoint(cur, statement, not_created, f"`{name}` ({index.origin})"):
            created.append(name)
            log.info(f"{table}: created index {name} from {index.origin}")
    for reason in not_created:
        log.warning(f"{table}: index not created: {reason}")
    for note in plan.notes:
        log.warning(f"{table}: {note}")
    return {
        "indexes": MetadataValue.json(sorted(wanted)) if plan.enabled else "none (indexes: none)",
        "indexes_created": MetadataValue.json(created),
        "indexes_dropped": MetadataValue.json(dropped),
        "indexes_not_created": MetadataValue.json(not_created),
        "index_notes": MetadataValue.json(plan.notes),
    }


def _in_savepoint(cur, statement: sql.Composable, failures: list[str], what: str) -> bool:
    cur.execute("SAVEPOINT mctm_index")
    try:
        cur.execute(statement)
    except psycopg2.Error as e:
        cur.execute("ROLLBACK TO SAVEPOINT mctm_index")
        failures.append(f"{what}: {str(e).strip().splitlines()[0]}")
        return False
    cur.execute("RELEASE SAVEPOINT mctm_index")
    return True


def drift_metadata(drift: IndexDrift, plan: IndexPlan) -> dict:
    """The schema check's index metadata: differences, what was left out and hand-made indexes kept."""
    return {
        "index_differences": MetadataValue.json(drift.differences()),
        "indexes_not_created": MetadataValue.json(
            plan.not_created + [f"`{n}`: the name is taken by an index not made by mctm_replica" for n in drift.taken]),
        "hand_made_indexes": MetadataValue.json(drift.hand_made),
    }
