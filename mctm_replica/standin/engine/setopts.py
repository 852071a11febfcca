"""SET options: the ones clients send at login or per connection, and what each does here.

Collected from what the clients send: tedious's login batch (``getInitialSql``: ansi_nulls,
ansi_null_dflt_on, ansi_padding, ansi_warnings, arithabort, concat_null_yields_null,
cursor_close_on_commit, datefirst, dateformat, implicit_transactions, language,
numeric_roundabort, quoted_identifier, textsize, transaction isolation level, xact_abort),
FreeTDS/pymssql (textsize, and whatever the application sets), ODBC Driver 18 (login flags,
then per statement SET FMTONLY / NOCOUNT / IMPLICIT_TRANSACTIONS), SQLAlchemy's mssql dialect
(transaction isolation level, IDENTITY_INSERT), freebcp (FMTONLY ON/OFF).

An option whose value the stand-in already behaves as (ANSI_NULLS ON, DATEFORMAT mdy...) is
accepted; a value that would change results the stand-in cannot reproduce is refused with
the option's name rather than accepted and ignored.
"""

from __future__ import annotations

from mctm_replica.standin.contract import SqlError

DEFAULT_TEXTSIZE = 4096  # SQL Server's @@TEXTSIZE after SET TEXTSIZE 0
MAX_TEXTSIZE = 2147483647

# Options accepted with any value: no effect on results here (plans, statistics, locking,
# deadlock choice, cursors that do not exist, isolation under DuckDB's snapshot MVCC).
_NO_EFFECT = frozenset({
    "arithabort", "arithignore", "lock_timeout", "deadlock_priority", "cursor_close_on_commit",
    "statistics", "transaction_isolation_level", "query_governor_cost_limit", "context_info",
    "forceplan", "no_browsetable", "xact_abort", "ansi_null_dflt_on", "ansi_null_dflt_off",
    "remote_proc_transactions", "showplan_all", "showplan_text", "showplan_xml", "noexec",
    "parseonly", "offsets", "ansi_defaults",
})
# Options accepted only with the value the stand-in behaves as (SQL Server's defaults for
# ODBC/OLE DB/TDS 7 clients). Anything else would change comparisons, padding, date parsing
# or week numbering, which the stand-in does not reproduce (DATEFORMAT ymd reads ISO dates as
# mdy does; dmy would read 2020-02-01 as 2 January).
_ONLY = {
    "ansi_nulls": {"ON"}, "ansi_padding": {"ON"}, "ansi_warnings": {"ON"},
    "concat_null_yields_null": {"ON"}, "quoted_identifier": {"ON"}, "numeric_roundabort": {"OFF"},
    "dateformat": {"MDY", "YMD"}, "datefirst": {"7"}, "language": {"US_ENGLISH", "ENGLISH"},
}
# ON for these would change what statements do in ways not reproduced here.
_REFUSED_ON = frozenset({"noexec", "parseonly", "showplan_all", "showplan_text", "showplan_xml"})


def set_option(session, name: str, value: str) -> None:
    """Apply ``SET name value`` (``value`` upper-case) to ``session``."""
    on = value == "ON"
    if name == "nocount":
        session.nocount = on
    elif name == "fmtonly":
        session.fmtonly = on
    elif name == "textsize":
        if not value.lstrip("-").isdigit():
            raise SqlError(102, f"Incorrect syntax near '{value}'.", severity=15)
        n = int(value)
        # 0 restores SQL Server's default; -1 (or any negative) means unlimited
        session.textsize = DEFAULT_TEXTSIZE if n == 0 else (MAX_TEXTSIZE if n < 0 else n)
    elif name == "implicit_transactions":
        session.implicit_transactions = on
    elif name == "rowcount":
        if value != "0":
            raise SqlError(50000, "The SQL Server stand-in does not support SET ROWCOUNT other than 0.")
    elif name in _ONLY:
        if value.strip("'") not in _ONLY[name]:
            allowed = " or ".join(sorted(_ONLY[name]))
            raise SqlError(50000, f"The SQL Server stand-in does not support SET {name.upper()} {value}; "
                                  f"it behaves as SET {name.upper()} {allowed} (SQL Server's default for "
                                  "ODBC and TDS clients).")
    elif name in _NO_EFFECT:
        if name in _REFUSED_ON and on:
            raise SqlError(50000, f"The SQL Server stand-in does not support SET {name.upper()} ON.")
    else:
        raise SqlError(195, f"'{name.upper()}' is not a recognized SET option.", severity=15)
