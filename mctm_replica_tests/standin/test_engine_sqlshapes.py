"""Pure logic: the translator's read-back of its own SQL shapes (engine/sqlshapes.py) takes
only the exact shapes it emits, never a longer expression that merely starts or ends alike."""

from __future__ import annotations

from mctm_replica.standin.engine.sqlshapes import dto_local, dto_switched, hex_digits, md5_prefix


def test_hex_digits_of_a_blob_built_from_hex_is_that_hex():
    assert hex_digits("from_hex(lpad(to_hex(x), 16, '0'))") == "lpad(to_hex(x), 16, '0')"
    assert hex_digits("unhex(md5(encode(CAST(\"t\".\"n\" AS VARCHAR))))") == "md5(encode(CAST(\"t\".\"n\" AS VARCHAR)))"


def test_hex_digits_of_anything_else_prints_the_blob():
    for x in ["\"t\".\"b\"", "from_hex(a) || from_hex(b)", "unhex(a)[1:2]", "from_hex(')') || x", "from_hex(\"(\") || x"]:
        assert hex_digits(x) == f"hex({x})", x


def test_local_ticks_of_a_switched_offset_skip_the_packing():
    assert dto_local(dto_switched("\"t\".\"d\"", 330)) == "(__dto_utc(\"t\".\"d\") + 198000000000)"
    assert dto_local(dto_switched("\"t\".\"d\"", -60)) == "(__dto_utc(\"t\".\"d\") + -36000000000)"


def test_local_ticks_of_other_values_unpack_them():
    for x in ["\"t\".\"d\"", dto_switched("a", 0) + " + " + dto_switched("b", 0),
              "(CAST(__dto_utc(a) AS HUGEINT) * 2048 + 1024) + (CAST(__dto_utc(b) AS HUGEINT) * 2048 + 1024)"]:
        assert dto_local(x) == f"__dto_local({x})", x


def test_md5_prefix_reads_only_the_binary_cut_of_an_md5():
    assert md5_prefix("rpad(md5(CAST(\"t\".\"n\" AS VARCHAR)), 16, '0')[1:16]") == ('CAST("t"."n" AS VARCHAR)', 8)
    assert md5_prefix("rpad(md5(x), 8, '0')[1:8]") == ("x", 4)
    for digits in ["rpad(md5(x), 34, '0')[1:34]", "rpad(md5(x), 16, '0')[1:8]", "rpad(md5(x) || y, 16, '0')[1:16]",
                   "rpad(md5(x), 16, '0')[1:16] || z", "rpad(sha256(x), 16, '0')[1:16]", "md5(x)",
                   "rpad(md5(')'), 16, '0')[1:16]x"]:
        assert md5_prefix(digits) is None, digits
