"""Read one data file from a sheet of an Excel workbook (.xlsx), as the CSV reader would see it.

The sheet is streamed with openpyxl in read-only mode (cached values of formulas, never the
formulas) and every cell becomes the text a CSV export would hold, so the same checks
(:func:`cinreport.data.validate.raw_from_records`, the pandera column rules and the rules across files)
apply unchanged. Problems name the workbook and the cell (``case_files!D14``) as well as the
column and value (:func:`cell_references`).

How cells become text, and the spreadsheet damage handled:

- text is stripped; whole numbers are written without a decimal point, also when Excel stored
  them as floats (``3.0`` -> ``3``); other numbers as Python writes them (``3.5`` stays ``3.5``
  and fails a whole-number column);
- a date or date-time cell (a number Excel formats as a date) becomes an ISO date ``YYYY-MM-DD``;
  a date with a time of day is kept whole and rejected, with the reason. A plain number in a date
  column (an Excel date serial in a cell not formatted as a date) is not taken as a date: the
  problem says which date it would be, so the user formats the column as dates;
- a cell holding a spreadsheet error (``#N/A``, ``#REF!``) is rejected with that reason;
- the header is the first non-blank row; blank rows anywhere, and blank trailing columns, are
  ignored (as in a CSV); hidden rows and columns are read like any other;
- merged cells: a merged range in the header row is an error naming the range (the sheet is not
  read: which column a merged header names cannot be known). A merged range among the data rows
  is an error naming the range too; its other cells are read as holding the first cell's value
  (as the sheet shows them), so it is one problem, not one per blank cell;
- a last row that is a total ("Total", "Grand total", "Sum" in its first filled cell) is an error
  naming the row, and the row is left out of every other check: the report makes its own totals.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from dataclasses import dataclass, field, fields, replace

from lxml import etree
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import range_boundaries
from openpyxl.utils.datetime import from_excel
from openpyxl.utils.exceptions import InvalidFileException

from cinreport.data.codebook import Codebook, FileSpec
from cinreport.data.rawfiles import Problem, RawFile, _empty, raw_from_records
from cinreport.data.sources import SHEET_NS, DataSource

TOTAL = re.compile(r"(grand\s+)?(totals?|sum)\s*:?", re.IGNORECASE)
SIMPLE_SHEET = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class SheetFile(RawFile):
    """A sheet read like a CSV, with what is needed to name its cells in problems."""

    workbook: str = ""
    sheet: str = ""
    letters: dict[str, str] = field(default_factory=dict)               # header name -> column letter
    explained: dict[tuple[int, str], str] = field(default_factory=dict)  # (row, column) -> better rule
    own: set[Problem] = field(default_factory=set)                      # problems found reading the sheet


@dataclass(frozen=True)
class Merge:
    """A merged range of cells."""

    ref: str
    min_col: int
    min_row: int
    max_col: int
    max_row: int


def merged_ranges(workbook, sheet) -> list[Merge]:
    """The merged ranges of a read-only sheet (openpyxl does not read them in read-only mode, so
    the sheet's XML is streamed for its ``mergeCell`` elements)."""
    merges: list[Merge] = []
    with workbook._archive.open(sheet._worksheet_path) as fh:
        for _, elem in etree.iterparse(fh, events=("end",), tag=f"{SHEET_NS}mergeCell",
                                       resolve_entities=False, no_network=True):
            ref = elem.get("ref", "")
            merges.append(Merge(ref, *range_boundaries(ref)))
            elem.clear()
    return merges


def sheet_ref(sheet: str) -> str:
    """The sheet as Excel writes it in a reference: quoted when it is not a plain name."""
    return sheet if SIMPLE_SHEET.fullmatch(sheet) else "'" + sheet.replace("'", "''") + "'"


def cell_text(value, is_date_column: bool, epoch: dt.datetime) -> tuple[str, str]:
    """The text a CSV would hold for a cell's value, and why that text fails, where it will."""
    if value is None:
        return "", ""
    if isinstance(value, bool):
        return ("TRUE" if value else "FALSE"), ""
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat(), ""
        return value.isoformat(sep=" "), "a date with a time of day: give the date only, as YYYY-MM-DD"
    if isinstance(value, dt.date):
        return value.isoformat(), ""
    if isinstance(value, (dt.time, dt.timedelta)):
        return str(value), "a time, not a date or a number: correct the cell's value or format"
    if isinstance(value, (int, float)):
        text = str(int(value)) if float(value).is_integer() else repr(value)
        if is_date_column:
            try:
                would_be = from_excel(value, epoch).date().isoformat()
            except (ValueError, OverflowError):
                would_be = ""
            hint = f" (as an Excel date it would be {would_be})" if would_be else ""
            return text, (f"a number{hint} in a cell not formatted as a date, so it is not read as one: "
                          "format the column as dates in the spreadsheet, or type dates as YYYY-MM-DD")
        return text, ""
    text = str(value).strip()
    if text.startswith("#") and text.upper() in {"#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NUM!",
                                                 "#NULL!", "#SPILL!", "#CALC!"}:
        return text, f"the cell holds the spreadsheet error {text}: correct the formula or type the value"
    return text, ""


def _rows(sheet, merges: list[Merge]):
    """(row number, cell values) of every row, the cells a data merge covers holding its first value."""
    covered: dict[int, list[tuple[int, tuple[int, int]]]] = {}   # row -> (column, first cell)
    anchors: dict[int, list[int]] = {}                            # row -> columns of first cells
    for m in merges:
        anchors.setdefault(m.min_row, []).append(m.min_col)
        for r in range(m.min_row, m.max_row + 1):
            for c in range(m.min_col, m.max_col + 1):
                if (r, c) != (m.min_row, m.min_col):
                    covered.setdefault(r, []).append((c, (m.min_row, m.min_col)))
    first_values: dict[tuple[int, int], object] = {}
    for number, row in enumerate(sheet.iter_rows(), start=1):
        values = [getattr(cell, "value", None) for cell in row]
        for c in anchors.get(number, ()):
            first_values[(number, c)] = values[c - 1] if c <= len(values) else None
        for c, anchor in covered.get(number, ()):
            values += [None] * (c - len(values))
            values[c - 1] = first_values.get(anchor)
        yield number, values


def read_sheet(source: DataSource, spec: FileSpec, codebook: Codebook) -> SheetFile:
    """Read one file's sheet; check it as :func:`cinreport.data.validate.read_file` checks a CSV."""
    key = str(source.key)
    expected = [c.name for c in spec.columns]
    dates = {c.name for c in spec.columns if c.type == "date"}
    workbook_name, sheet_name = str(source.path), source.sheet or ""

    def unreadable(row: int, rule: str) -> SheetFile:
        problem = Problem(key, row, "", "", rule)
        return SheetFile(_empty(expected), [problem], False, workbook=workbook_name, sheet=sheet_name, own={problem})

    try:
        book = load_workbook(source.path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        return unreadable(0, f"cannot be read as an Excel workbook: {exc}")
    try:
        sheet = book[source.sheet]
        merges = merged_ranges(book, sheet)
        sheet.reset_dimensions()  # a writer's stated size may be wrong: read what is there
        header: list[str] | None = None
        header_line = 0
        records: list[tuple[int, int, list[str]]] = []
        explained: dict[tuple[int, str], str] = {}
        for number, values in _rows(sheet, merges):
            if header is None:
                texts = [cell_text(v, False, book.epoch)[0] for v in values]
                if not any(texts):
                    continue
                header, header_line = [t.lower() for t in texts], number
                on_header = [m.ref for m in merges if m.min_row <= number <= m.max_row]
                if on_header:
                    return unreadable(number, f"header cells {', '.join(on_header)} are merged: unmerge them and "
                                              f"give each column its own header, one of {','.join(expected)}")
                continue
            fields_ = []
            for i, value in enumerate(values):
                name = header[i] if i < len(header) else ""
                text, why = cell_text(value, name in dates, book.epoch)
                fields_.append(text)
                if why:
                    explained[(number, name)] = why
            if any(fields_):   # a sheet stores no empty cells after a row's last value: pad to the header
                fields_ += [""] * (len(header) - len(fields_))
                records.append((number, number, fields_))
    finally:
        book.close()
    if header is None:
        return unreadable(0, f"sheet is empty: it needs at least the header row {','.join(expected)}")
    letters: dict[str, str] = {}
    for i, name in enumerate(header):
        letters.setdefault(name, get_column_letter(i + 1))
    own: list[Problem] = []
    for m in merges:
        if m.min_row > header_line:
            column = header[m.min_col - 1] if m.min_col <= len(header) else ""
            value = next((f[m.min_col - 1] for r, _, f in records if r == m.min_row and m.min_col <= len(f)), "")
            own.append(Problem(key, m.min_row, column, value, f"cells {m.ref} are merged: unmerge them and fill in "
                                                              "every cell (merged cells hold one value)"))
    while records:
        number, _, last = records[-1]
        filled = [(i, v) for i, v in enumerate(last) if v]
        if not TOTAL.fullmatch(filled[0][1]):
            break
        i, value = filled[0]
        own.append(Problem(key, number, header[i] if i < len(header) else "", value,
                           "a total row: the report makes its own totals from the rows, so delete it "
                           "(it is left out of every other check)"))
        records.pop()
    raw = raw_from_records(key, spec, header, header_line, records, list(own))
    return SheetFile(**{f.name: getattr(raw, f.name) for f in fields(RawFile)}, workbook=workbook_name, sheet=sheet_name,
                     letters=letters, explained=explained, own=set(own))


def cell_references(problems: list[Problem], sheets: dict[str, SheetFile]) -> list[Problem]:
    """Name the workbook and the sheet's cell in problems filed under a sheet's key, and give the
    reason found while reading a cell (a date serial, a spreadsheet error) in place of the rule's."""
    out = []
    for p in problems:
        s = sheets.get(p.file)
        if s is None:
            out.append(p)
            continue
        rule = p.rule
        if p not in s.own and (p.row, p.column) in s.explained:
            rule = s.explained[(p.row, p.column)]
        ref = sheet_ref(s.sheet)
        letter = s.letters.get(p.column) if p.column else None
        if p.row and letter:
            cell = f"{ref}!{letter}{p.row}"
        elif p.row:
            cell = f"sheet {ref}, row {p.row}"
        else:
            cell = f"sheet {ref}"
        out.append(replace(p, file=s.workbook, rule=rule, cell=cell))
    return out
