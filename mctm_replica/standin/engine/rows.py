"""Streaming result rows out of DuckDB in the contract's representations.

Almost every stored value already is its contract representation, and the
exact numerics, uniqueidentifier and tick types leave DuckDB packed (see
packing.py), so most columns pass through untouched; only rowversion (BIGINT
-> 8 bytes), real, TEXTSIZE cuts and expressions DuckDB typed as
TIMESTAMP/TIME/TIMESTAMPTZ (-> ticks) are converted, per value, in Python.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Iterator

import duckdb

from mctm_replica.standin.contract import Column
from mctm_replica.standin.engine.errors import map_error
from mctm_replica.standin.engine.values import datetime_to_ticks, dto_decode

# Rows per fetch: large enough that per-batch overhead is negligible (measured
# ~210k rows/s at 2,000 vs ~160-170k at 10,000-50,000 on the 10-column bench,
# since smaller batches stay in CPU cache), small enough that the first rows of
# a 1M-row SELECT leave at once and a cancelled stream stops promptly.
BATCH_ROWS = 2000
_RV = struct.Struct(">q")


def _time_ticks(v: dt.time) -> int:
    return ((v.hour * 60 + v.minute) * 60 + v.second) * 10_000_000 + v.microsecond * 10


def _dto_from_tz(v: dt.datetime) -> tuple[int, int]:
    off = v.utcoffset() or dt.timedelta(0)
    return datetime_to_ticks(v.replace(tzinfo=None) - off), int(off.total_seconds() // 60)


_LOBS = frozenset({"text", "ntext", "image"})
_MAX_TYPES = frozenset({"varchar", "nvarchar", "varbinary"})


def _textsize_cut(col: Column, textsize: int):
    """TEXTSIZE truncates large-value columns (bytes; UTF-16 units for n-types), as SQL Server does."""
    if textsize >= 2147483647 or not (col.type in _LOBS or (col.type in _MAX_TYPES and col.length == -1)):
        return None
    if col.type in ("nvarchar", "ntext"):
        from mctm_replica.standin.engine.constants import _utf16_prefix

        units = textsize // 2
        return lambda v: _utf16_prefix(v, units) if len(v) > units // 2 else v
    return lambda v: v[:textsize]


def converters_for(columns: list[Column], duck_types: list[str], outs, textsize: int = 2147483647,
                   packed: frozenset[int] = frozenset()) -> list:
    convs = []
    for i, (col, dtype) in enumerate(zip(columns, duck_types)):
        t = col.type
        f = None
        if i in packed:
            pass
        elif t == "datetimeoffset":
            f = dto_decode if dtype == "HUGEINT" else _dto_from_tz
        elif t == "rowversion":
            f = (lambda v: _RV.pack(v)) if dtype == "BIGINT" else None
        elif t in ("datetime2",) and dtype.startswith("TIMESTAMP"):
            f = datetime_to_ticks
        elif t == "time" and dtype == "TIME":
            f = _time_ticks
        elif t == "real" and dtype == "DOUBLE":
            f = lambda v: struct.unpack("<f", struct.pack("<f", v))[0]  # noqa: E731
        cut = _textsize_cut(col, textsize)
        if cut is not None:
            f = cut
        convs.append(f)
    return convs


def stream_rows(session, res, convs: list) -> Iterator[list[tuple]]:
    """Yield lists of row tuples; DuckDB errors surface as SqlError mid-stream."""
    idx = [(i, f) for i, f in enumerate(convs) if f is not None]
    while True:
        try:
            rows = res.fetchmany(BATCH_ROWS)
        except duckdb.Error as e:
            session._after_error()
            raise map_error(e) from e
        if not rows:
            return
        if idx:
            fixed = []
            for r in rows:
                r = list(r)
                for i, f in idx:
                    v = r[i]
                    if v is not None:
                        r[i] = f(v)
                fixed.append(tuple(r))
            rows = fixed
        yield rows
