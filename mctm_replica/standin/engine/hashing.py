"""HASHBYTES: the digest of a value's bytes as SQL Server stores them (varbinary, ASCII
varchar, or text cast to varchar under a UTF-8 collation, SQL Server 2019+)."""

from __future__ import annotations

from sqlglot import exp

from mctm_replica.standin.contract import SqlError
from mctm_replica.standin.engine.decl import Decl
from mctm_replica.standin.engine.typed import Typed

# HASHBYTES algorithms DuckDB computes, and their digest lengths. SHA2_512 has no DuckDB
# function; MD2/MD4/SHA/SHA1 are deprecated on SQL Server and unused here.
_HASHES = {"MD5": ("md5", 16), "SHA2_256": ("sha256", 32), "SHA1": ("sha1", 20)}
UTF8_COLLATIONS = frozenset({"latin1_general_100_bin2_utf8"})


def _utf8_argument(node: exp.Expression) -> exp.Expression | None:
    """``CAST(x COLLATE <..._UTF8> AS varchar(...))`` -> ``x``: the text as UTF-8 bytes, the
    one way this stand-in hashes text outside code page 1252 (SQL Server 2019+)."""
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Collate) \
            and node.this.expression.name.lower() in UTF8_COLLATIONS \
            and node.to.this in (exp.DataType.Type.VARCHAR, exp.DataType.Type.CHAR, exp.DataType.Type.TEXT):
        return node.this.this
    return None


def hashbytes(tr, node, scope):
    """HASHBYTES(algorithm, value): the digest of the value's bytes as SQL Server stores them.

    varbinary hashes its bytes; varchar its code page 1252 bytes (ASCII here: other
    characters raise); text cast to varchar under a UTF-8 collation its UTF-8 bytes.
    nvarchar (UTF-16LE bytes) is refused: DuckDB has no UTF-16 encoder, and hashing
    UTF-8 instead would answer silently wrong."""
    from mctm_replica.standin.engine.decl import BINARY_TYPES, STRING_TYPES

    algo_node, value_node = node.expressions[0], node.expressions[1]
    algo = tr.expr(algo_node, scope)
    name = str(algo.const).upper() if algo.is_const and algo.const is not None else None
    if name not in _HASHES:
        raise SqlError(50000, f"The SQL Server stand-in supports HASHBYTES only with a constant "
                              f"algorithm of {sorted(_HASHES)}.")
    fn, size = _HASHES[name]
    utf8 = _utf8_argument(value_node)
    if utf8 is not None:
        text = tr.expr(utf8, scope)
        if text.decl is not None and text.decl.type not in STRING_TYPES:
            text = tr.convert(text, Decl("nvarchar", length=-1))
        data = f"CAST({text.sql} AS VARCHAR)"  # DuckDB hashes a VARCHAR's UTF-8 bytes
    else:
        v = tr.expr(value_node, scope)
        t = v.decl.type if v.decl is not None else None
        if t in BINARY_TYPES and t != "rowversion":
            data = v.sql
        elif t in ("char", "varchar", "text"):
            data = (f"CASE WHEN regexp_matches({v.sql}, '[^\\x{{00}}-\\x{{7F}}]') THEN "
                    f"error('__MSSQL__50000__The SQL Server stand-in hashes varchar only when it is ASCII.') "
                    f"ELSE encode({v.sql}) END")
        else:
            raise SqlError(50000, "The SQL Server stand-in supports HASHBYTES of varbinary, ASCII varchar "
                                  "and CAST(x COLLATE Latin1_General_100_BIN2_UTF8 AS varchar(max)); not "
                                  f"of {t or 'NULL'} (nvarchar would hash UTF-16LE bytes).")
    return Typed(f"unhex({fn}({data}))", Decl("varbinary", length=8000))
