"""Differences found while tuning the copy (issue 15), now fixed and pinned with what REAL
SQL Server returns: DATEPART/DATENAME(TZOFFSET, datetimeoffset column) and the bytes of a
string column cast to binary (nvarchar: UTF-16LE; varchar: its collation's code page)."""

from __future__ import annotations

import pytest


@pytest.fixture
def offsets(ms):
    with ms.cursor() as cur:
        cur.execute("CREATE TABLE dbo.o (d datetimeoffset(7), s nvarchar(10), v varchar(10),"
                    " e datetimeoffset(0))")
        cur.execute("INSERT INTO dbo.o VALUES ('2024-06-01 12:00:00.1234567 -09:30', N'長',"
                    " 'café€', '2024-06-01 12:00:00 +09:00')")
    return ms


def _one(conn, sql: str):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def test_datepart_tzoffset_is_the_offset_in_minutes(offsets):
    assert _one(offsets, "SELECT DATEPART(TZOFFSET, d) FROM dbo.o") == -570


def test_datename_tzoffset_is_the_offset_text(offsets):
    assert _one(offsets, "SELECT DATENAME(TZOFFSET, d) FROM dbo.o") == "-09:30"


def test_nvarchar_column_cast_to_varbinary_is_its_utf16le_bytes(offsets):
    assert _one(offsets, "SELECT CAST(s AS varbinary(max)) FROM dbo.o") == "長".encode("utf-16-le")


def test_nvarchar_literal_cast_to_varbinary_is_its_utf16le_bytes(offsets):
    """The literal is right already: only a column's cast differs."""
    assert _one(offsets, "SELECT CAST(N'長' AS varbinary(max))") == "長".encode("utf-16-le")


def test_positive_offsets_answer_with_a_plus_sign(offsets):
    assert _one(offsets, "SELECT DATEPART(TZOFFSET, e) FROM dbo.o") == 540
    assert _one(offsets, "SELECT DATENAME(TZOFFSET, e) FROM dbo.o") == "+09:00"


def test_convert_nvarchar_column_to_varbinary_is_its_utf16le_bytes(offsets):
    assert _one(offsets, "SELECT CONVERT(varbinary(max), s) FROM dbo.o") == "長".encode("utf-16-le")


def test_nvarchar_column_cast_to_short_varbinary_is_cut(offsets):
    assert _one(offsets, "SELECT CAST(s + N'x' AS varbinary(3)) FROM dbo.o") == "長x".encode("utf-16-le")[:3]


def test_varchar_column_cast_to_varbinary_is_its_code_page_bytes(offsets):
    """The database collation (SQL_Latin1_General_CP1_CI_AS) holds code page 1252: é is 0xE9, € 0x80."""
    assert _one(offsets, "SELECT CAST(v AS varbinary(max)) FROM dbo.o") == "café€".encode("cp1252")
