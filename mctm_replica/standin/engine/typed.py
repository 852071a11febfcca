"""Typed expressions and name scopes used while translating T-SQL to DuckDB."""

from __future__ import annotations

from dataclasses import dataclass, field

from mctm_replica.standin.engine.catalog import TableInfo
from mctm_replica.standin.engine.decl import Decl

NOCONST = object()  # marker: the expression is not a constant


@dataclass
class Typed:
    """DuckDB SQL for an expression, its declared type, and its value if constant."""

    sql: str
    decl: Decl | None
    const: object = NOCONST
    from_param: bool = False
    nullable: bool = True
    identity: bool = False
    # No value is longer than this many characters (None: only the declaration bounds it).
    # Lets a string result skip SQL Server's cut at 4,000/8,000 characters when it cannot
    # reach it, while ``decl`` keeps the type SQL Server gives the expression.
    longest: int | None = None

    @property
    def is_const(self) -> bool:
        return self.const is not NOCONST


@dataclass
class Source:
    """A FROM item: its SQL alias and its columns' names and declarations."""

    alias: str  # alias used in generated SQL (unquoted)
    names: list[str]
    decls: list[Decl | None]
    nullables: list[bool]
    identities: list[bool] = field(default_factory=list)
    table: TableInfo | None = None
    match_names: tuple[str, ...] = ()  # lower-case names a qualifier may use

    def find(self, name: str) -> int | None:
        low = name.lower()
        for i, n in enumerate(self.names):
            if n.lower() == low:
                return i
        return None


@dataclass
class Scope:
    sources: list[Source] = field(default_factory=list)
    parent: Scope | None = None
    ctes: dict[str, Source] = field(default_factory=dict)
    outputs: list[tuple[str, Typed]] = field(default_factory=list)

    def cte(self, name: str) -> Source | None:
        s: Scope | None = self
        while s is not None:
            if name.lower() in s.ctes:
                return s.ctes[name.lower()]
            s = s.parent
        return None
