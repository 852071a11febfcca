"""Recording tracked DML and giving each committed transaction its version.

A statement on a tracked table runs with ``RETURNING`` its primary key; the
keys go into the table's side table tagged with the transaction's token (one
per database and DuckDB transaction) and a statement sequence. An UPDATE that
sets a key column is recorded as SQL Server records it: a delete of every old
key, then an insert of every new one. Nothing gets a version until COMMIT:
``committing`` writes (token, next version) into ``ct_commits`` inside the
transaction and holds the registry lock across DuckDB's COMMIT, so versions
follow commit order and a rolled-back transaction leaves no trace (its side rows
and commit row vanish with it; the counter only moves after COMMIT succeeded).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from mctm_replica.standin.engine.catalog import TableInfo, quote
from mctm_replica.standin.engine.decl import storage_type
from mctm_replica.standin.engine.change_tracking.state import hidden, registry, side_table, tracked_row

_SEQ = itertools.count(1)  # statement order inside a transaction (only the order matters)


@dataclass
class UpdateShape:
    """What the UPDATE translation knows and the capture needs."""

    set_columns: list[str]  # columns in the SET list, in order (rowversion columns appended)
    target: str  # "<table> AS <alias><FROM ...><WHERE ...>": the rows the UPDATE touches
    alias: str


@dataclass
class _Pending:
    txid: int | None  # DuckDB's transaction id; None for the statement's own transaction
    tokens: dict[str, int]  # database alias -> token of this transaction's side rows


def tracks(session, info: TableInfo) -> tuple | None:
    if info.pk is None or info.kind != "BASE TABLE":
        return None
    return tracked_row(session, info.alias, info.object_id)


def _txid(session) -> int:
    return int(session.cur.execute("SELECT txid_current()").fetchall()[0][0])


def _token(session, alias: str) -> int:
    """This transaction's token in ``alias``. Pending state left by a transaction that rolled
    back (the session has no rollback hook) is recognised by its DuckDB transaction id."""
    p: _Pending | None = getattr(session, "_ct_pending", None)
    if p is None or (p.txid is not None and p.txid != _txid(session)):
        p = _Pending(None if session.trancount == 0 else _txid(session), {})
        session._ct_pending = p
    if alias not in p.tokens:
        p.tokens[alias] = registry(session.engine).next_token(alias)
    return p.tokens[alias]


def _key_list(info: TableInfo, qualifier: str | None) -> str:
    """The key columns as text (binary ones as hex: BLOB's text form escapes only some bytes)."""
    q = f"{quote(qualifier)}." if qualifier else ""
    return ", ".join(f"hex({q}{quote(c)})" if storage_type(info.column(c).decl) == "BLOB"
                     else f"CAST({q}{quote(c)} AS VARCHAR)" for c in info.pk[1])


# Up to this many keys go back into the side table as bound parameters; more go through a
# registered DataFrame (binding thousands of parameters is slow in DuckDB, a DataFrame is not).
SMALL = 200


def _returned(cur, sql: str, params) -> list[tuple]:
    return cur.execute(sql, params).fetchall()


def _record(session, info: TableInfo, rows: list[tuple], op: str, cols: list[int] | None, token: int,
            seq: int) -> None:
    """Append one event per returned key (``rows``: the keys as text, from RETURNING)."""
    if not rows:
        return
    n = len(info.pk[1])
    types = [storage_type(info.column(c).decl) for c in info.pk[1]]
    cols_sql = "NULL" if cols is None else "[" + ", ".join(str(c) for c in cols) + "]::INTEGER[]"
    head = f"INSERT INTO {side_table(info.alias, info.object_id)} SELECT {token}, {seq}, '{op}', {cols_sql}, "
    keys = ", ".join(f"from_hex(k{i})" if t == "BLOB" else f"CAST(k{i} AS {t})" for i, t in enumerate(types))
    names = ", ".join(f"k{i}" for i in range(n))
    if len(rows) <= SMALL:
        values = ", ".join("(" + ", ".join("?" * n) + ")" for _ in rows)
        session.cur.execute(f"{head}{keys} FROM (VALUES {values}) AS v({names})",
                            [v for r in rows for v in r])
        return
    import pandas as pd

    frame = pd.DataFrame(rows, columns=[f"k{i}" for i in range(n)], dtype=object)
    view = f"__ct_{id(frame)}"
    session.cur.register(view, frame)
    try:
        session.cur.execute(f"{head}{keys} FROM {view}")
    finally:
        session.cur.unregister(view)


def run_tracked(session, sql: str, params, info: TableInfo, verb: str, track, shape: UpdateShape | None) -> int:
    """Run one DML statement on a tracked table and record its changes; the affected row count."""
    own = session.trancount == 0
    cur = session.cur
    if own:
        session._ct_pending = None
        cur.execute("BEGIN TRANSACTION")
    try:
        count = _capture(session, sql, params, info, verb, track, shape)
        if own:
            with committing(session):
                cur.execute("COMMIT")
        return count
    except BaseException:
        if own:
            session._ct_pending = None
            try:
                cur.execute("ROLLBACK")
            except Exception:  # noqa: BLE001 - the transaction may already be gone
                pass
        raise


def _capture(session, sql, params, info, verb, track, shape) -> int:
    cur = session.cur
    if verb == "TRUNCATE":
        cur.execute(sql, params)
        cur.execute(f"DELETE FROM {side_table(info.alias, info.object_id)}")
        version = f"(SELECT coalesce(max(version), 0) FROM {hidden(info.alias, 'ct_commits')})"
        cur.execute(f"UPDATE {hidden(info.alias, 'ct_tables')} SET begin_version = {version}, "
                    f"min_valid_version = {version} WHERE object_id = ?", [info.object_id])
        return 0
    pk = [c.lower() for c in info.pk[1]]
    seq = next(_SEQ)
    if verb == "UPDATE" and shape is not None and any(c.lower() in pk for c in shape.set_columns):
        select = f"SELECT {_key_list(info, shape.alias)} FROM {shape.target}"
        used = set(re.findall(r"\$(p\d+)\b", select))  # only the bound values the SELECT uses
        old = _returned(cur, select, {k: v for k, v in (params or {}).items() if k in used} or None)
        new = _returned(cur, f"{sql} RETURNING {_key_list(info, shape.alias)}", params)
        if len(old) or len(new):
            token = _token(session, info.alias)
            _record(session, info, old, "D", None, token, seq)
            _record(session, info, new, "I", None, token, next(_SEQ))
        return len(new)
    qualifier = shape.alias if shape is not None else None
    frame = _returned(cur, f"{sql} RETURNING {_key_list(info, qualifier)}", params)
    if len(frame):
        op = {"INSERT": "I", "DELETE": "D"}.get(verb, "U")
        cols = None
        if op == "U" and track[0]:
            ids = []
            for name in shape.set_columns if shape is not None else []:
                c = info.column(name)
                if c is not None and c.ordinal not in ids:
                    ids.append(c.ordinal)
            others = {c.ordinal for c in info.columns if c.name.lower() not in pk}
            cols = None if others <= set(ids) else ids
        _record(session, info, frame, op, cols, _token(session, info.alias), seq)
    return len(frame)


@contextmanager
def committing(session) -> Iterator[None]:
    """Wrap DuckDB's COMMIT: give each database this transaction changed its next version."""
    p: _Pending | None = getattr(session, "_ct_pending", None)
    session._ct_pending = None
    if p is None or not p.tokens or (p.txid is not None and _txid(session) != p.txid):  # none, or rolled back
        yield
        return
    reg = registry(session.engine)
    with reg.lock:
        versions = {}
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        for alias, token in p.tokens.items():
            versions[alias] = reg.settings(alias).last_version + 1
            session.cur.execute(f"INSERT INTO {hidden(alias, 'ct_commits')} VALUES (?, ?, ?)",
                                [token, versions[alias], now])
        yield
        for alias, v in versions.items():
            reg.settings(alias).last_version = v
