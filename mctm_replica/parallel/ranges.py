"""Splitting a table's integer key span into reader ranges.

The span is the key's MIN and MAX read once before the readers start. Rows inserted
while the readers run may fall outside it, so the first range has no lower bound and the
last no upper bound: every key, whatever its value, falls in exactly one range (the
ranges are half-open, ``lower <= key < upper``, never BETWEEN).
"""

from __future__ import annotations

from dataclasses import dataclass

from mctm_replica.tsql import reads


@dataclass(frozen=True)
class KeyRange:
    lower: int | None  # None: no lower bound (the first range)
    upper: int | None  # None: no upper bound (the last range); exclusive

    def condition(self, key: str) -> tuple[str, tuple[int, ...]]:
        """The T-SQL condition on column ``key`` (``%s`` placeholders) and its parameters;
        empty when unbounded."""
        params = tuple(b for b in (self.lower, self.upper) if b is not None)
        return reads.half_open(key, lower=self.lower is not None, upper=self.upper is not None), params

    def describe(self) -> str:
        low = "" if self.lower is None else f"{self.lower} <= "
        high = "" if self.upper is None else f" < {self.upper}"
        return f"{low}key{high}" if (low or high) else "every key"

    def contains(self, key: int) -> bool:
        return (self.lower is None or key >= self.lower) and (self.upper is None or key < self.upper)


def split(low: int | None, high: int | None, readers: int) -> list[KeyRange]:
    """``readers`` ranges covering every integer, cut evenly across ``low..high``.

    An empty table (``low`` None) or a span narrower than ``readers`` gets fewer ranges:
    a reader with nothing to read would only hold a connection.
    """
    if readers < 1:
        raise ValueError(f"readers must be >= 1, got {readers}")
    if low is None or high is None:
        return [KeyRange(None, None)]
    width = high - low + 1
    n = max(1, min(readers, width))
    cuts = [low + (width * i) // n for i in range(1, n)]
    bounds: list[int | None] = [None, *cuts, None]
    return [KeyRange(bounds[i], bounds[i + 1]) for i in range(n)]
