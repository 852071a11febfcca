"""Shapes of DuckDB SQL the translator itself built, read back to avoid a round trip.

An expression's translation is SQL text. Some conversions undo what the one before did:
printing a BLOB built from hex digits back as hex, or unpacking a datetimeoffset that
SWITCHOFFSET just packed. These helpers recognise the exact text this package emits for
those cases (nothing else matches) and return the cheaper equivalent; any other text gets
the general form.
"""

from __future__ import annotations

import re


def hex_digits(x: str) -> str:
    """DuckDB SQL: the hex digits of BLOB ``x`` (either case). ``x`` built as ``from_hex(S)``
    or ``unhex(S)`` (binary casts, HASHBYTES) gives ``S`` itself, not a BLOB printed back."""
    for fn in ("from_hex(", "unhex("):
        if x.startswith(fn) and x.endswith(")") and _closes_at_end(x, len(fn) - 1):
            return x[len(fn):-1]
    return f"hex({x})"


def _closes_at_end(sql: str, open_at: int) -> bool:
    """Whether the parenthesis at ``open_at`` closes at the end of ``sql``."""
    return _close_of(sql, open_at) == len(sql) - 1


def _close_of(sql: str, open_at: int) -> int:
    """The index of the parenthesis closing the one at ``open_at``, or -1; parentheses in
    'strings' and "identifiers" do not count (a doubled quote closes and reopens)."""
    depth, quote = 0, ""
    for i in range(open_at, len(sql)):
        ch = sql[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


_SWITCHED = re.compile(r"\(CAST\(__dto_utc\((?P<v>.*)\) AS HUGEINT\) \* 2048 \+ (?P<k>\d+)\)", re.S)


def dto_switched(x: str, minutes: int) -> str:
    """The datetimeoffset ``x`` at another offset (SWITCHOFFSET): the same UTC ticks."""
    return f"(CAST(__dto_utc({x}) AS HUGEINT) * 2048 + {minutes + 1024})"


def dto_local(x: str) -> str:
    """Local ticks of datetimeoffset ``x``. Of a :func:`dto_switched` value they are its UTC
    ticks plus the constant offset, without packing the offset in and out again."""
    m = _SWITCHED.fullmatch(x)
    opened = len("(CAST(__dto_utc")
    if m is not None and _close_of(x, opened) == m.end("v"):
        return f"(__dto_utc({m.group('v')}) + {(int(m.group('k')) - 1024) * 600000000})"
    return f"__dto_local({x})"


_MD5_PREFIX = re.compile(r", (?P<w>\d+), '0'\)\[1:(?P=w)\]")


def md5_prefix(digits: str) -> tuple[str, int] | None:
    """``(D, m)`` when ``digits`` are the first ``m`` (at most 8) bytes of ``md5(D)`` in hex, as
    a binary(m) cast of HASHBYTES builds them: ``rpad(md5(D), 2m, '0')[1:2m]``; else None."""
    opened = len("rpad(md5")
    if not digits.startswith("rpad(md5("):
        return None
    close = _close_of(digits, opened)
    m = _MD5_PREFIX.fullmatch(digits, close + 1) if close > 0 else None
    if m is None or not 2 <= int(m.group("w")) <= 16 or int(m.group("w")) % 2:
        return None
    return digits[opened + 1:close], int(m.group("w")) // 2


def md5_prefix_uint(data: str, m: int) -> str:
    """UBIGINT: the first ``m`` bytes of ``md5(data)`` read most significant first, as SQL
    Server reads binary as an integer. ``md5_number`` gives the digest as one 128-bit number
    without printing it to hex; DuckDB lays the digest's bytes into it least significant
    first (the machine's order: x86-64 and ARM64 are little-endian), so its low 64 bits are
    the first 8 bytes reversed. Reversing them back with shifts costs a few integer
    operations where parsing 16 hex digits cost a string per row (measured at 1,000,000
    rows: 0.99 s against 1.17 s for the whole checksum query). DuckDB computes the repeated
    ``lo`` once (common subexpressions of a projection)."""
    lo = f"CAST(md5_number({data}) & CAST(18446744073709551615 AS UHUGEINT) AS UBIGINT)"
    swapped = " | ".join(
        f"((({lo} >> {8 * i}) & CAST(255 AS UBIGINT)) << {8 * (7 - i)})" for i in range(8))
    return f"(({swapped}) >> {64 - 8 * m})"
