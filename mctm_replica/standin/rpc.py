"""System procedures called by RPC: sp_executesql and the prepared-statement family.

``sp_prepare``/``sp_prepexec`` keep the statement and its parameter declarations under
a handle of the connection (SQL Server numbers them 1, 2, ... per session) and send
the handle back as an OUTPUT parameter (a RETURNVALUE token after RETURNSTATUS, as
SQL Server does); ``sp_execute`` runs it with new values; ``sp_unprepare`` forgets it.
A statement's own OUTPUT parameters come back the same way, typed as declared.
Leading arguments are taken by position (clients name them differently or not at all).
"""

from __future__ import annotations

import re
import struct
from typing import TYPE_CHECKING

from .contract import SUPPORTED_TYPES, Column, Params, SqlError
from .tds import coltypes as ct
from .tds import tokens as tk
from .tds.params import PROC_IDS, RpcCall, RpcParam

if TYPE_CHECKING:
    from .session import ClientSession

RETURNVALUE = 0xAC  # MS-TDS 2.2.7.19
_OUTPUT_PARAM = 0x01  # RETURNVALUE status: an OUTPUT parameter (not a UDF's return value)
_DECLARED = re.compile(r"(?:^|,)\s*@(\w+)")
# One declaration: @name type[(args)] [OUTPUT]
_DECLARATION = re.compile(r"@(\w+)\s+(\w+)\s*(?:\(([^)]*)\))?(?:\s+(OUT|OUTPUT))?\s*(?:=[^,]*)?(?:,|$)", re.I)
# Each procedure's leading arguments, in order (the rest are the statement's parameters).
_LEADING = {
    "sp_executesql": ("stmt", "params"),
    "sp_prepare": ("handle", "params", "stmt", "options"),
    "sp_prepexec": ("handle", "params", "stmt"),
    "sp_execute": ("handle",),
    "sp_unprepare": ("handle",),
}


def returnvalue_int(ordinal: int, name: str, value: int) -> bytes:
    """RETURNVALUE of an int OUTPUT parameter (TDS 7.2+: 4-byte UserType)."""
    return (bytes([RETURNVALUE]) + struct.pack("<H", ordinal) + tk.b_varchar(name)
            + bytes([_OUTPUT_PARAM]) + struct.pack("<IH", 0, 0) + bytes([ct.INTN, 4, 4])
            + struct.pack("<i", value))


class Prepared:
    """A connection's prepared statements."""

    def __init__(self) -> None:
        self.statements: dict[int, tuple[str, str]] = {}
        self._next = 1

    def add(self, sql: str, declarations: str) -> int:
        handle = self._next
        self._next += 1
        self.statements[handle] = (sql, declarations)
        return handle

    def get(self, handle: object) -> tuple[str, str]:
        found = self.statements.get(handle) if isinstance(handle, int) else None
        if found is None:
            raise SqlError(8179, f"Could not find prepared statement with handle {handle}.", state=4)
        return found


def _split(call: RpcCall) -> tuple[dict[str, RpcParam], list[RpcParam]]:
    """The procedure's own leading arguments and the statement's parameters.

    By position, as SQL Server takes them from clients calling by procedure id: tedious
    names sp_executesql's first argument @statement, ODBC sends no names at all.
    """
    names = _LEADING[call.proc]
    n = min(len(names), len(call.params))
    return dict(zip(names, call.params[:n])), list(call.params[n:])


def _declared_types(declarations: str) -> dict[str, Column]:
    """name (lower-case) -> Column of its declared type, for the types a RETURNVALUE can carry."""
    out: dict[str, Column] = {}
    for m in _DECLARATION.finditer(declarations or ""):
        name, base, args = m.group(1), m.group(2).lower(), m.group(3)
        if base not in SUPPORTED_TYPES:
            continue
        parts = [a.strip().lower() for a in args.split(",")] if args else []
        length = precision = scale = None
        if base in ("decimal", "numeric"):
            precision = int(parts[0]) if parts else 18
            scale = int(parts[1]) if len(parts) > 1 else 0
        elif base in ("time", "datetime2", "datetimeoffset"):
            scale = int(parts[0]) if parts else 7
        elif base in ("char", "varchar", "nchar", "nvarchar", "binary", "varbinary"):
            length = -1 if parts and parts[0] == "max" else int(parts[0]) if parts else 1
        out[name.lower()] = Column(name, base, length, precision, scale)
    return out


def _returnvalue(ordinal: int, name: str, col: Column, value: object) -> bytes:
    """RETURNVALUE of an OUTPUT parameter, encoded as its declared type."""
    codec = ct.codec_for(col)
    (encoded,) = codec.encode([value])
    return (bytes([RETURNVALUE]) + struct.pack("<H", ordinal) + tk.b_varchar(name)
            + bytes([_OUTPUT_PARAM]) + struct.pack("<IH", codec.usertype, 0x01) + codec.type_info + encoded)


def _values(rest: list[RpcParam], declarations: str, first: int = 0) -> tuple[Params, list[bytes]]:
    """The statement's parameter values, and RETURNVALUE tokens for its OUTPUT parameters.

    A statement here cannot assign a variable (SET @v, SELECT @v = and UPDATE ... SET @v
    are refused), so an OUTPUT parameter comes back with the value it was sent, as SQL
    Server sends back a parameter the statement did not assign. ``first``: the ordinal
    of ``rest[0]`` among the call's parameters.
    """
    declared = _DECLARED.findall(declarations or "")
    types = _declared_types(declarations) if any(p.output for p in rest) else {}
    values: dict[str, object] = {}
    returns: list[bytes] = []
    for i, p in enumerate(rest):
        name = p.name or (declared[i] if i < len(declared) else "")
        if not name:
            raise SqlError(8144, "Procedure or function has too many arguments specified.")
        values[name] = p.value
        if p.output:
            col = types.get(name.lower())
            try:
                if col is None:
                    raise ValueError("no declared type")
                returns.append(_returnvalue(first + i, "@" + name, col, p.value))
            except (ValueError, TypeError, AttributeError, struct.error) as e:
                raise SqlError(50000, f"The SQL Server stand-in cannot return OUTPUT parameter @{name} "
                                      f"({e}); declare it with a plain type in the parameter list.") from e
    missing = [n for n in declared if n not in values and n.lower() not in {k.lower() for k in values}]
    if missing:
        raise SqlError(8178, f"The parameterized query '({declarations})' expects the parameter "
                             f"'@{missing[0]}', which was not supplied.")
    return Params(values, declarations or ""), returns


def _text(own: dict[str, RpcParam], key: str, number: int, kind: str) -> str:
    p = own.get(key)
    if p is None or not isinstance(p.value, str):
        raise SqlError(214, f"Procedure expects parameter '@{key}' of type '{kind}'.", state=number)
    return p.value


def call(cs: ClientSession, rpc: RpcCall) -> tuple[bool, list[bytes]]:
    """Run one RPC call, writing its tokens; (ended without error, RETURNVALUE tokens)."""
    proc = rpc.proc
    if proc not in _LEADING:
        if proc in PROC_IDS.values() or proc.startswith("proc id"):
            raise SqlError(50000, f"The SQL Server stand-in does not support the system procedure {proc}.")
        raise SqlError(2812, f"Could not find stored procedure '{proc}'.", state=62)
    own, rest = _split(rpc)
    prepared: Prepared = cs.prepared
    if proc == "sp_unprepare":
        handle = own.get("handle")
        prepared.get(handle.value if handle else None)
        del prepared.statements[handle.value]  # type: ignore[union-attr]
        return True, []
    if proc == "sp_execute":
        handle = own.get("handle")
        sql, declarations = prepared.get(handle.value if handle else None)
        params, returns = _values(rest, declarations, len(own))
        return cs.run_rpc_statement(sql, params), returns
    if proc == "sp_executesql":
        sql = _text(own, "stmt", 2, "ntext/nchar/nvarchar")
        declarations = own["params"].value if "params" in own else ""
        params, returns = _values(rest, declarations or "", len(own))
        return cs.run_rpc_statement(sql, params), returns
    # sp_prepare / sp_prepexec
    declarations = own["params"].value if "params" in own and own["params"].value else ""
    if not isinstance(declarations, str):
        raise SqlError(214, "Procedure expects parameter '@params' of type 'ntext/nchar/nvarchar'.", state=2)
    sql = _text(own, "stmt", 3, "ntext/nchar/nvarchar")
    validate = getattr(cs.esess, "validate", None)  # optional in the engine contract
    if validate is not None:
        validate(sql)  # SQL Server compiles at sp_prepare: a syntax error is reported here
    handle_param = own.get("handle")
    ordinal = rpc.params.index(handle_param) if handle_param is not None else 0
    handle = prepared.add(sql, declarations)
    out = [returnvalue_int(ordinal, "@handle", handle)] if handle_param is not None and handle_param.output else []
    if proc == "sp_prepare":
        return True, out
    params, returns = _values(rest, declarations, len(own))
    ok = cs.run_rpc_statement(sql, params)
    return ok, out + returns
