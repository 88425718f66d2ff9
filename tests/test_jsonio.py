"""Tests of mmalign.data.jsonio: JSON / JSONL records with the line number each one starts on."""

from __future__ import annotations

import json
import re

import pytest

from mmalign.data.jsonio import iter_json_records, number, read_json, write_jsonl
from mmalign.errors import DataError

RECORDS = [
    {"id": "r0", "prompt": "What is this?", "nested": {"a": [1, 2, {"b": "c"}]}},
    {"id": "r1", "text": "line one\nline two", "list": []},
    {"id": "r2", "text": "brackets ] [ } { and , commas"},
    {"id": "r3", "text": "unicode: café — 日本"},
]


def expected_lines(text: str) -> dict[str, int]:
    """Independently: the line holding each record's opening brace, found by searching the file
    for the record's ``"id": "..."`` and walking back to its nearest unmatched ``{``."""
    out = {}
    for match in re.finditer(r'"id":\s*"(r\d+)"', text):
        depth, pos = 0, match.start()
        while True:  # records here nest objects only after their id field
            pos -= 1
            if text[pos] == "}":
                depth += 1
            elif text[pos] == "{":
                if depth == 0:
                    break
                depth -= 1
        out[match.group(1)] = text.count("\n", 0, pos) + 1
    return out


def check(path, records=RECORDS):
    got = list(iter_json_records(path))
    assert [record for _, record in got] == records
    expected = expected_lines(path.read_text(encoding="utf-8"))
    assert {record["id"]: line for line, record in got} == expected
    return [line for line, _ in got]


def test_jsonl_line_numbers_with_blank_lines(tmp_path):
    path = tmp_path / "data.jsonl"
    lines = ["", json.dumps(RECORDS[0]), json.dumps(RECORDS[1]), "   ", "", json.dumps(RECORDS[2]), json.dumps(RECORDS[3])]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert check(path) == [2, 3, 6, 7]


def test_jsonl_with_crlf_line_endings(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes("\r\n".join(json.dumps(r) for r in RECORDS).encode("utf-8"))
    assert [line for line, _ in iter_json_records(path)] == [1, 2, 3, 4]


def test_jsonl_with_unicode_line_separators_inside_strings(tmp_path):
    # json.dumps(ensure_ascii=False) writes U+2028 / U+2029 / U+0085 raw; they are not line breaks.
    records = [{"id": "r0", "text": "a\u2028b\u2029c\x85d"}, {"id": "r1", "text": "e"}]
    path = write_jsonl(tmp_path / "data.jsonl", records)
    assert list(iter_json_records(path)) == [(1, records[0]), (2, records[1])]


def test_json_array_pretty_printed(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps(RECORDS, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    lines = check(path)
    assert lines[0] == 2  # "[" on line 1


def test_json_array_compact_on_one_line(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps(RECORDS), encoding="utf-8")
    assert check(path) == [1, 1, 1, 1]


def test_json_array_irregular_layout(tmp_path):
    text = (
        "\n\n  [ "
        + json.dumps(RECORDS[0])
        + " ,\n\n\n"
        + json.dumps(RECORDS[1], indent=4)
        + "\n,"
        + json.dumps(RECORDS[2])
        + ",\n  \n\t"
        + json.dumps(RECORDS[3], indent=1)
        + "\n]\n\n"
    )
    path = tmp_path / "data.json"
    path.write_text(text, encoding="utf-8")
    check(path)


def test_empty_array_and_empty_file(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text("[\n]\n", encoding="utf-8")
    assert list(iter_json_records(path)) == []
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    assert list(iter_json_records(path)) == []


def test_write_jsonl_round_trip(tmp_path):
    path = write_jsonl(tmp_path / "sub" / "out.jsonl", RECORDS)
    assert check(path) == [1, 2, 3, 4]


def error_of(path) -> str:
    with pytest.raises(DataError) as info:
        list(iter_json_records(path))
    return str(info.value)


def test_invalid_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(RECORDS[0]) + "\n\n" + '{"id": "r1", "text": }\n' + json.dumps(RECORDS[2]) + "\n")
    message = error_of(path)
    assert f"{path}:3:" in message and "invalid JSON" in message


def test_jsonl_non_object_names_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(RECORDS[0]) + "\n[1, 2]\n")
    assert f"{path}:2:" in error_of(path)


def test_invalid_json_array_names_file_and_line(tmp_path):
    text = json.dumps(RECORDS[:2], indent=2)
    text = text.replace('"text": "line one', '"text" "line one')  # missing colon in the 2nd record
    path = tmp_path / "bad.json"
    path.write_text(text)
    bad_line = text.count("\n", 0, text.index('"text" "line one')) + 1
    message = error_of(path)
    assert f"{path}:{bad_line}:" in message and "invalid JSON" in message


def test_json_array_missing_comma(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('[\n  {"id": "r0"}\n  {"id": "r1"}\n]\n')
    message = error_of(path)
    assert f"{path}:3:" in message and "invalid JSON" in message  # where the comma should be


def test_json_array_extra_data_after_end(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('[\n  {"id": "r0"}\n]\n\n{"id": "r1"}\n')
    assert f"{path}:5:" in error_of(path)


def test_json_array_unterminated_and_non_object(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('[\n  {"id": "r0"},\n  {"id": "r1"}\n')
    assert "unterminated" in error_of(path)
    path.write_text('[\n  {"id": "r0"},\n\n  "r1"\n]')
    message = error_of(path)
    assert f"{path}:4:" in message and "object" in message


def test_missing_file(tmp_path):
    message = error_of(tmp_path / "nope.jsonl")
    assert "not found" in message and "nope.jsonl" in message


def test_non_utf8_file_names_file_and_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(RECORDS[0]).encode() + b'\n{"id": "caf\xe9"}\n')
    message = error_of(path)
    assert f"{path}:2:" in message and "not UTF-8" in message and "0xe9" in message
    with pytest.raises(DataError, match=f"{path}:2: not UTF-8"):
        read_json(path)


@pytest.mark.parametrize("layout", ["jsonl", "array", "document"])
def test_json_nested_too_deeply_is_one_line(tmp_path, layout):
    deep = "[" * 100_000 + "]" * 100_000
    path = tmp_path / "deep.json"
    path.write_text({"jsonl": '{"a": ' + deep + "}\n", "array": "[" + deep + "]", "document": deep}[layout])
    with pytest.raises(DataError, match="nested too deeply") as info:
        read_json(path) if layout == "document" else list(iter_json_records(path))
    assert str(path) in str(info.value)


@pytest.mark.parametrize("value, expected", [(3, 3.0), (2.5, 2.5), ("640", 640.0), (" 1e2 ", 100.0)])
def test_number_accepts_numbers_and_numeric_strings(value, expected):
    assert number(value, "width") == expected


@pytest.mark.parametrize("value", ["wide", "", None, True, [1], "nan", "inf"])
def test_number_rejects_anything_else_naming_the_field(value):
    with pytest.raises(ValueError, match="field 'width' must be a number"):
        number(value, "width")
