"""Conversions between binary and the types SQL Server reads it as: binary to integers
(its rightmost bytes, most significant first), binary(n)/varbinary(n) cuts, and float/real
to their IEEE-754 bytes. Called by :func:`convert.convert_sql`."""

from __future__ import annotations

from mctm_replica.standin.contract import SqlError
from mctm_replica.standin.engine.decl import Decl, storage_type
from mctm_replica.standin.engine.sqlshapes import hex_digits, md5_prefix, md5_prefix_uint


# Bytes of each integer type: a longer binary keeps its rightmost bytes, as SQL Server does.
_INT_BYTES = {"tinyint": 1, "smallint": 2, "int": 4, "bigint": 8}


def binary_to_int(x: str, t: str) -> str:
    n = _INT_BYTES[t]
    digits = hex_digits(x)
    digest = md5_prefix(digits)
    if digest is not None:  # the first bytes of an MD5 (HASHBYTES cast to binary(m))
        data, m = digest
        u = md5_prefix_uint(data, m)
        if m > n:  # the rightmost n of its m bytes
            u = f"({u} & CAST({2 ** (8 * n) - 1} AS UBIGINT))"
    else:  # at most 16 hex digits: UBIGINT holds them (UHUGEINT arithmetic costs more per row)
        u = f"CAST(('0x' || lpad(right({digits}, {2 * n}), {2 * n}, '0')) AS UBIGINT)"
    if t == "tinyint":  # unsigned
        return f"CAST({u} AS UTINYINT)"
    # two's complement: flipping the sign bit and subtracting it gives the signed value
    # with ``u`` written once (DuckDB would evaluate a second copy, MD5 and all)
    top = 2 ** (8 * n - 1)
    wide = "HUGEINT" if t == "bigint" else "BIGINT"
    return f"CAST(CAST(xor({u}, CAST({top} AS UBIGINT)) AS {wide}) - {top} AS {storage_type(Decl(t))})"


def binary_fit(x: str, dst: Decl) -> str:
    """CAST to binary(n)/varbinary(n): cut on the right; binary(n) pads with 0x00 on the right."""
    n = dst.length
    cut = f"from_hex(left(hex({x}), {2 * n}))"
    if dst.type == "binary":
        return f"from_hex(rpad({hex_digits(x)}, {2 * n}, '0')[1:{2 * n}])"
    return f"(CASE WHEN octet_length({x}) > {n} THEN {cut} ELSE {x} END)"


def float_bytes(x: str, src: Decl, dst: Decl) -> str:
    """float -> its 8 IEEE-754 bytes, real -> its 4, big-endian as SQL Server shows them."""
    width = 8 if src.type == "float" else 4
    if dst.length is not None and 0 < dst.length < width or (dst.type == "binary" and dst.length != width):
        raise SqlError(50000, f"The SQL Server stand-in converts {src.type} only to binary({width}) or a "
                              f"varbinary of at least {width} bytes.")
    # DuckDB casts a DOUBLE or FLOAT to BIT as its IEEE-754 bits, and BIT to BLOB as their
    # bytes, most significant first (SQL Server has no NaN or infinity to differ on)
    return f"CAST(CAST(CAST({x} AS {'DOUBLE' if width == 8 else 'FLOAT'}) AS BIT) AS BLOB)"
