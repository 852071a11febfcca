"""Schema drift: how an existing replica table differs from what the source now gives.

Compared by column name (PostgreSQL types as ``format_type()`` prints them, from the one
type map), each difference is one :class:`ColumnChange`:

* ``add`` -- a new source column. Added to the replica (nullable: rows already there
  have no value for it; a full refresh fills them).
* ``widen`` -- a type that holds every old value: a longer varchar, varchar -> text,
  smallint -> integer -> bigint, more numeric digits, finer timestamp precision, real ->
  double precision. Applied in place with ``ALTER COLUMN ... TYPE``.
* ``allow_null`` -- the source column became nullable: ``DROP NOT NULL``.
* ``drop``, ``narrow``, ``retype``, ``key`` -- a column gone from the source, a type that
  cannot hold every old value, a different type altogether, or a different primary key
  (the incremental merge needs the replica's key to be the configured one). Never applied silently: the run
  fails naming them, unless it was started with ``full_refresh: true``, which rebuilds
  the column (or drops it) and reloads every row.

A column that became NOT NULL in the source stays nullable in the replica (harmless).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from mctm_replica.plan import TablePlan

ChangeKind = Literal["add", "widen", "allow_null", "drop", "narrow", "retype", "key"]
COMPATIBLE: frozenset[str] = frozenset({"add", "widen", "allow_null"})

_INTEGER_RANK = {"smallint": 1, "integer": 2, "bigint": 3}
_INTEGER_DIGITS = {"smallint": 5, "integer": 10, "bigint": 19}
_VARCHAR = re.compile(r"character varying\((\d+)\)")
_NUMERIC = re.compile(r"numeric\((\d+),(\d+)\)")
_TIMED = re.compile(r"(timestamp|time)\((\d)\) (with|without) time zone")


@dataclass(frozen=True)
class ColumnChange:
    column: str
    kind: ChangeKind
    old: str | None  # replica type (None: not in the replica)
    new: str | None  # type the source now gives (None: not in the source)

    @property
    def compatible(self) -> bool:
        return self.kind in COMPATIBLE

    def describe(self) -> str:
        return {
            "add": f"`{self.column}` is new in the source ({self.new})",
            "widen": f"`{self.column}` widened from {self.old} to {self.new}",
            "allow_null": f"`{self.column}` ({self.old}) became nullable",
            "drop": f"`{self.column}` ({self.old}) is no longer in the source",
            "narrow": f"`{self.column}` narrowed from {self.old} to {self.new}",
            "retype": f"`{self.column}` changed type from {self.old} to {self.new}",
            "key": f"the primary key changed from {self.old} to {self.new}",
        }[self.kind]


def classify(old: str, new: str) -> ChangeKind | None:
    """None if equal; ``widen`` if ``new`` holds every ``old`` value; else narrow/retype."""
    if old == new:
        return None
    if old in _INTEGER_RANK and new in _INTEGER_RANK:
        return "widen" if _INTEGER_RANK[new] > _INTEGER_RANK[old] else "narrow"
    if old in _INTEGER_DIGITS and (m := _NUMERIC.fullmatch(new)):
        p, s = int(m[1]), int(m[2])
        return "widen" if p - s >= _INTEGER_DIGITS[old] else "narrow"
    if (a := _VARCHAR.fullmatch(old)) and (new == "text" or (b := _VARCHAR.fullmatch(new))):
        return "widen" if new == "text" or int(b[1]) > int(a[1]) else "narrow"
    if old == "text" and _VARCHAR.fullmatch(new):
        return "narrow"
    if (a := _NUMERIC.fullmatch(old)) and (b := _NUMERIC.fullmatch(new)):
        (p1, s1), (p2, s2) = (int(a[1]), int(a[2])), (int(b[1]), int(b[2]))
        return "widen" if s2 >= s1 and p2 - s2 >= p1 - s1 else "narrow"
    if (a := _TIMED.fullmatch(old)) and (b := _TIMED.fullmatch(new)) and (a[1], a[3]) == (b[1], b[3]):
        return "widen" if int(b[2]) > int(a[2]) else "narrow"
    if (old, new) == ("real", "double precision"):
        return "widen"
    if (old, new) == ("double precision", "real"):
        return "narrow"
    return "retype"


def _key_text(columns: Sequence[str]) -> str:
    return f"({', '.join(columns)})" if columns else "none"


def diff_layout(existing: Sequence[tuple[str, str, bool]], plan: TablePlan,
                existing_key: Sequence[str] | None = None) -> list[ColumnChange]:
    """Every difference between the replica's columns ``(name, type, nullable)`` and the
    plan's, in the plan's column order, then columns gone from the source, then the
    primary key (when ``existing_key`` is given)."""
    actual = {name: (pg, nullable) for name, pg, nullable in existing}
    changes: list[ColumnChange] = []
    for c in plan.columns:
        if c.target_name not in actual:
            changes.append(ColumnChange(c.target_name, "add", None, c.pg_type))
            continue
        old, old_nullable = actual[c.target_name]
        kind = classify(old, c.pg_type)
        if kind is not None:
            changes.append(ColumnChange(c.target_name, kind, old, c.pg_type))
        elif c.nullable and not old_nullable:
            changes.append(ColumnChange(c.target_name, "allow_null", old, old))
    planned = set(plan.target_columns)
    changes += [ColumnChange(n, "drop", pg, None) for n, (pg, _) in actual.items() if n not in planned]
    if existing_key is not None and list(existing_key) != list(plan.primary_key):
        changes.append(ColumnChange(", ".join(plan.primary_key), "key", _key_text(existing_key),
                                    _key_text(plan.primary_key)))
    return changes
