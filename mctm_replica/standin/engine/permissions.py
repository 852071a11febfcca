"""``HAS_PERMS_BY_NAME``: what the current login may do with a securable.

The stand-in has one login, ``sa``, a sysadmin: every valid permission on an existing
securable is held (1). As SQL Server answers: NULL for an unknown securable class or
permission name; 0 or 1 otherwise. A missing object answers NULL here (SQL Server cannot
evaluate a permission on it either). Tests play a login without a grant through the
``rewrite`` fault (see README, Known differences).
"""

from __future__ import annotations

from mctm_replica.standin.contract import SqlError
from mctm_replica.standin.engine.decl import Decl
from mctm_replica.standin.engine.typed import Typed

_CLASSES = {"OBJECT", "DATABASE", "SCHEMA", "SERVER", "LOGIN", "USER", "ROLE", "TYPE"}
#: Permission names SQL Server knows (sys.fn_builtin_permissions), as far as clients ask.
_PERMISSIONS = {
    "ANY", "SELECT", "INSERT", "UPDATE", "DELETE", "REFERENCES", "EXECUTE", "ALTER", "CONTROL",
    "TAKE OWNERSHIP", "VIEW DEFINITION", "VIEW CHANGE TRACKING", "CONNECT", "CREATE TABLE",
    "VIEW SERVER STATE", "VIEW DATABASE STATE", "VIEW SERVER PERFORMANCE STATE", "SHOWPLAN",
    "IMPERSONATE", "ALTER ANY DATABASE", "CONNECT SQL", "VIEW ANY DATABASE",
}


def has_perms_by_name(tr, node, scope) -> Typed:
    args = [tr.expr(a, scope) for a in node.expressions]
    if len(args) < 3 or not all(a.is_const for a in args[:3]):
        raise SqlError(50000, "The SQL Server stand-in supports HAS_PERMS_BY_NAME with constant arguments only.")
    securable, klass, permission = (a.const for a in args[:3])
    klass = "SERVER" if klass is None else str(klass).upper()
    if klass not in _CLASSES or permission is None or str(permission).upper() not in _PERMISSIONS:
        return Typed("CAST(NULL AS INTEGER)", Decl("int"))
    if klass == "OBJECT":
        from mctm_replica.standin.engine.functions import object_id_of

        if object_id_of(tr, str(securable)) is None:
            return Typed("CAST(NULL AS INTEGER)", Decl("int"))
    return Typed("CAST(1 AS INTEGER)", Decl("int"))
