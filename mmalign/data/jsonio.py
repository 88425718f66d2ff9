"""Reading JSON / JSONL files record by record, keeping each record's line number.

The standard library's ``json.load`` forgets where a record was; error messages must name
``file:line``, so JSON arrays are decoded element by element with ``JSONDecoder.raw_decode``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import DataError

_DECODER = json.JSONDecoder()
TOO_DEEP = "invalid JSON: nested too deeply to read"


def iter_json_records(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, record)`` from a JSONL file or a JSON file holding a list of objects."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    text = read_text(path)
    start = _skip_space(text, 0)
    if start < len(text) and text[start] == "[":
        yield from _iter_array(path, text, start + 1)
    else:
        yield from _iter_lines(path, text)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _iter_lines(path: Path, text: str) -> Iterator[tuple[int, dict]]:
    # Split on "\n" only: str.splitlines() also splits on U+2028, U+0085, ... which JSON strings may
    # hold unescaped (json.dumps(ensure_ascii=False) writes them raw), breaking records and line numbers.
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"invalid JSON: {err.msg}", source=f"{path}:{lineno}") from None
        except RecursionError:
            raise DataError(TOO_DEEP, source=f"{path}:{lineno}") from None
        if not isinstance(record, dict):
            raise DataError("expected a JSON object", source=f"{path}:{lineno}")
        yield lineno, record


def _iter_array(path: Path, text: str, pos: int) -> Iterator[tuple[int, dict]]:
    lineno = 1 + text.count("\n", 0, pos)
    while True:
        next_pos = _skip_space(text, pos)
        lineno += text.count("\n", pos, next_pos)
        pos = next_pos
        if pos >= len(text):
            raise DataError("unterminated JSON array", source=f"{path}:{lineno}")
        if text[pos] == "]":  # an empty array, or a trailing comma (tolerated)
            _check_end(path, text, pos)
            return
        try:
            record, end = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            raise DataError(f"invalid JSON: {err.msg}", source=f"{path}:{err.lineno}") from None
        except RecursionError:
            raise DataError(TOO_DEEP, source=f"{path}:{lineno}") from None
        if not isinstance(record, dict):
            raise DataError("expected a JSON object", source=f"{path}:{lineno}")
        yield lineno, record
        lineno += text.count("\n", pos, end)
        pos = _skip_space(text, end)
        lineno += text.count("\n", end, pos)
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos < len(text) and text[pos] == "]":
            _check_end(path, text, pos)
            return
        elif pos < len(text):
            raise DataError("invalid JSON: expected ',' or ']' after an array element", source=f"{path}:{lineno}")


def _check_end(path: Path, text: str, close: int) -> None:
    """Nothing but whitespace may follow the array's closing bracket at ``close``."""
    rest = _skip_space(text, close + 1)
    if rest < len(text):
        lineno = 1 + text.count("\n", 0, rest)
        raise DataError("invalid JSON: extra data after the array", source=f"{path}:{lineno}")


def read_json(path: str | Path, what: str = "JSON file") -> Any:
    """A whole JSON file (a document, not records), or one line naming the file, and the line of a
    syntax error; ``what`` names the file in the not-found message."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{what} not found: {path}")
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"invalid JSON: {err.msg}", source=f"{path}:{err.lineno}") from None
    except RecursionError:
        raise DataError(TOO_DEEP, source=str(path)) from None


def read_text(path: str | Path) -> str:
    """A UTF-8 text file's content; bytes that are not UTF-8 are one error naming the file and line."""
    path = Path(path)
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        lineno = 1 + data.count(b"\n", 0, err.start)
        raise DataError(f"not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})",
                        source=f"{path}:{lineno}") from None


def number(value: Any, key: str) -> float:
    """A record's numeric field (a JSON number, or a string holding one) as a finite float; anything
    else is a ``ValueError`` naming the field."""
    if not isinstance(value, bool) and isinstance(value, (int, float, str)):
        try:
            result = float(value)
        except ValueError:
            result = math.nan
        if math.isfinite(result):
            return result
    raise ValueError(f"field {key!r} must be a number, got {value!r}")


def write_jsonl(path: str | Path, records: list[dict]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def write_json(path: str | Path, data: Any) -> Path:
    """Compact JSON; a list gets one element per line, so that readers can name the line of a record."""
    path = Path(path)
    if isinstance(data, list):
        text = "[\n" + ",\n".join(json.dumps(r, separators=(",", ":")) for r in data) + "\n]\n"
    else:
        text = json.dumps(data, separators=(",", ":")) + "\n"
    path.write_text(text, encoding="utf-8")
    return path
