"""Pure logic: the COPY CSV encoding, read back by Python's own csv parser."""

import csv
import datetime as dt
import io
import uuid
from decimal import Decimal

from mctm_replica.io_managers.copy_format import CsvBatchEncoder, CsvLineEncoder


def parse(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def test_null_is_unquoted_empty_and_empty_string_is_quoted():
    enc = CsvBatchEncoder(["a", "b"], ["text", "plain"], [True, True])
    assert enc.encode([("", None), (None, 0)]) == b'"",\n,0\n'


def test_values_keep_their_exact_text():
    enc = CsvBatchEncoder(list("abcdefgh"), ["plain"] * 6 + ["bytes", "text"], [True] * 8)
    u = uuid.UUID("6F9619FF-8B86-D011-B42D-00C04FC964FF")
    row = (True, 2**63 - 1, Decimal("-922337203685477.5808"), 0.1, dt.datetime(2024, 1, 2, 3, 4, 5, 6),
           u, b"\x00\xff", 'a,"b"\nc')
    assert parse(enc.encode([row])) == [[
        "True", "9223372036854775807", "-922337203685477.5808", "0.1", "2024-01-02 03:04:05.000006",
        "6f9619ff-8b86-d011-b42d-00c04fc964ff", "\\x00ff", 'a,"b"\nc',
    ]]


def test_nul_characters_are_stripped_and_counted_per_column():
    enc = CsvBatchEncoder(["a", "b"], ["text", "text"], [True, True])
    enc.encode([("x\x00y\x00", "ok"), ("\x00", None)])
    out = enc.encode([("z\x00", "ok")])
    assert parse(out) == [["z", "ok"]]
    assert enc.nul_stripped == {"a": 4}


def test_empty_batch_encodes_to_nothing():
    assert CsvBatchEncoder(["a"], ["plain"], [True]).encode([]) == b""


def test_server_formatted_lines_are_joined_unchanged():
    enc = CsvLineEncoder(["a", "b"])
    rows = [('1,"x,""y""\nz"', "2024-01-01"), ('2,""',), ("3,",)]
    assert enc.encode(rows) == '1,"x,""y""\nz"\n2,""\n3,\n'.encode()
    assert parse(enc.encode(rows)) == [["1", 'x,"y"\nz'], ["2", ""], ["3", ""]]
    assert enc.encode([]) == b"" and enc.nul_stripped == {}


def test_nul_in_server_formatted_lines_is_stripped_and_counted_per_column():
    enc = CsvLineEncoder(["id", "a", "b"])
    data = enc.encode([('1,"x\x00,""\x00""\ny","\x00"',), ('2,,"\x00\x00"',), ("3,,",)])
    assert data == '1,"x,""""\ny",""\n2,,""\n3,,\n'.encode()
    assert enc.nul_stripped == {"a": 2, "b": 3}


def test_server_formatted_lines_mixing_ascii_japanese_and_astral_text_stay_exact():
    enc = CsvLineEncoder(["a", "b"])
    rows = [('1,"plain"',), ('2,"顧客様 ｶﾀｶﾅ"',), ('3,"😀 \x00x"',), ("4,",)]
    data = enc.encode(rows)
    assert data == '1,"plain"\n2,"顧客様 ｶﾀｶﾅ"\n3,"😀 x"\n4,\n'.encode()
    assert enc.nul_stripped == {"b": 1}


def test_nul_counting_walks_fields_of_any_size():
    enc = CsvLineEncoder(["a", "b"])
    long = "x" * 300_000  # beyond the csv module's 131,072-character field limit
    data = enc.encode([(f'"{long}\x00","\x00,\n"',), (',"a\x00"',)])
    assert data == f'"{long}",",\n"\n,"a"\n'.encode()
    assert enc.nul_stripped == {"a": 1, "b": 2}


def test_a_lone_null_is_an_empty_line_not_an_empty_string():
    enc = CsvBatchEncoder(["v"], ["text"], [True])
    assert enc.encode([(None,), ("",), ("a",)]) == b'\n""\n"a"\n'
    enc = CsvBatchEncoder(["n"], ["plain"], [True])
    assert enc.encode([(None,), (0,)]) == b"\n0\n"
