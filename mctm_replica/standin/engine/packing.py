"""Packed result columns: DuckDB computes cheap wire-ready forms, Python only forwards them.

Turning DECIMAL, UUID and HUGEINT values into Python Decimal/UUID/int objects
was most of the engine's time per row, and taking them apart again most of the
encoder's. For the types listed in contract.py's "packed" table, the SELECT is
wrapped so that DuckDB yields BIGINT/BLOB values instead (vectorised, in C++),
and the ResultSet lists those columns in ``packed`` for the encoder.
"""

from __future__ import annotations

from mctm_replica.standin.contract import TICKS_PER_DAY
from mctm_replica.standin.engine.decl import DTO_BASE, DTO_BIAS, TICK_TYPES, Decl, storage_type

DTO_BITS = DTO_BASE.bit_length() - 1  # DTO_BASE is a power of two: shift, not divide

# uuid -> its 16 bytes in wire order (bytes_le: the first three fields byte-swapped),
# rearranged by DuckDB from the big-endian bytes' hex digits: several times faster
# than building uuid.UUID objects. (start, length) in the 32 hex digits, 1-based.
_GUID_LE_ORDER = ((7, 2), (5, 2), (3, 2), (1, 2), (11, 2), (9, 2), (15, 2), (13, 2), (17, 16))
# Widest decimal whose unscaled value fits BIGINT, which DuckDB hands over fastest.
_BIGINT_DIGITS = 18


def _time_len(scale: int) -> int:
    return 3 if scale <= 2 else 4 if scale <= 4 else 5


def _packed_ticks_sql(d: Decl, dtype: str | None, x: str) -> str | None:
    """time(n)/datetime2(n) stored as BIGINT ticks, datetimeoffset(n) stored as HUGEINT
    -> the integer of their wire bytes (datetimeoffset: of its UTC date and time)."""
    n = 7 if d.scale is None else d.scale
    div = 10 ** (7 - n)
    if d.type == "datetimeoffset":
        if dtype != "HUGEINT":
            return None  # computed as TIMESTAMPTZ: converted in Python instead
        utc = f"CAST(({x}) >> {DTO_BITS} AS BIGINT)"
        return f"((({utc}) // {TICKS_PER_DAY}) << {8 * _time_len(n)} | (({utc}) % {TICKS_PER_DAY}) // {div})"
    if dtype != "BIGINT":
        return None  # computed as TIMESTAMP/TIME: converted in Python instead
    if d.type == "time":
        return x if div == 1 else f"({x} // {div})"
    return f"((({x}) // {TICKS_PER_DAY}) << {8 * _time_len(n)} | (({x}) % {TICKS_PER_DAY}) // {div})"


def _packed_sql(d: Decl | None, x: str, dtype: str | None = None) -> str | None:
    """DuckDB SQL for column ``x`` (declared ``d``) in the contract's packed form, or None.

    The value is first cast to the declaration's storage type, so a packed value always
    means exactly what the column metadata declares.
    """
    if d is None:
        return None
    t = d.type
    # Scaled in DECIMAL(38, s), which cannot overflow: DuckDB keeps a product of
    # DECIMAL(18, s) operands in 18 digits, which overflows at the extremes.
    if t in ("money", "smallmoney"):
        return f"CAST(CAST(CAST({x} AS {storage_type(d)}) AS DECIMAL(38,4)) * 10000 AS BIGINT)"
    if t in ("decimal", "numeric") and d.precision is not None and d.precision <= _BIGINT_DIGITS:
        s = d.scale or 0
        if s == 0:
            return f"CAST(CAST({x} AS {storage_type(d)}) AS BIGINT)"
        return f"CAST(CAST(CAST({x} AS {storage_type(d)}) AS DECIMAL(38,{s})) * {10 ** s} AS BIGINT)"
    if t in TICK_TYPES or t == "datetimeoffset":
        return _packed_ticks_sql(d, dtype, x)
    if t == "uniqueidentifier":
        h = f"hex(CAST(CAST({x} AS UUID) AS BLOB))"
        return "unhex(" + " || ".join(f"substr({h}, {a}, {n})" for a, n in _GUID_LE_ORDER) + ")"
    return None


def needs_types(decls: list[Decl | None]) -> bool:
    """Whether packing depends on DuckDB's own result types (bind the query first)."""
    return any(d is not None and (d.type in TICK_TYPES or d.type == "datetimeoffset") for d in decls)


def pack_query(sql: str, decls: list[Decl | None], duck_types: list[str] | None = None) -> tuple[str, frozenset[int]]:
    """Wrap a SELECT so that DuckDB yields the packed forms (contract.py) where it can."""
    names = [f"c{i}" for i in range(len(decls))]
    exprs, packed = [], set()
    for i, d in enumerate(decls):
        p = _packed_sql(d, names[i], duck_types[i] if duck_types else None)
        if p is not None:
            packed.add(i)
        exprs.append(names[i] if p is None else p)
    # each packed datetimeoffset's offset follows the last column (contract.py)
    exprs += [f"CAST(({names[i]} & {DTO_BASE - 1}) - {DTO_BIAS} AS SMALLINT)"
              for i in sorted(packed) if decls[i].type == "datetimeoffset"]  # type: ignore[union-attr]
    if exprs == names:
        return sql, frozenset(packed)
    return f"SELECT {', '.join(exprs)} FROM ({sql}) AS __packed({', '.join(names)})", frozenset(packed)
