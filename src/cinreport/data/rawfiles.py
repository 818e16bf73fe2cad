"""Reading coded-data files for validation: problems (each naming file, row, column, value and rule)
and raw CSV files read as streams (:func:`open_csv`), shared by :mod:`cinreport.data.validate` and the
workbook reader (:mod:`cinreport.data.workbooks`)."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import difflib
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import pandas as pd

from cinreport.data.codebook import Codebook, FileSpec

if TYPE_CHECKING:
    pass

LINE = "_line"
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
INT_PATTERN = re.compile(r"^[+-]?[0-9]+$")
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
DMY_DATE = re.compile(r"^([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})$")
ALL_ROWS = -1  # a "bad cell" marker meaning: this column is unusable in every row
# Files that must hold at least one data row (an authority without case files or an
# administrative extract cannot be reported on); support and themes may be empty.
NEED_ROWS = ("case_files", "admin")
DEFAULT_LIMIT = 20  # problems of one kind (rule and column) reported in full per file; the rest are counted
UNIQUE, UNIQUE_RULE = "unique", "duplicate: this value must be unique in the file"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the data, precise enough to fix the file from."""

    file: str
    row: int
    column: str
    value: str
    rule: str
    cell: str = ""    # in a workbook: the sheet and cell, e.g. case_files!D14 (then ``row`` is its row)
    kind: str = field(default="", compare=False, repr=False)   # the rule without this cell's details

    def __str__(self) -> str:
        where = f"{self.file}, row {self.row}" if self.row else self.file
        if self.cell:
            where = f"{self.file}, {self.cell}"
        col = f", column '{self.column}'" if self.column else ""
        val = f", value '{self.value}'" if self.value != "" else ""
        return f"{where}{col}{val}: {self.rule}"

    @property
    def key(self) -> tuple[str, str, str]:
        """What the limit counts by: file, column and the kind of rule."""
        return self.file, self.column, self.kind or self.rule


class Problems(list):
    """Problems found, at most ``limit`` of each kind (:attr:`Problem.key`) kept; the rest only counted.

    A plain list of the kept problems, plus ``more``: for each key past its limit, how many more
    problems of that kind there were. ``limit=None`` keeps every problem.
    """

    def __init__(self, problems: Iterable[Problem] = (), limit: int | None = DEFAULT_LIMIT):
        super().__init__()
        if limit is not None and limit < 1:
            raise ValueError(f"the limit of problems reported per rule and file must be at least 1, not {limit}")
        self.limit = limit
        self.kept: Counter = Counter()
        self.more: dict[tuple[str, str, str], int] = {}
        for p in problems:
            self.add(p)

    def room(self, key: tuple[str, str, str]) -> int:
        """How many more problems of this kind will be kept in full."""
        return sys.maxsize if self.limit is None else max(0, self.limit - self.kept[key])

    def add(self, problem: Problem) -> None:
        if self.room(problem.key):
            self.append(problem)
            self.kept[problem.key] += 1
        else:
            self.count_more(problem.key, 1)

    def extend(self, problems: Iterable[Problem]) -> None:
        for p in problems:
            self.add(p)

    def __iadd__(self, problems: Iterable[Problem]) -> "Problems":  # type: ignore[override, misc]  # as list.__iadd__ (typeshed)
        self.extend(problems)
        return self

    def count_more(self, key: tuple[str, str, str], n: int) -> None:
        """``n`` more problems of this kind, counted only."""
        if n > 0:
            self.more[key] = self.more.get(key, 0) + n

    def merge(self, other: "Problems") -> None:
        for p in other:
            self.add(p)
        for key, n in other.more.items():
            self.count_more(key, n)

    @property
    def total(self) -> int:
        return len(set(self)) + sum(self.more.values())

    def sorted(self) -> "Problems":
        """The kept problems sorted (each once), with the same counts."""
        out = Problems(limit=self.limit)
        list.extend(out, sorted(set(self)))
        out.kept, out.more = Counter(p.key for p in out), dict(self.more)
        return out

    def lines(self) -> list[str]:
        """The report: a count, each kept problem, and after each file's problems one line per kind
        that was cut ("... and 3,099,950 more like this: <rule> in <file>")."""
        shown = sorted(set(self))
        cut = f" (at most {self.limit} of each kind in each file are listed)" if self.more else ""
        out = [f"{self.total:,} problem(s) found in the data{cut}:"]
        more_by_file: dict[str, list[tuple[str, str, int]]] = {}
        for (file, column, kind), n in sorted(self.more.items()):
            more_by_file.setdefault(file, []).append((column, kind, n))

        def summary(file: str) -> list[str]:
            return [f"  … and {n:,} more like this: {kind}{f' (column {column!r})' if column else ''} in {file}"
                    for column, kind, n in more_by_file.pop(file, [])]

        for i, p in enumerate(shown):
            out.append(f"  {p}")
            if i + 1 == len(shown) or shown[i + 1].file != p.file:
                out += summary(p.file)
        for file in sorted(more_by_file):
            out += summary(file)
        return out


class ValidationError(ValueError):
    """The data broke one or more rules; ``problems`` lists every one reported in full, sorted (and
    ``more`` counts those past the limit per rule and file, see :class:`Problems`)."""

    def __init__(self, problems: Iterable[Problem]):
        found = problems if isinstance(problems, Problems) else Problems(problems, limit=None)
        found = found.sorted()
        self.problems = list(found)
        self.more = found.more
        self.total = found.total
        super().__init__("\n".join(found.lines()))


def parse_date(value: str, dmy: bool) -> dt.date | None:
    """ISO 8601 date, or dd/mm/yyyy where allowed; None if it is neither (or not a real date)."""
    try:
        if ISO_DATE.fullmatch(value):
            return dt.date.fromisoformat(value)
        m = DMY_DATE.fullmatch(value) if dmy else None
        if m:
            return dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    except ValueError:
        return None
    return None


def canonical_codes(codebook: Codebook, list_name: str) -> dict[str, str]:
    """Map upper-cased code to the codebook's spelling, so 'NONE', 'none' and 'None' all match."""
    return {code.upper(): code for code in codebook.codes(list_name).labels}


# --- reading -------------------------------------------------------------------------------

CHUNK_ROWS = 50_000   # rows of one file checked at a time (memory stays bounded whatever the file's size)


@dataclass
class RawFile:
    """A CSV read as stripped strings, with what went wrong reading it."""

    frame: pd.DataFrame                 # codebook columns in order (strings) + LINE
    problems: list[Problem]
    readable: bool = True               # False: empty, not UTF-8, not CSV - nothing in it is usable
    unusable: set[str] = field(default_factory=set)     # codebook columns missing or given twice
    skipped_keys: set[str] = field(default_factory=set)  # key values on rows skipped for their width
    keys_complete: bool = True          # False: an unclosed quote swallowed rows, so keys may be lost


def _string_frame(rows: list[list[str]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns, dtype=str)


def _empty(expected: list[str]) -> pd.DataFrame:
    frame = _string_frame([], expected)
    frame[LINE] = pd.Series([], dtype=int)
    return frame


def _filled(fields: list[str]) -> int:
    """How many fields a row has up to its last non-blank one (0: a blank line)."""
    n = len(fields)
    while n and not fields[n - 1].strip():
        n -= 1
    return n


@dataclass
class _Shape:
    """What every data row of a file says about its header, gathered before any row is checked (some
    header problems are decided by all the rows, e.g. a trailing comma on every line)."""

    header: list[str]
    records: int = 0
    widths: Counter = field(default_factory=Counter)      # (fields, fields up to the last filled one)
    multiline: Counter = field(default_factory=Counter)   # the same, of records spanning several lines
    filled: set[int] = field(default_factory=set)         # the header's trailing unnamed columns holding a value

    def __post_init__(self) -> None:
        self.named = _filled(self.header)   # the header's trailing unnamed columns start here

    def add(self, first: int, last: int, fields: list[str], filled: int) -> None:
        self.records += 1
        self.widths[len(fields), filled] += 1
        if last > first:
            self.multiline[len(fields), filled] += 1
        for i in range(self.named, min(len(self.header), filled)):
            if fields[i].strip():
                self.filled.add(i)

    @classmethod
    def of(cls, header: list[str], records: list[tuple[int, int, list[str]]]) -> "_Shape":
        shape = cls(list(header))
        for first, last, fields in records:
            shape.add(first, last, fields, _filled(fields))
        return shape


def _trimmed(width: int, fields: int, filled: int) -> int:
    """A row's width once trailing empty fields past the header's width are dropped (a trailing comma)."""
    return width if fields > width and filled <= width else fields


@dataclass
class _Layout:
    """How to read a file's rows: its header checked against the codebook (with the problems found),
    before the rows are read in chunks (:func:`_rows_frame`)."""

    name: str
    spec: FileSpec
    header: list[str]
    problems: list[Problem]
    readable: bool = True
    missing: list[str] = field(default_factory=list)
    unusable: set[str] = field(default_factory=set)
    keys_complete: bool = True

    @property
    def width(self) -> int:
        return len(self.header)


def _layout(name: str, spec: FileSpec, header: list[str], header_line: int, shape: _Shape,
            problems: list[Problem]) -> _Layout:
    """Check a header (given every row's shape); the problems found go after ``problems``."""
    expected = [c.name for c in spec.columns]
    header = list(header)
    # A trailing comma on every line (common in spreadsheet exports) gives unnamed empty columns:
    # those are ignored. An unnamed column that holds values is a problem.
    while header and header[-1] == "" and len(header) - 1 not in shape.filled:
        header.pop()
    width = len(header)
    if not set(header) & set(expected):
        # Not a header at all: a missing header row, or another separator. One problem, not one per column.
        sep = next((f"'{c}'" if c != "\t" else "tabs" for c in (";", "\t", "|") if c in ",".join(header)), None)
        rule = (f"values are separated by {sep}, not commas: save the file as 'CSV UTF-8 (comma delimited)'"
                if sep and width == 1 else
                f"the first line is not the header: it should be {','.join(expected)}")
        return _Layout(name, spec, header, [Problem(name, header_line, "", "", rule)], False)
    problems = list(problems)
    missing = [c for c in expected if c not in header]
    unknown = [h for h in header if h not in expected]
    renamed: dict[str, str] = {}
    for h in unknown:
        if h == "":
            continue
        match = difflib.get_close_matches(h, [m for m in missing if m not in renamed.values()], n=1, cutoff=0.6)
        if match:
            renamed[h] = match[0]
    for i, h in enumerate(header):
        if h == "":
            problems.append(Problem(name, header_line, "", "",
                                    f"column {i + 1} has no name in the header but holds values"))
        elif h in renamed:
            problems.append(Problem(name, header_line, h, h, f"unknown column: rename it to '{renamed[h]}' "
                                                             f"(column '{renamed[h]}' is missing)"))
        elif h in unknown:
            problems.append(Problem(name, header_line, h, h, f"unknown column: {spec.filename} has only the "
                                                             f"columns {', '.join(expected)}"))
    for c in missing:
        if c not in renamed.values():
            problems.append(Problem(name, header_line, c, "", "column is missing from the header (every "
                                                              "codebook column must be present; leave values "
                                                              "blank where allowed)"))
    dupes = sorted({h for h in header if h and header.count(h) > 1})
    for h in dupes:
        problems.append(Problem(name, header_line, h, h, "column appears more than once in the header: its "
                                                         "values are not checked until one of them is renamed "
                                                         "or removed"))
    widths = {_trimmed(width, n, filled) for n, filled in shape.widths}
    if shape.records > 1 and len(widths) == 1 and width not in widths and not shape.multiline:
        # The header, not the rows, is wrong: say so once (this replaces the header's other
        # problems, which it explains) instead of once per row.
        return _Layout(name, spec, header, [Problem(
            name, header_line, "", "", f"the header has {width} columns but every data row has {widths.pop()} "
                                       f"fields: the header should be {','.join(expected)}")], False)
    if spec.name in NEED_ROWS and not shape.records:
        problems.append(Problem(name, 0, "", "", "file has a header but no data rows"))
    keys_complete = all(_trimmed(width, n, filled) == width for n, filled in shape.multiline)
    return _Layout(name, spec, header, problems, True, missing, set(missing) | set(dupes), keys_complete)


def _rows_frame(layout: _Layout, records: list[tuple[int, int, list[str]]]
                ) -> tuple[pd.DataFrame, list[Problem], set[str]]:
    """Some of a file's rows (stripped strings with their first and last line) as a frame of the
    codebook's columns + LINE; a row with the wrong number of fields is a problem instead, and its
    key value is returned (the key still exists, for the rules across files)."""
    name, width, header = layout.name, layout.width, layout.header
    key_at = header.index(layout.spec.key) if layout.spec.key in header else None
    problems: list[Problem] = []
    skipped_keys: set[str] = set()
    good: list[list[str]] = []
    for first, last, fields in records:
        if len(fields) > width and not any(fields[width:]):   # trailing empty fields, e.g. a trailing comma
            fields = fields[:width]
        if len(fields) != width:
            if last > first:
                rule = (f"row has {len(fields)} fields but the header has {width}: a quote (\") opened on "
                        f"this line is not closed until line {last}")
            elif len(fields) > width:
                rule = (f"row has {len(fields)} fields but the header has {width}: remove the extra "
                        "value(s), or put a value that holds a comma in double quotes")
            else:
                rule = f"row has {len(fields)} fields but the header has {width}: a value or a comma is missing"
            problems.append(Problem(name, first, "", "", rule))
            if key_at is not None and key_at < len(fields) and fields[key_at]:
                skipped_keys.add(fields[key_at])
            continue
        good.append(fields + [str(first)])
    frame = _string_frame(good, header + [LINE])
    frame = frame.loc[:, ~frame.columns.duplicated()]
    for c in layout.missing:
        frame[c] = pd.Series([""] * len(frame), dtype=str, index=frame.index)
    frame = frame[[c.name for c in layout.spec.columns] + [LINE]].copy()
    frame[LINE] = frame[LINE].astype(int)
    return frame.reset_index(drop=True), problems, skipped_keys


def raw_from_records(name: str, spec: FileSpec, header: list[str], header_line: int,
                     records: list[tuple[int, int, list[str]]], problems: list[Problem]) -> RawFile:
    """Check the header and row widths of rows already read (stripped strings with their first and
    last line); shared by CSV files and workbook sheets (:mod:`cinreport.data.workbooks`)."""
    layout = _layout(name, spec, header, header_line, _Shape.of(header, records), problems)
    if not layout.readable:
        return RawFile(_empty([c.name for c in spec.columns]), layout.problems, False)
    frame, row_problems, skipped_keys = _rows_frame(layout, records)
    return RawFile(frame, layout.problems + row_problems, True, layout.unusable, skipped_keys, layout.keys_complete)


def _not_utf8(path: Path, name: str) -> Problem | None:
    """The first byte of the file that is not UTF-8, as a problem (the file is checked in pieces)."""
    newlines, pending = 0, b""
    with open(path, "rb") as f:
        while True:
            block = f.read(1 << 20)
            data = pending + block
            try:
                _, used = codecs.utf_8_decode(data, "strict", not block)
            except UnicodeDecodeError as exc:
                return Problem(name, newlines + data[: exc.start].count(b"\n") + 1, "",
                               repr(data[exc.start:exc.start + 1])[2:-1],
                               "file is not UTF-8 text (this byte is not UTF-8; it is probably Windows-1252/"
                               "Latin-1): save the file as 'CSV UTF-8'")
            newlines += data.count(b"\n", 0, used)
            pending = data[used:]
            if not block:
                return None


@dataclass
class CsvFile:
    """A CSV file opened for checking: its header checked (with every row's shape, in a first pass
    that keeps nothing of the rows), its rows then read in chunks by :meth:`chunks`."""

    path: Path
    layout: _Layout

    @property
    def problems(self) -> list[Problem]:
        return self.layout.problems

    @property
    def readable(self) -> bool:
        return self.layout.readable

    @property
    def unusable(self) -> set[str]:
        return self.layout.unusable

    @property
    def keys_complete(self) -> bool:
        return self.layout.keys_complete

    def _records(self) -> Iterable[tuple[int, int, list[str]]]:
        with open(self.path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            previous, header = 0, False
            for fields in reader:
                first, last = previous + 1, reader.line_num
                previous = last
                if not _filled(fields):
                    continue
                if not header:
                    header = True
                    continue
                yield first, last, [sys.intern(f.strip()) for f in fields]   # one copy of each value

    def chunks(self, rows: int | None = CHUNK_ROWS) -> Iterable[tuple[pd.DataFrame, list[Problem], set[str]]]:
        """The rows, ``rows`` at a time (None: all at once), each chunk as :func:`_rows_frame` gives it."""
        batch: list[tuple[int, int, list[str]]] = []
        yielded = False
        for record in self._records():
            batch.append(record)
            if rows is not None and len(batch) >= rows:
                yield _rows_frame(self.layout, batch)
                batch, yielded = [], True
        if batch or not yielded:   # a file without rows still gives one (empty) chunk
            yield _rows_frame(self.layout, batch)


def open_csv(path: Path, spec: FileSpec) -> CsvFile:
    """Check a CSV's encoding, header and row widths, reading it as a stream (one problem per defect);
    the rows are read afterwards, in chunks (:meth:`CsvFile.chunks`)."""
    name = str(path)
    expected = [c.name for c in spec.columns]

    def unreadable(problem: Problem) -> CsvFile:
        return CsvFile(path, _Layout(name, spec, expected, [problem], False))

    try:
        with open(path, "rb") as f:
            start = f.read(2)
    except OSError as exc:
        return unreadable(Problem(name, 0, "", "", f"cannot be read: {exc.strerror}"))
    if start in (b"\xff\xfe", b"\xfe\xff"):
        return unreadable(Problem(name, 1, "", "", "file is UTF-16 text (Excel's 'Unicode Text'): save it as "
                                                   "'CSV UTF-8'"))
    bad = _not_utf8(path, name)
    if bad:
        return unreadable(bad)
    shape: _Shape | None = None
    header_line, previous = 1, 0
    with open(path, encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text)
        try:
            for fields in reader:
                first, last = previous + 1, reader.line_num
                previous = last
                filled = _filled(fields)
                if not filled:
                    continue
                if shape is None:
                    shape, header_line = _Shape([h.strip().lower() for h in fields]), first
                    continue
                shape.add(first, last, fields, filled)
        except csv.Error as exc:
            return unreadable(Problem(name, previous + 1, "", "", f"cannot be read as CSV: {exc}"))
    if shape is None:
        return unreadable(Problem(name, 1, "", "", f"file is empty: it needs at least the header row "
                                                   f"{','.join(expected)}"))
    return CsvFile(path, _layout(name, spec, shape.header, header_line, shape, []))


def read_file(path: Path, spec: FileSpec) -> RawFile:
    """Read one CSV whole; check encoding, header and row widths (one problem per defect)."""
    opened = open_csv(path, spec)
    if not opened.readable:
        return RawFile(_empty([c.name for c in spec.columns]), opened.problems, False)
    frame, row_problems, skipped_keys = next(iter(opened.chunks(None)))
    return RawFile(frame, opened.problems + row_problems, True, opened.unusable, skipped_keys, opened.keys_complete)


# --- per-column rules (pandera) --------------------------------------------------------------
