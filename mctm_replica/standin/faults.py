"""Server-wide fault injection, controlled over SQL so it works in every mode.

``EXEC sp_standin_fault @kind = N'drop_after_rows', @rows = 500, @match = N'customer', @times = 1``
arms a fault; ``EXEC sp_standin_clear_faults`` disarms all. Kinds:

* ``drop_after_rows``: the next ``@times`` result sets whose SQL text contains
  ``@match`` (case-insensitive; empty matches any) and that reach ``@rows``
  rows are cut by closing the TCP connection abruptly after ``@rows`` rows.
  Shorter result sets pass untouched and do not use up the fault.
* ``delay``: each of the next ``@times`` matching batches/RPCs waits
  ``@seconds`` before it is answered (an attention ends the wait).
* ``refuse_logins``: the next ``@times`` logins fail with error 18456 (except
  the fault-control connections of ``StandIn``, see ``ADMIN_APP_NAME``).
* ``error``: each of the next ``@times`` matching batches/RPCs fails with error
  ``@number`` (default 50000) and text ``@message`` instead of running -- what a
  server that refuses a statement (an older version, a missing permission) answers.
* ``rewrite``: each of the next ``@times`` batches/RPCs containing ``@match`` runs with
  that text replaced by ``@replace`` -- a server whose answer to one expression differs
  (e.g. a CONVERT style it formats otherwise), without any error.

``@times`` defaults to 1; ``@times = 0`` keeps the fault armed until cleared.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from .contract import SqlError

KINDS = ("drop_after_rows", "delay", "refuse_logins", "error", "rewrite")
# Application name of StandIn.inject_fault()/clear_faults() connections: they
# are exempt from refuse_logins, so an armed refusal can always be cleared.
ADMIN_APP_NAME = "mctm-standin-admin"


@dataclass
class Fault:
    kind: str
    match: str = ""
    rows: int = 0
    seconds: float = 0.0
    times: int = 1  # 0 = unlimited
    number: int = 50000
    message: str = "Error injected by the SQL Server stand-in."
    replace: str = ""  # rewrite: what replaces @match in the statement text

    def matches(self, sql: str) -> bool:
        return not self.match or self.match.lower() in sql.lower()


class FaultRegistry:
    """The armed faults, shared by every connection of one server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        if fault.kind not in KINDS:
            raise SqlError(50000, f"Unknown stand-in fault kind '{fault.kind}'; expected one of {', '.join(KINDS)}.")
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def _use(self, fault: Fault) -> None:
        if fault.times > 0:
            fault.times -= 1
            if fault.times == 0:
                self._faults.remove(fault)

    def drop_limit(self, sql: str) -> int | None:
        """Row count after which a result set of ``sql`` would be cut (not consumed yet)."""
        with self._lock:
            for f in self._faults:
                if f.kind == "drop_after_rows" and f.matches(sql):
                    return f.rows
        return None

    def take_drop(self, sql: str) -> bool:
        """Consume one use of a matching drop fault; False if another connection took it."""
        with self._lock:
            for f in self._faults:
                if f.kind == "drop_after_rows" and f.matches(sql):
                    self._use(f)
                    return True
        return False

    def take_delay(self, sql: str) -> float:
        with self._lock:
            for f in self._faults:
                if f.kind == "delay" and f.matches(sql):
                    self._use(f)
                    return f.seconds
        return 0.0

    def take_error(self, sql: str) -> SqlError | None:
        with self._lock:
            for f in self._faults:
                if f.kind == "error" and f.matches(sql):
                    self._use(f)
                    return SqlError(f.number, f.message)
        return None

    def rewrite(self, sql: str) -> str:
        """``sql`` with every armed rewrite applied (the match is case-sensitive here: it
        replaces exact statement text)."""
        if not self._faults:
            return sql
        with self._lock:
            for f in list(self._faults):
                if f.kind == "rewrite" and f.match and f.match in sql:
                    self._use(f)
                    sql = sql.replace(f.match, f.replace)
        return sql

    def take_refuse_login(self) -> bool:
        with self._lock:
            for f in self._faults:
                if f.kind == "refuse_logins":
                    self._use(f)
                    return True
        return False


_EXEC = re.compile(
    r"^\s*(?:exec(?:ute)?\s+)?(?:\[?dbo\]?\s*\.\s*)?\[?(sp_standin_fault|sp_standin_clear_faults)\]?"
    r"(?P<args>(?:\s.*)?)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_ARG = re.compile(
    r"\s*@(?P<name>\w+)\s*=\s*(?:N?'(?P<str>(?:[^']|'')*)'|(?P<num>-?\d+(?:\.\d+)?))\s*(?:,|$)",
    re.IGNORECASE,
)
_PARAMS = {"kind": str, "match": str, "rows": int, "seconds": float, "times": int, "number": int,
           "message": str, "replace": str}


def parse_fault_command(sql: str) -> tuple[str, dict[str, object]] | None:
    """Recognise ``EXEC sp_standin_fault ...`` / ``sp_standin_clear_faults``.

    Returns (procedure name, arguments) or None when ``sql`` is something else.
    """
    m = _EXEC.match(sql)
    if not m:
        return None
    proc = m.group(1).lower()
    args: dict[str, object] = {}
    rest = m.group("args").strip().rstrip(";").strip()
    pos = 0
    while pos < len(rest):
        a = _ARG.match(rest, pos)
        if not a:
            raise SqlError(102, f"Incorrect syntax near '{rest[pos:pos + 20].strip()}'.")
        raw = a.group("str").replace("''", "'") if a.group("str") is not None else a.group("num")
        args[a.group("name").lower()] = raw
        pos = a.end()
    return proc, args


def fault_from_args(args: dict[str, object]) -> Fault:
    """Build a Fault from procedure arguments (strings or numbers, as sent)."""
    values: dict[str, object] = {}
    for name, raw in args.items():
        conv = _PARAMS.get(name)
        if conv is None:
            raise SqlError(8145, f"@{name} is not a parameter for procedure sp_standin_fault.")
        try:
            values[name] = conv(raw)  # type: ignore[operator]
        except (TypeError, ValueError) as e:
            raise SqlError(8114, f"Error converting data type nvarchar to {conv.__name__} for @{name}.") from e
    if "kind" not in values:
        raise SqlError(201, "Procedure or function 'sp_standin_fault' expects parameter '@kind', which was not supplied.")
    return Fault(**values)  # type: ignore[arg-type]
