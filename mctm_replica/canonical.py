"""Values as the type map copied them: what "equal" means between source and replica.

The content check compares the source's values with the replica's after both went
through these functions, so a money value equals its numeric copy, real compares as
float32, uuid case-insensitively, bytea as bytes, and source text without the NUL
characters the loader stripped. Datetime2 needs nothing here: pymssql already hands it
over at the replica's microsecond precision.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from mctm_replica.plan import TablePlan

Canon = Callable[[Any], Any] | None

#: Rendered example values are cut here so one long text cannot flood an alert.
_MAX_VALUE_CHARS = 80
_F32 = struct.Struct("<f")


def _real(v: Any) -> Any:
    return None if v is None else _F32.unpack(_F32.pack(v))[0]


def _uuid(v: Any) -> Any:
    return None if v is None else str(v).lower()


def _bytes(v: Any) -> Any:
    return None if v is None else bytes(v)


def _strip_nul(v: Any) -> Any:
    return v.replace("\x00", "") if isinstance(v, str) and "\x00" in v else v


def canonicalizers(plan: TablePlan) -> tuple[list[Canon], list[Canon]]:
    """Per column: (source-side, target-side) function to the comparable value, or None
    when the drivers already return equal Python values for equal data."""
    src: list[Canon] = []
    tgt: list[Canon] = []
    for c in plan.columns:
        name = c.source_type.name
        if name == "real":
            src.append(_real), tgt.append(_real)
        elif name == "uniqueidentifier":
            src.append(_uuid), tgt.append(_uuid)
        elif c.value == "bytes":
            src.append(_bytes), tgt.append(_bytes)  # psycopg2 returns memoryview
        elif c.value == "text":
            src.append(_strip_nul), tgt.append(None)  # the loader stripped NUL on the way in
        else:
            src.append(None), tgt.append(None)
    return src, tgt


def canon_rows(batches: Iterable[list[tuple]], canon: list[Canon]) -> Iterator[tuple]:
    active = [(i, f) for i, f in enumerate(canon) if f is not None]
    for batch in batches:
        if not active:
            yield from batch
            continue
        for row in batch:
            values = list(row)
            for i, f in active:
                values[i] = f(values[i])
            yield tuple(values)


def render(v: Any) -> Any:
    """A JSON-safe, short rendering of a value for metadata and messages."""
    if v is None or isinstance(v, (bool, int, float)):
        return v
    if isinstance(v, (dt.date, dt.time)):
        text = v.isoformat()
    elif isinstance(v, (bytes, bytearray, memoryview)):
        text = "0x" + bytes(v).hex()
    else:
        text = str(v)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "…"
