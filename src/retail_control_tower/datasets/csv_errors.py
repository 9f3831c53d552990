"""Where a CSV file breaks the input contract's dialect, and the likely cause.

Arrow's CSV reader, which streams the files into Bronze, reports a broken record by its text (the
lines an unclosed quote swallowed) but not by its line: values may hold line breaks, so it cannot
number lines. Once it has failed, the file is read again here with Python's csv module, which
tracks lines, in the same dialect (``,``, ``"`` quotes doubled inside a value). This only runs on
a file that already failed, so its cost (a pass over the file in Python) is never paid by a run
that loads.
"""

from __future__ import annotations

import csv
import gzip
import sys
from contextlib import contextmanager
from pathlib import Path

DIALECT = {"delimiter": ",", "quotechar": '"', "doublequote": True, "strict": True}


def locate_csv_problem(path: Path) -> str | None:
    """``line N: <likely cause>`` for the first record of ``path`` that does not parse or does not
    have as many values as the header; None when every record is fine."""
    with _no_field_limit(), _open(path, "rt", newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, **DIALECT)
        start = 1  # the line the record being read starts on
        expected = None
        try:
            for record in reader:
                if record and expected is None:
                    expected = len(record)
                elif record and len(record) != expected:
                    if reader.line_num > start:
                        return _runs_on(start, reader.line_num)
                    return f"line {start}: {len(record)} values where the header has {expected} (an unquoted comma in a value?)"
                start = reader.line_num + 1
        except csv.Error as error:
            if "end of data" in str(error):
                return f"line {start}: a quoted value opened on line {start} is never closed (an unclosed quote?)"
            if reader.line_num > start:
                return _runs_on(start, reader.line_num)
            return f'line {start}: text after a closing quote (a quote inside a value is written twice: "")'
    return None


def locate_bad_utf8(path: Path) -> int | None:
    """The first line of ``path`` holding bytes that are not UTF-8, or None."""
    with _open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


def _open(path: Path, mode: str, **text_options):
    """The file's bytes or text, decompressed when it is ``.gz`` (as Arrow reads it)."""
    return gzip.open(path, mode, **text_options) if path.name.endswith(".gz") else path.open(mode, **text_options)


def _runs_on(start: int, end: int) -> str:
    return f"line {start}: a quoted value opened on line {start} runs on to line {end} (an unclosed quote?)"


@contextmanager
def _no_field_limit():
    """An unclosed quote can swallow more than csv's default field limit (128 KiB) of the file."""
    previous = csv.field_size_limit(sys.maxsize)
    try:
        yield
    finally:
        csv.field_size_limit(previous)
