"""Engine API (no network): float and real as text, as SQL Server prints them (CAST, CONVERT styles 0-3).

The replicator's read check is tested against both answers a server can give (style 3's
lossless text, style 0's six digits) in test_conformance_collations.py.
"""

from __future__ import annotations

import struct

import pytest

from mctm_replica_tests.standin.engine_helpers import engine_session, rows


@pytest.fixture(scope="module")
def sess():
    with engine_session(["CREATE DATABASE ft", "USE ft", "CREATE TABLE f (id int, x float, r real)",
                 "INSERT INTO f VALUES (1, 1495591, 0.1), (2, 0.00001, 100000), (3, -1e300, 1e6), (4, NULL, NULL)"], spid=56) as s:
        yield s



def test_style_0_and_cast_print_six_significant_digits(sess):
    assert rows(sess, "SELECT CAST(x AS varchar(30)), CONVERT(nvarchar(30), x), CONVERT(varchar(30), x, 0),"
                      " CAST(r AS varchar(30)) FROM f ORDER BY id") == [
        ("1.49559e+006", "1.49559e+006", "1.49559e+006", "0.1"),
        ("1e-005", "1e-005", "1e-005", "100000"),
        ("-1e+300", "-1e+300", "-1e+300", "1e+006"),
        (None, None, None, None)]


def test_styles_1_and_2_are_scientific_with_8_and_16_digits(sess):
    assert rows(sess, "SELECT CONVERT(varchar(30), x, 1), CONVERT(varchar(30), x, 2), CONVERT(varchar(30), r, 1),"
                      " CONVERT(varchar(30), r, 2) FROM f WHERE id = 1") == [
        ("1.4955910e+006", "1.495591000000000e+006", "1.0000000e-001", "1.000000014901161e-001")]


def test_style_3_reads_back_as_the_same_value(sess):
    got = rows(sess, "SELECT CONVERT(varchar(30), x, 3), CONVERT(varchar(30), r, 3) FROM f WHERE id < 4 ORDER BY id")
    assert [float(t) for t, _ in got] == [1495591.0, 0.00001, -1e300]
    # a real's text reads back as the same real (32-bit) value
    assert [_real(float(t)) for _, t in got] == [_real(0.1), 100000.0, 1e6]


def _real(v: float) -> float:
    return struct.unpack("<f", struct.pack("<f", v))[0]


def test_float_arithmetic_is_float_or_real(sess):
    assert rows(sess, "SELECT CONVERT(varchar(30), CAST(1 AS float) / 3, 0), CONVERT(varchar(30), r * 3, 0)"
                      " FROM f WHERE id = 1") == [("0.333333", "0.3")]


def test_style_3_has_17_digits(sess):
    assert rows(sess, "SELECT CONVERT(varchar(30), CAST(1 AS float) / 3, 3)") == [("0.33333333333333331",)]
