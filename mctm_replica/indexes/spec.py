"""``indexes:`` of a table entry in tables.yaml.

``indexes: none`` opts the table out (indexes mctm_replica made earlier are dropped);
``indexes: {extra: [...]}`` adds replica-only indexes to the source's::

    indexes:
      extra:
        - columns: [customer_id, "activated_on desc"]   # replica (or source) column names
          include: [status]
          unique: false
          where: "status = 1"                           # a PostgreSQL predicate
          name: module_by_customer                      # optional
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_EXTRA_KEYS = {"name", "columns", "include", "unique", "where"}
_ORDERED = re.compile(r"\s*(.+?)(?:\s+(asc|desc))?\s*", re.IGNORECASE)


class IndexSpecError(ValueError):
    """`indexes` in tables.yaml is invalid; the message names the entry and the fix."""


@dataclass(frozen=True)
class ExtraIndex:
    """A replica-only index; column names are resolved against the table's columns at run time."""

    columns: tuple[tuple[str, bool], ...]  # (column, descending)
    include: tuple[str, ...] = ()
    unique: bool = False
    where: str | None = None  # PostgreSQL predicate, written by the operator
    name: str | None = None  # None: derived from the target table and the columns


@dataclass(frozen=True)
class IndexesSpec:
    enabled: bool = True  # false: `indexes: none`
    extra: tuple[ExtraIndex, ...] = ()


def parse_indexes(raw: Any, where: str) -> IndexesSpec:
    if raw is None:
        return IndexesSpec()
    if raw == "none":
        return IndexesSpec(enabled=False)
    if not isinstance(raw, dict) or set(raw) - {"extra"}:
        raise IndexSpecError(f"{where}: `indexes` must be `none` or `{{extra: [...]}}`, got {raw!r}")
    entries = raw.get("extra") or []
    if not isinstance(entries, list):
        raise IndexSpecError(f"{where}: `indexes.extra` must be a list of indexes with `columns`")
    return IndexesSpec(extra=tuple(_extra(e, f"{where}: `indexes.extra` entry {i + 1}")
                                   for i, e in enumerate(entries)))


def _extra(raw: Any, where: str) -> ExtraIndex:
    if not isinstance(raw, dict):
        raise IndexSpecError(f"{where}: expected a mapping with `columns`")
    unknown = set(raw) - _EXTRA_KEYS
    if unknown:
        raise IndexSpecError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_EXTRA_KEYS)}")
    cols = raw.get("columns")
    if isinstance(cols, str):
        cols = [cols]
    if not isinstance(cols, list) or not cols or not all(isinstance(c, str) and c.strip() for c in cols):
        raise IndexSpecError(f"{where}: `columns` must be a non-empty list of column names "
                             f"(each optionally followed by `desc`)")
    ordered = []
    for c in cols:
        m = _ORDERED.fullmatch(c)
        ordered.append((m.group(1), (m.group(2) or "").lower() == "desc"))
    include = raw.get("include") or []
    if isinstance(include, str):
        include = [include]
    if not isinstance(include, list) or not all(isinstance(c, str) and c.strip() for c in include):
        raise IndexSpecError(f"{where}: `include` must be a list of column names")
    unique = raw.get("unique", False)
    if not isinstance(unique, bool):
        raise IndexSpecError(f"{where}: `unique` must be true or false")
    predicate = raw.get("where")
    if predicate is not None and (not isinstance(predicate, str) or not predicate.strip()):
        raise IndexSpecError(f"{where}: `where` must be a PostgreSQL predicate such as `status = 1`")
    name = raw.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise IndexSpecError(f"{where}: `name` must be an index name")
    return ExtraIndex(tuple(ordered), tuple(c.strip() for c in include), unique, predicate, name)
