"""Pure logic: the T-SQL builders of mctm_replica/tsql -- names bracketed with ``]`` doubled,
values never in the text, and a name pymssql would read a placeholder in refused."""

from __future__ import annotations

import pytest

from mctm_replica.naming import IdentifierError
from mctm_replica.tsql import catalog, reads
from mctm_replica.tsql.quoting import quote_tsql, table_ref


def test_table_reference_brackets_both_parts_and_adds_the_hint_only_when_asked():
    assert table_ref("dbo", "odd]name", nolock=True) == "[dbo].[odd]]name] WITH (NOLOCK)"
    assert table_ref("s p", "t", nolock=False) == "[s p].[t]"


def test_reads_quote_every_name():
    assert reads.select_sql("dbo", "t", ["SIM No", "we]ird"], nolock=False) == "SELECT [SIM No], [we]]ird] FROM [dbo].[t]"
    assert reads.count_sql("dbo", "t", nolock=True) == "SELECT COUNT_BIG(*) FROM [dbo].[t] WITH (NOLOCK)"
    assert reads.key_span_sql("dbo", "t", "id", nolock=False) == "SELECT MIN([id]), MAX([id]) FROM [dbo].[t]"
    assert reads.order_by(["a", "b]"]) == " ORDER BY [a], [b]]]"


def test_a_percent_in_a_name_is_sent_as_it_is():
    # pymssql has no escape: `%%` reaches SQL Server as `%%`, a different name
    assert reads.at_least("100% done") == "[100% done] >= %s"
    assert reads.at_least("t", cast_type="datetime2(7)", or_null=True) == "([t] >= CAST(%s AS datetime2(7)) OR [t] IS NULL)"
    assert reads.in_slice("d%") == "[d%] >= %s AND [d%] < %s"
    assert reads.half_open("k", lower=False, upper=False) == ""
    assert reads.where("SELECT [a%] FROM [t]", "[a%] >= %s") == "SELECT [a%] FROM [t] WHERE [a%] >= %s"


@pytest.mark.parametrize("name", ["rate%s", "100%d", "x%(y)s"])
def test_a_name_pymssql_would_read_a_placeholder_in_is_refused_with_the_fix(name):
    with pytest.raises(IdentifierError, match=r"pymssql .*columns: \{exclude"):
        quote_tsql(name)


def test_the_grant_shown_to_a_dba_brackets_the_login():
    assert catalog.grant_sql("SELECT", "[dbo].[t]", "odd]user") == "GRANT SELECT ON [dbo].[t] TO [odd]]user]"
