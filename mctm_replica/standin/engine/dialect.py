"""sqlglot's T-SQL dialect, adjusted so no declared type or function is lost in parsing.

Stock sqlglot reads REAL and FLOAT both as FLOAT, NUMERIC as DECIMAL, NTEXT as
TEXT, and GETDATE/SYSDATETIME both as CURRENT_TIMESTAMP; the stand-in needs
to tell them apart, so they get distinct token types here (mapped back in
decl.py) and those functions stay anonymous (handled in functions.py).
"""

from __future__ import annotations

from sqlglot.dialects.tsql import TSQL
from sqlglot.tokens import TokenType

from mctm_replica.standin.engine.change_tracking.changetable import parse_changetable

_OWN_FUNCTIONS = {"GETDATE", "GETUTCDATE", "SYSDATETIME", "SYSUTCDATETIME", "SYSDATETIMEOFFSET",
                  "LEN", "NEWID", "DATALENGTH", "SUSER_NAME", "SUSER_SNAME", "DB_NAME", "SCHEMA_NAME", "OBJECT_ID",
                  "HASHBYTES", "SWITCHOFFSET"}


class StandinTSQL(TSQL):
    class Tokenizer(TSQL.Tokenizer):
        KEYWORDS = {
            **TSQL.Tokenizer.KEYWORDS,
            "REAL": TokenType.UDOUBLE,
            "NUMERIC": TokenType.BIGDECIMAL,
            "NTEXT": TokenType.LONGTEXT,
        }

    class Parser(TSQL.Parser):
        FUNCTIONS = {k: v for k, v in TSQL.Parser.FUNCTIONS.items() if k not in _OWN_FUNCTIONS}
        FUNCTION_PARSERS = {**TSQL.Parser.FUNCTION_PARSERS, "CHANGETABLE": parse_changetable}  # change tracking
