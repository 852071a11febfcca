"""sqlglot's T-SQL dialect, adjusted so no declared type or function is lost in parsing.

Stock sqlglot reads REAL and FLOAT both as FLOAT, NUMERIC as DECIMAL, NTEXT as
TEXT, and GETDATE/SYSDATETIME both as CURRENT_TIMESTAMP; the stand-in needs
to tell them apart, so they get distinct token types here (mapped back in
decl.py) and those functions stay anonymous (handled in functions.py); LEFT and RIGHT
keep their argument's type.
"""

from __future__ import annotations

from sqlglot import exp
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
        # Stock sqlglot wraps LEFT's and RIGHT's string in CAST(.. AS TEXT), which would make an
        # nvarchar varchar (code page 1252: '?' for Japanese); the translator converts only a
        # non-string argument (Translator.x_Left).
        FUNCTIONS["LEFT"] = lambda args: exp.Left(this=args[0], expression=args[1])
        FUNCTIONS["RIGHT"] = lambda args: exp.Right(this=args[0], expression=args[1])
        FUNCTION_PARSERS = {**TSQL.Parser.FUNCTION_PARSERS, "CHANGETABLE": parse_changetable}  # change tracking
