"""Corpus files: one text per non-empty line, or JSON lines with a "text" field (and "from",
"to" for labelled pairs). Read lazily: a file of a million lines is never held in memory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from attnviz.errors import UsageError

JSON_SUFFIXES = (".jsonl", ".ndjson")


@dataclass(frozen=True)
class Line:
    """A usable line: its 1-based number in the file, its text, and for pairs the two words."""

    number: int
    text: str
    source: str = ""
    target: str = ""


@dataclass(frozen=True)
class Skipped:
    """A line that cannot be used, and why."""

    number: int
    reason: str


def check_corpus(path: Path, flag: str = "--corpus") -> Path:
    """The file exists and is a readable file; checked before any model loads."""
    if not path.exists():
        raise UsageError(f"cannot read {flag} '{path}': no such file")
    if path.is_dir():
        raise UsageError(f"cannot read {flag} '{path}': it is a directory")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot read {flag} '{path}': {exc.strerror or exc}") from exc
    return path


def _raw_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(number, line) for every line that is not blank, without its line ending."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark
                raw = raw[3:]
            line = raw.rstrip(b"\r\n")
            if line.strip():
                yield number, line


def count_lines(path: Path) -> int:
    """How many non-blank lines the file has: the total a progress bar counts towards."""
    return sum(1 for _ in _raw_lines(path))


def read_corpus(path: Path, *, pairs: bool = False) -> Iterator[Line | Skipped]:
    """Every non-blank line as a `Line`, or a `Skipped` with the reason it cannot be used.

    A `.jsonl`/`.ndjson` file (and every `pairs` file) holds one JSON object per line; any
    other file holds one text per line.
    """
    as_json = pairs or path.suffix.lower() in JSON_SUFFIXES
    for number, raw in _raw_lines(path):
        if b"\x00" in raw:
            yield Skipped(number, "contains NUL bytes")
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Skipped(number, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})")
            continue
        yield _parse_json(number, line, pairs) if as_json else Line(number, line)


def _parse_json(number: int, line: str, pairs: bool) -> Line | Skipped:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return Skipped(number, f"invalid JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(record, dict):
        return Skipped(number, "not a JSON object")
    fields = ("text", "from", "to") if pairs else ("text",)
    values = []
    for name in fields:
        value = record.get(name)
        if value is None:
            return Skipped(number, f'no "{name}" field')
        if not isinstance(value, str):
            return Skipped(number, f'"{name}" is not a string')
        if not value.strip():
            return Skipped(number, f'empty "{name}"')
        values.append(value)
    return Line(number, *values)
