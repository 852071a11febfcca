"""Pure logic: identifier parsing, quoting and target column names."""

import pytest

from mctm_replica.naming import (
    IdentifierError,
    split_qualified,
    target_column_names,
    to_snake_case,
)
from mctm_replica.tsql.quoting import quote_tsql


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("CustomerID", "customer_id"),
        ("UserAgent", "user_agent"),
        ("IMSI", "imsi"),
        ("SIM No", "sim_no"),
        ("DataUsageMB", "data_usage_mb"),
        ("HTTPServerName", "http_server_name"),
        ("already_snake", "already_snake"),
        ("Col2Name", "col2_name"),
        ("x  y-z", "x_y_z"),
        ("顧客名", "顧客名"),
    ],
)
def test_snake_case(source, expected):
    assert to_snake_case(source) == expected


def test_quote_tsql_doubles_closing_brackets():
    assert quote_tsql("odd]name") == "[odd]]name]"
    assert quote_tsql("SIM No") == "[SIM No]"
    assert quote_tsql("select") == "[select]"
    with pytest.raises(IdentifierError):
        quote_tsql("")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dbo.customer", ("dbo", "customer")),
        ("[sales data].[odd]]name]", ("sales data", "odd]name")),
        ("[a.b].c", ("a.b", "c")),
        ("dbo.[it's \"quoted\"]", ("dbo", "it's \"quoted\"")),
    ],
)
def test_split_qualified(text, expected):
    assert split_qualified(text) == expected


@pytest.mark.parametrize("bad", ["customer", "a.b.c", "dbo.", ".x", "dbo.[unclosed", "dbo. x"])
def test_split_qualified_rejects(bad):
    with pytest.raises(IdentifierError):
        split_qualified(bad)


def test_target_names_collision_names_both_columns():
    with pytest.raises(IdentifierError, match=r"`CustomerID` and `Customer_ID` both become `customer_id`"):
        target_column_names(["CustomerID", "Customer_ID"], naming="snake_case", table="dbo.t")


def test_target_names_preserve_and_renames():
    names = target_column_names(
        ["CustomerID", "SIM No"], naming="preserve", renames={"sim no": "sim"}, table="dbo.t"
    )
    assert names == {"CustomerID": "CustomerID", "SIM No": "sim"}


def test_target_name_too_long_for_postgres():
    with pytest.raises(IdentifierError, match="63-byte"):
        target_column_names(["x" * 64], naming="preserve", table="dbo.t")


def test_unusable_snake_name_asks_for_a_rename():
    with pytest.raises(IdentifierError, match="column_names"):
        target_column_names(["!!!"], naming="snake_case", table="dbo.t")


def test_a_percent_in_a_replica_column_name_asks_for_a_rename():
    with pytest.raises(IdentifierError, match=r"`rate 100%` .*psycopg2.*`rate 100%: rate_100`"):
        target_column_names(["rate 100%"], naming="preserve", table="dbo.t")
    assert target_column_names(["rate 100%"], naming="snake_case", table="dbo.t") == {"rate 100%": "rate_100"}
    assert target_column_names(["rate 100%"], naming="preserve", renames={"rate 100%": "rate"},
                               table="dbo.t") == {"rate 100%": "rate"}
