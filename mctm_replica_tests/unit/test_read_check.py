"""Pure logic of the read-path self-check: PostgreSQL's reading of each path's text, and
the comparison that finds a type whose server-made text would load differently."""

import pytest

from mctm_replica.read_check import PROBES, compare, csv_fields, probe_select, stored_value
from mctm_replica.typemap import TYPE_MAP


def test_probes_cover_every_type_in_the_type_map():
    covered = {p.type.name + ("(max)" if p.type.max_length == -1 else "") for p in PROBES}
    # image and rowversion share binary's expression; a literal cannot be cast to rowversion.
    assert set(TYPE_MAP) - covered == {"image", "timestamp", "rowversion"}


def test_csv_fields_tell_null_from_empty_and_undo_quoting():
    assert csv_fields('1,,"",  ,"a ""q"", b\nc"') == ["1", None, "", "  ", 'a "q", b\nc']
    assert csv_fields(",") == [None, None]


@pytest.mark.parametrize(("a", "b", "target"), [
    ("True", "1", "boolean"),
    ("0.3333333333333333", "3.3333333333333331E-1", "double precision"),
    ("1.23", "1.2300", "numeric(18,4)"),
    ("2024-01-01 12:34:56.123456+09:00", "2024-01-01 03:34:56.123456 +00:00", "timestamp(6) with time zone"),
    ("9999-12-31 23:59:59.997000", "9999-12-31 23:59:59.997", "timestamp(3) without time zone"),
    ("6f9619ff-8b86-d011-b42d-00c04fd430c8", "6F9619FF-8B86-D011-B42D-00C04FD430C8", "uuid"),
    ("\\xab000000", "\\xAB000000", "bytea"),
])
def test_equal_values_in_different_texts_load_equal(a, b, target):
    assert stored_value(a, target) == stored_value(b, target)


@pytest.mark.parametrize(("a", "b", "target"), [
    ("0.3333333333333333", "0.333333", "double precision"),  # style 0: six digits
    ("23:59:59.999999", "23:59:59.9999999", "time(6) without time zone"),  # 7th digit rounded up
    ("9999-12-31 23:59:59.997000", "9999-12-31 23:59:59", "timestamp(3) without time zone"),
    ("ab   ", "ab", "varchar(5)"),
    ("", None, "varchar(10)"),
])
def test_a_different_value_is_a_difference(a, b, target):
    assert stored_value(a, target) != stored_value(b, target)


def test_compare_names_the_probe_whose_texts_differ():
    probes = [p for p in PROBES if p.label in ("int min", "float 1/3", "nvarchar CSV syntax")]
    typed = [(-2147483648, 1 / 3, 'say "hi", ok\r\n\\. \\N NULL ＂'), (None, None, None)]
    good = ['-2147483648,3.3333333333333331E-1,"say ""hi"", ok\r\n\\. \\N NULL ＂"', ",,"]
    assert compare(probes, typed, good) == []
    bad = ['-2147483648,0.333333,"say ""hi"", ok\r\n\\. \\N NULL ＂"', ',,""']
    found = [(d.probe.label, d.row, d.line_text) for d in compare(probes, typed, bad)]
    assert found == [("float 1/3", "value", "0.333333"), ("nvarchar CSV syntax", "NULL", "")]


def test_probe_select_casts_every_literal_and_a_null_row():
    text = probe_select(PROBES[:2])
    assert text == ("SELECT CAST(1 AS bit) AS [c0], CAST(255 AS tinyint) AS [c1] "
                    "UNION ALL SELECT CAST(NULL AS bit), CAST(NULL AS tinyint)")
