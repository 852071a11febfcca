"""The fast read path proves itself on the server it runs against, before the first row.

The default read path asks SQL Server to format each row as a PostgreSQL COPY CSV line
(:mod:`mctm_replica.tsql.csv_lines`). Its expressions are right for SQL Server 2016-2022 on
paper; a server whose text for some type differed would write the replica wrong, and only
the content check would notice, after the commit. So before the first row of each run on
a source, :func:`require_same_reads` SELECTs a fixed set of literal values of every type
in the type map -- extremes, NULL, empty and blank strings, quotes and CSV syntax,
Japanese in ``varchar`` under the database's collation, NUL, precision-7 times, offsets --
once as typed values (the path ``format_on_server: false`` uses, formatted by
:class:`~mctm_replica.io_managers.copy_format.CsvBatchEncoder`) and once as server-made
lines, and compares what PostgreSQL would store from each (:func:`stored_value`, a model
of the target type's input function). Any difference fails the run before anything is
read or written, naming the type, both texts and the fix. It needs no table and writes
nothing; its result is cached per source and run.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
import threading
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from mctm_replica.io_managers.copy_format import CsvBatchEncoder, CsvLineEncoder
from mctm_replica.resources.mssql import MssqlResource, SourceError
from mctm_replica.tsql.probes import PROBES, ReadProbe, line_select, probe_select
from mctm_replica.typemap import lookup, pg_type


# ---------------------------------------------------------------- PostgreSQL's reading

def csv_fields(line: str) -> list[str | None]:
    """The fields of one COPY CSV line; None for an unquoted empty field (NULL)."""
    fields: list[str | None] = []
    i, n = 0, len(line)
    while True:
        if i < n and line[i] == '"':
            j, buf = i + 1, []
            while True:
                k = line.index('"', j)
                buf.append(line[j:k])
                if k + 1 < n and line[k + 1] == '"':
                    buf.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            fields.append("".join(buf))
        else:
            k = line.find(",", i)
            k = n if k < 0 else k
            fields.append(line[i:k] or None)
            i = k
        if i >= n:
            return fields
        i += 1  # the comma
        if i == n:
            fields.append(None)
            return fields


_STAMP = re.compile(r"(?:(\d{4,})-(\d\d)-(\d\d))?[ T]?(?:(\d\d):(\d\d):(\d\d)(?:\.(\d+))?)?"
                    r"\s*(?:([+-])(\d\d):?(\d\d))?$")
_F32 = struct.Struct("<f")


def _fraction(digits: str | None, keep: int) -> int:
    """Microseconds of ``.digits`` rounded to ``keep`` digits, as PostgreSQL rounds input."""
    if not digits:
        return 0
    value = Decimal("0." + digits).quantize(Decimal(1).scaleb(-keep), rounding=ROUND_HALF_EVEN)
    return int(value * 1_000_000)


def _stamp(text: str, keep: int) -> int:
    """Microseconds since 0001-01-01 (UTC for a text with an offset)."""
    m = _STAMP.match(text.strip())
    if not m:
        raise ValueError(text)
    y, mo, d, h, mi, s, frac, sign, oh, om = m.groups()
    day = dt.date(int(y or 1), int(mo or 1), int(d or 1)).toordinal()
    clock = (int(h or 0) * 3600 + int(mi or 0) * 60 + int(s or 0)) * 1_000_000 + _fraction(frac, keep)
    offset = 0 if sign is None else (1 if sign == "+" else -1) * (int(oh) * 60 + int(om)) * 60_000_000
    return day * 86_400_000_000 + clock - offset


_PRECISION = re.compile(r"\((\d+)")


def stored_value(text: str | None, target_type: str) -> Any:
    """What PostgreSQL stores from ``text`` in a column of ``target_type`` (a comparable model
    of its input functions, for the types the type map produces)."""
    if text is None:
        return None
    t = target_type.split("(")[0].strip()
    m = _PRECISION.search(target_type)
    keep = int(m.group(1)) if m else 6
    if t == "boolean":
        return text.strip().lower() in ("t", "true", "1", "yes", "on", "y")
    if t in ("smallint", "integer", "bigint"):
        return int(text)
    if t == "numeric":
        return Decimal(text)
    if t == "double precision":
        return float(text)
    if t == "real":
        return _F32.unpack(_F32.pack(float(text)))[0]
    if t == "date":
        return dt.date.fromisoformat(text.strip())
    if t in ("time", "timestamp"):
        return _stamp(text, keep)
    if t == "uuid":
        return uuid.UUID(text)
    if t == "bytea":
        return bytes.fromhex(text[2:]) if text.startswith("\\x") else text.encode()
    return text  # varchar, text: stored as given (NUL already stripped by the encoders)


# ---------------------------------------------------------------- the check

@dataclass(frozen=True)
class ReadDifference:
    probe: ReadProbe
    row: str  # "value" or "NULL"
    typed_text: str | None
    line_text: str | None


def compare(probes: list[ReadProbe], typed_rows: list[tuple], lines: list[str]) -> list[ReadDifference]:
    """Probe by probe, where the two read paths would store different values (pure)."""
    names = [f"c{i}" for i in range(len(probes))]
    families = [lookup(p.type).value for p in probes]
    typed_encoder = CsvBatchEncoder(names, families, [True] * len(probes))
    line_encoder = CsvLineEncoder(names)
    diffs = []
    for row_name, typed_row, line in zip(("value", "NULL"), typed_rows, lines):
        # One record each (a quoted field may hold a newline): drop only the record's end.
        typed_fields = csv_fields(typed_encoder.encode([typed_row]).decode()[:-1])
        line_fields = csv_fields(line_encoder.encode([(line,)]).decode()[:-1])
        for i, p in enumerate(probes):
            target = pg_type(p.type, table="(read check)", column=names[i])
            a = typed_fields[i] if i < len(typed_fields) else "<missing>"
            b = line_fields[i] if i < len(line_fields) else "<missing>"
            try:
                same = stored_value(a, target) == stored_value(b, target)
            except (ValueError, ArithmeticError, IndexError):
                same = False
            if not same:
                diffs.append(ReadDifference(p, row_name, a, b))
    return diffs


def run_read_check(mssql: MssqlResource, probes: list[ReadProbe] = PROBES) -> list[ReadDifference]:
    """Both reads of the probe values on one connection; the differences."""
    with mssql.get_connection() as conn, conn.cursor() as cur:
        cur.execute(probe_select(probes))
        typed = [tuple(r) for r in cur.fetchall()]
        cur.execute(line_select(probes))
        lines = [r[0] for r in cur.fetchall()]
    return compare(probes, typed, lines)


def difference_message(d: ReadDifference, *, source: str) -> str:
    return (f"SQL Server formats {d.probe.label} (`{d.probe.type.declared()}`, {d.row}) as "
            f"{d.line_text!r} on the server, but its typed value loads as {d.typed_text!r}: the "
            f"fast read path would write it wrong on this server. Set `format_on_server: false` "
            f"for source `{source}` in tables.yaml")


_checked: dict[tuple[str, str], list[ReadDifference]] = {}
_lock = threading.Lock()


def require_same_reads(mssql: MssqlResource, *, table: str, source: str, run_id: str) -> None:
    """Fail (naming ``table``, the type, both texts and the fix) before any row is read if
    the two read paths disagree on this server; checked once per source and run."""
    fix = f"set `format_on_server: false` for source `{source}` in tables.yaml"
    key = (run_id, source)
    with _lock:
        diffs = _checked.get(key)
    if diffs is None:
        try:
            diffs = run_read_check(mssql)
        except SourceError as e:
            raise SourceError(f"table `{table}`: the read-path self-check failed: {e}; {fix}") from e
        except Exception as e:  # a driver error on one of the probe expressions
            raise SourceError(f"table `{table}`: the read-path self-check failed: "
                              f"{str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}; "
                              f"if this server is older than SQL Server 2016, {fix}") from e
        with _lock:
            _checked[key] = diffs
    if diffs:
        raise SourceError(f"table `{table}`: " + difference_message(diffs[0], source=source)
                          + (f" ({len(diffs) - 1} more difference(s))" if len(diffs) > 1 else ""))
