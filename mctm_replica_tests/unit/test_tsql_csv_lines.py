"""Pure logic: the T-SQL that makes SQL Server format a row as a COPY CSV line.

What each expression returns is proven end to end against the stand-in (the every-type
round trip in integration/test_replication.py); these pin the choices that the stand-in
cannot prove because it behaves better than SQL Server would."""

import pytest

from mctm_replica.tsql.csv_lines import csv_line_sql, field_sql, select_lines_sql
from mctm_replica.typemap import TYPE_MAP, SourceType


def test_line_is_one_concat_starting_as_nvarchar_max_so_sql_server_cannot_cut_it_at_4000():
    sql = csv_line_sql([("a", SourceType("int")), ("b", SourceType("nvarchar", 10)),
                        ("c", SourceType("varbinary", 4))])
    assert sql.startswith("CONCAT(CAST(N'' AS nvarchar(max)), CAST([a] AS nvarchar(64)), N',', "
                          "CASE WHEN [b] IS NULL THEN N'' ELSE N'\"' + ")
    # Fields built with + test NULL (CONCAT_NULL_YIELDS_NULL OFF would make NULL + text a
    # text); a bare CAST is NULL for NULL and CONCAT writes it as nothing.
    assert sql.count("IS NULL THEN N''") == 2
    assert "[a] IS NULL" not in sql


def _concat_arguments(sql: str) -> list[list[str]]:
    """The top-level arguments of every CONCAT in ``sql`` (T-SQL quotes and parentheses kept)."""
    found: list[list[str]] = []

    def call(i: int) -> tuple[list[str], int]:  # sql[i] is just after "CONCAT("
        args, cur, depth = [], "", 0
        while True:
            if sql.startswith("CONCAT(", i):
                inner, i = call(i + len("CONCAT("))
                found.append(inner)
                cur += "<concat>"
                continue
            ch = sql[i]
            if ch == "'":
                j = i + 1
                while sql[j] != "'" or sql[j + 1:j + 2] == "'":
                    j += 2 if sql[j] == "'" else 1
                cur, i = cur + sql[i:j + 1], j + 1
                continue
            if ch == "(":
                depth += 1
            elif ch == ")" and depth:
                depth -= 1
            elif ch == ")":
                return [*args, cur.strip()], i + 1
            elif ch == "," and not depth:
                args.append(cur.strip())
                cur, i = "", i + 1
                continue
            cur, i = cur + ch, i + 1

    assert sql.startswith("CONCAT(")
    outer, end = call(len("CONCAT("))
    assert end == len(sql)
    return [*found, outer]


@pytest.mark.parametrize("n", [1, 126, 127, 128, 400])
def test_wide_rows_nest_concat_within_its_254_arguments_each_starting_as_max(n):
    sql = csv_line_sql([(f"c{i}", SourceType("int")) for i in range(n)])
    concats = _concat_arguments(sql)
    assert all(2 <= len(args) <= 254 for args in concats)
    assert all(args[0] == "CAST(N'' AS nvarchar(max))" for args in concats)
    assert sum(a.startswith("CAST([c") for args in concats for a in args) == n
    # every field once, in order, separated by commas
    import re
    assert [int(m) for m in re.findall(r"\[c(\d+)\]", sql)] == list(range(n))
    assert sql.count("N','") == n - 1


def test_money_goes_through_decimal_because_its_default_text_has_two_decimals():
    assert field_sql("m", SourceType("money")) == "CAST(CAST([m] AS decimal(19,4)) AS nvarchar(64))"
    assert "decimal(10,4)" in field_sql("m", SourceType("smallmoney"))


@pytest.mark.parametrize("kind", ["float", "real"])
def test_floats_use_the_lossless_style(kind):
    assert field_sql("f", SourceType(kind)) == "CONVERT(nvarchar(64), [f], 3)"


@pytest.mark.parametrize(("kind", "position"), [("time", 16), ("datetime2", 27), ("datetimeoffset", 27)])
def test_the_seventh_fraction_digit_is_cut_not_rounded_only_at_precision_7(kind, position):
    assert field_sql("t", SourceType(kind, datetime_precision=7)).startswith("STUFF(")
    assert field_sql("t", SourceType(kind, datetime_precision=7)).endswith(f", {position}, 1, N'')")
    assert field_sql("t", SourceType(kind)).startswith("STUFF(")  # no precision given = 7
    for p in (0, 3, 6):
        assert "STUFF" not in field_sql("t", SourceType(kind, datetime_precision=p))


def test_quotes_are_doubled_under_a_binary_collation_and_long_text_is_max():
    short = field_sql("s", SourceType("varchar", 1999))
    assert short == ("""N'"' + REPLACE(CAST([s] AS nvarchar(1999)) COLLATE Latin1_General_100_BIN2, """
                     """N'"', N'""') + N'"'""")
    # 2,000 quotes doubled and enclosed would be 4,002 characters: past nvarchar(4000)
    assert "nvarchar(max)" in field_sql("s", SourceType("nvarchar", 2000))
    for kind in ("text", "ntext", "xml"):
        assert "nvarchar(max)" in field_sql("s", SourceType(kind))
    assert "nvarchar(max)" in field_sql("s", SourceType("nvarchar", -1))


def test_identifiers_are_bracket_quoted():
    assert "[we]]ird]" in field_sql("we]ird", SourceType("int"))
    sql = select_lines_sql("s]", "t", [("a", SourceType("bit"))], nolock=True, also=("w]m",))
    assert sql.endswith(", [w]]m] FROM [s]]].[t] WITH (NOLOCK)")


def test_every_mapped_type_has_a_field_expression():
    for name in TYPE_MAP:
        kind = name.removesuffix("(max)")
        field_sql("c", SourceType(kind, max_length=-1 if name.endswith("(max)") else 10))
    with pytest.raises(ValueError, match="column geo: .*`geography`"):
        field_sql("geo", SourceType("geography"))
