"""float and real as text, as SQL Server prints them (CAST, CONVERT styles 0, 1, 2 and 3).

* style 0 (and CAST, and every style SQL Server does not list): at most 6
  significant digits, scientific notation when the exponent is below -4 or at
  least 6: ``0.333333``, ``1.49559e+006``;
* style 1: 8 significant digits, always scientific: ``3.3333333e-001``;
* style 2: 16 significant digits, always scientific: ``3.333333333333333e-001``;
* style 3 (SQL Server 2016+, lossless): the stand-in prints the shortest text that
  reads back as the same value; SQL Server prints 17 significant digits
  (README "Known differences").

SQL Server's C runtime writes exponents with at least three digits (``e+006``).
A real is printed from its exact value widened to float, as SQL Server does.
"""

from __future__ import annotations

# printf formats per style: 6, 8 and 16 significant digits
_FORMATS = {0: "%.6g", 1: "%.7e", 2: "%.15e"}
LOSSLESS_STYLE = 3


def float_text_sql(x: str, style: int | None) -> str:
    """DuckDB SQL for the text of float/real expression ``x`` in CONVERT ``style`` (None: CAST)."""
    if style == LOSSLESS_STYLE:
        return f"CAST({x} AS VARCHAR)"  # shortest round-trip text (DuckDB's)
    fmt = _FORMATS.get(style or 0, _FORMATS[0])  # other styles are processed as 0, as in SQL Server
    # two-digit exponents (e+06) get SQL Server's third digit (e+006)
    return f"regexp_replace(printf('{fmt}', CAST({x} AS DOUBLE)), 'e([+-])([0-9][0-9])$', 'e\\1' || '0\\2')"
