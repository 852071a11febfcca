"""The SQL Server side of ``mode: change_tracking``: the checks made before anything is
read, and the reads of one run (every row, or the changes since a version), each with the
Change Tracking version it is consistent with.

Consistency (what ``ct_consistency`` reports):

* ``snapshot`` -- the database allows snapshot isolation: the version and the rows are
  read in one ``SNAPSHOT`` transaction, so the rows are exactly the state at that version.
* ``version_first`` -- otherwise (Microsoft's documented alternative): the current version
  is read *before* the rows (READ COMMITTED). Rows may then already include changes past
  the version; the next run reads those changes again, and since the merge only writes
  rows that differ, re-reading them is harmless. Nothing committed before the version can
  be missed.

Changes are ``CHANGETABLE(CHANGES t, @last)`` LEFT JOINed to the current rows: a changed
key whose row exists is merged as that row; a changed key whose row is gone is deleted.
Deciding by the row's presence (not ``SYS_CHANGE_OPERATION``) makes a delete a delete --
never a row of NULLs -- and brings each key to its current state whatever happened to it
in between. The T-SQL is built in :mod:`mctm_replica.tsql.change_tracking`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import pymssql

from mctm_replica.resources.mssql import MssqlResource, SourceError
from mctm_replica.tsql.change_tracking import (
    BEGIN_SQL, COMMIT_SQL, DATABASE_NAME_SQL, RETENTION_SQL, SNAPSHOT_ISOLATION_SQL, SNAPSHOT_STATE_SQL,
    TABLE_TRACKED_SQL, all_rows_sql, changes_sql, fix_database, fix_grant, fix_table, readable_probe_sql,
    versions_sql,
)
from mctm_replica.tsql.quoting import qualified

#: SQL Server's error numbers for what the fix messages name.
PERMISSION_DENIED = 229  # no VIEW CHANGE TRACKING (or SELECT) on the table
NOT_ENABLED_ON_TABLE = 22105


class ChangeTrackingError(SourceError):
    """Change Tracking cannot be read for this table; the message holds the DBA's fix."""


class RetentionPassed(SourceError):
    """Cleanup removed changes this run needed while it read them; the next run resyncs."""


@dataclass(frozen=True)
class CtStatus:
    """What the checks before the read found."""

    database: str
    snapshot: bool  # sys.databases.snapshot_isolation_state = 1 (ON)
    current_version: int
    min_valid_version: int
    retention: str  # e.g. "2 DAYS"

    @property
    def consistency(self) -> str:
        return "snapshot" if self.snapshot else "version_first"


def key_problem(configured: Sequence[str], table_key: Sequence[str]) -> str | None:
    """Why ``configured`` (tables.yaml's ``primary_key``) cannot be the key Change Tracking
    reports -- CHANGETABLE returns the table's own primary key columns -- or None."""
    if sorted(k.lower() for k in configured) == sorted(k.lower() for k in table_key):
        return None
    return (f"`primary_key` {list(configured)} is not the table's primary key {list(table_key) or 'none'}, the "
            f"key Change Tracking records; set `primary_key: {list(table_key)}`"
            if table_key else "the table has no primary key, which Change Tracking needs")


@dataclass
class ChangeTrackingSource:
    """One run's Change Tracking reads of one table. :meth:`check` first (fails before
    anything is read); then :meth:`read_all` or :meth:`read_changes`, which record the
    version their rows are consistent with in :attr:`version`."""

    mssql: MssqlResource
    schema: str
    table: str
    columns: list[str]  # source column names, in plan order
    key: list[str]  # source key column names
    status: CtStatus | None = None
    version: int | None = None  # set by a read
    deleted_keys: list[tuple] = field(default_factory=list)  # set by read_changes

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"

    def _where(self) -> str:
        return f"source `{self.mssql.source}` table `{self.name}`"

    def check(self) -> CtStatus:
        """Change Tracking on for the database and the table, the grant in place, and the
        versions -- or :class:`ChangeTrackingError` naming what is missing and the fix."""
        with self.mssql.get_connection() as conn, conn.cursor() as cur:
            cur.execute(DATABASE_NAME_SQL)
            db = str(cur.fetchone()[0])
            cur.execute(RETENTION_SQL)
            row = cur.fetchone()
            if row is None:
                raise ChangeTrackingError(
                    f"{self._where()}: `mode: change_tracking` needs Change Tracking, which is not enabled on "
                    f"database `{db}`; a DBA runs: {fix_database(db)}; {fix_table(self.schema, self.table)}")
            retention = f"{row[0]} {row[1]}"
            cur.execute(TABLE_TRACKED_SQL, (qualified(self.schema, self.table),))
            if int(cur.fetchone()[0]) == 0:
                raise ChangeTrackingError(
                    f"{self._where()}: `mode: change_tracking` needs Change Tracking on the table, which is not "
                    f"enabled; a DBA runs: {fix_table(self.schema, self.table)}")
            try:
                cur.execute(readable_probe_sql(self.schema, self.table, self.key))
                cur.fetchall()
            except pymssql.Error as e:
                number = e.args[0] if e.args and isinstance(e.args[0], int) else None
                if number == PERMISSION_DENIED:
                    raise ChangeTrackingError(
                        f"{self._where()}: the login `{self.mssql.user}` lacks the VIEW CHANGE TRACKING "
                        f"permission; a DBA runs: {fix_grant(self.schema, self.table, self.mssql.user)}") from e
                if number == NOT_ENABLED_ON_TABLE:
                    raise ChangeTrackingError(
                        f"{self._where()}: Change Tracking is not enabled on the table; a DBA runs: "
                        f"{fix_table(self.schema, self.table)}") from e
                raise ChangeTrackingError(f"{self._where()}: cannot read its change table: "
                                          f"{_first_line(e)}") from e
            cur.execute(versions_sql(), (qualified(self.schema, self.table),))
            current, min_valid = cur.fetchone()
            cur.execute(SNAPSHOT_STATE_SQL)
            snap = cur.fetchone()
        self.status = CtStatus(db, bool(snap and snap[0] == 1), int(current or 0), int(min_valid or 0), retention)
        return self.status

    @contextmanager
    def _session(self) -> Iterator:
        """A cursor in the run's consistent read: a SNAPSHOT transaction, or READ COMMITTED
        after the version was read first. The version is read and recorded here."""
        snapshot = self.status is not None and self.status.snapshot
        with self.mssql.get_connection() as conn:
            cur = conn.cursor()
            try:
                if snapshot:
                    cur.execute(SNAPSHOT_ISOLATION_SQL)
                    cur.execute(BEGIN_SQL)
                cur.execute(versions_sql(), (qualified(self.schema, self.table),))
                current, min_valid = cur.fetchone()
            except pymssql.Error as e:
                raise SourceError(f"{self._where()}: cannot read the Change Tracking version: "
                                  f"{_first_line(e)}") from e
            yield cur, int(current or 0), int(min_valid or 0)
            if snapshot:
                cur.execute(COMMIT_SQL)

    def _batches(self, cur, what: str) -> Iterator[list[tuple]]:
        while True:
            try:
                rows = cur.fetchmany(self.mssql.batch_size)
            except pymssql.Error as e:
                raise SourceError(f"reading {what} of {self._where()} failed mid-stream: {_first_line(e)}") from e
            if not rows:
                return
            yield rows

    @contextmanager
    def read_all(self) -> Iterator[Iterator[list[tuple]]]:
        """Every row, consistent with the version recorded in :attr:`version`."""
        with self._session() as (cur, current, _min_valid):
            self.version = current
            try:
                cur.execute(all_rows_sql(self.schema, self.table, self.columns))
            except pymssql.Error as e:
                raise SourceError(f"cannot read {self._where()}: {_first_line(e)}") from e
            yield self._batches(cur, "the rows")

    @contextmanager
    def read_changes(self, last: int) -> Iterator[Iterator[list[tuple]]]:
        """The current rows of keys changed since ``last`` (deleted keys go to
        :attr:`deleted_keys`, complete once the batches are exhausted)."""
        self.deleted_keys = []
        with self._session() as (cur, current, min_valid):
            if last < min_valid:  # cleanup ran after the checks: the changes are incomplete
                if self.status is not None:  # a retried attempt decides again, and resyncs
                    self.status = replace(self.status, min_valid_version=min_valid)
                raise RetentionPassed(
                    f"{self._where()}: Change Tracking cleanup removed changes after version {last} while this "
                    f"run started (minimum valid version now {min_valid}); the next run resyncs every row")
            self.version = current
            try:
                cur.execute(changes_sql(self.schema, self.table, self.columns, self.key), (last,))
            except pymssql.Error as e:
                raise SourceError(f"cannot read the changes of {self._where()}: {_first_line(e)}") from e
            nk = len(self.key)

            def split() -> Iterator[list[tuple]]:
                for rows in self._batches(cur, "the changes"):
                    present = []
                    for row in rows:
                        if row[0]:
                            self.deleted_keys.append(tuple(row[1:1 + nk]))
                        else:
                            present.append(tuple(row[1 + nk:]))
                    if present:
                        yield present

            yield split()

    @contextmanager
    def read_deleted_keys(self) -> Iterator[Iterator[list[tuple]]]:
        """The keys :meth:`read_changes` found deleted (no second source read)."""
        yield iter([self.deleted_keys] if self.deleted_keys else [])


def _first_line(e: BaseException) -> str:
    text = " ".join(str(a.decode(errors="replace") if isinstance(a, bytes) else a) for a in e.args)
    return text.strip().splitlines()[0] if text.strip() else type(e).__name__
