"""Read Department for Education (DfE) open-data CSV files, keeping their symbols.

DfE publishes its statistics on Explore Education Statistics (EES) as CSV files in one agreed
layout (the DfE "open data standards"): the columns ``time_period``, ``time_identifier``,
``geographic_level``, ``country_code`` and ``country_name`` in every file; geography columns for
the levels present (``region_code``/``region_name``, ``old_la_code``/``new_la_code``/``la_name``
...); then *filters* (text that breaks the data down, e.g. ``category``) and *indicators*
(the numbers). An indicator cell holds a number, or a symbol that says why there is no number
(``c`` suppressed, ``x`` not available, ``z`` not applicable, ``low``, ``u`` ...), or is blank.

:func:`read_dfe_csv` reads such a file into a :class:`DfETable`: indicators become float64 with NaN
wherever there was no number, and a parallel ``symbols`` frame keeps each symbol so that a
suppressed count is never mistaken for zero or for a blank (``status`` tells the three apart).
The row index of both frames is the cell's line number in the file (header = line 1), so any later
check can point back at the file.

Which columns are indicators: the metadata file ``<name>.meta.csv`` beside the data file says so
where there is one (EES publishes one with every data file); the caller can state them
(``indicators=``); otherwise a non-standard column whose non-blank cells are all numbers or
symbols is taken for an indicator and anything else for a filter -- so a filter whose items all
look like numbers (an ``age`` column of 0, 5, 10) needs the metadata or ``indicators=``.

Every way a file can fail to be in the layout raises :class:`DfEFormatError`, whose message
names the file, the line, the column and the offending value where there is one.

Also here: :func:`read_statistical_neighbours` for DfE's statistical-neighbour groupings file
(not in the open-data layout), and :func:`fetch_files`, which downloads files atomically and
checks that each one parses before it replaces anything.
"""

from __future__ import annotations

import csv
import io
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from cinreport.common.atomic import write_bytes

# --------------------------------------------------------------------------------------------
# The standard (DfE open data standards, "Data symbols", "Time and geography")

SYMBOLS: dict[str, str] = {
    "c": "confidential: suppressed to protect confidentiality",
    "x": "not available",
    "z": "not applicable",
    "low": "rounds to zero, but is not zero",
    "u": "low reliability",
    "k": "rounds to zero, but is not zero (earlier convention for 'low')",
    "~": "rounds to zero, but is not zero (obsolete symbol for 'low')",
    ":": "not available (obsolete symbol for 'x')",
    "..": "not available (the older GSS symbol, used in earlier DfE tables)",
}
"""Each symbol that may stand in an indicator cell, with its meaning in plain English.

The list is DfE's "Data symbols" table in its open data standards (analysts' guide, "Open Data
Standards": ``z``, ``x``, ``c``, ``low``, ``u``, with ``:`` and ``~`` as obsolete equivalents of
``x`` and ``low``), plus ``k`` (DfE's earlier symbol for "rounds to zero") and ``..`` (the Government
Statistical Service's earlier "not available"), which older DfE tables still carry. Symbols are lower
case and matched exactly: ``C``, ``N/A``, ``-`` or ``24.7%`` are not symbols and are errors in a
column read as an indicator."""

TIME_COLUMNS: tuple[str, ...] = ("time_period", "time_identifier")

REQUIRED_COLUMNS: tuple[str, ...] = (
    "time_period", "time_identifier", "geographic_level", "country_code", "country_name")
"""The columns every file in the layout has."""

GEOGRAPHIC_LEVELS: dict[str, tuple[str, ...]] = {
    "National": (),
    "Regional": ("region_code", "region_name"),
    "Local authority": ("old_la_code", "new_la_code", "la_name"),
    "Local authority district": ("lad_code", "lad_name"),
    "RSC region": ("rsc_region_lead_name",),
    "Parliamentary constituency": ("pcon_code", "pcon_name"),
    "Local skills improvement plan area": ("lsip_code", "lsip_name"),
    "Local enterprise partnership": ("local_enterprise_partnership_code",
                                     "local_enterprise_partnership_name"),
    "English devolved area": ("english_devolved_area_code", "english_devolved_area_name"),
    "Mayoral combined authority": ("mayoral_combined_authority_code",
                                   "mayoral_combined_authority_name"),
    "Opportunity area": ("opportunity_area_code", "opportunity_area_name"),
    "Ward": ("ward_code", "ward_name"),
    "MAT": ("trust_id", "trust_name"),
    "Sponsor": ("sponsor_id", "sponsor_name"),
    "School": ("school_urn", "school_name"),
    "Provider": ("provider_ukprn", "provider_name"),
    "Institution": (),
    "Planning area": (),
    "Police force area": ("pfa_code", "pfa_name"),
}
"""Allowed ``geographic_level`` values, each with the columns its rows need (beyond the country)."""

GEOGRAPHY_COLUMNS: tuple[str, ...] = (
    "geographic_level", "country_code", "country_name",
    "region_code", "region_name", "old_la_code", "new_la_code", "la_name",
    "lad_code", "lad_name", "rsc_region_lead_name", "pcon_code", "pcon_name",
    "lsip_code", "lsip_name",
    "local_enterprise_partnership_code", "local_enterprise_partnership_name",
    "english_devolved_area_code", "english_devolved_area_name",
    "mayoral_combined_authority_code", "mayoral_combined_authority_name",
    "opportunity_area_code", "opportunity_area_name", "ward_code", "ward_name",
    "trust_id", "trust_name", "sponsor_id", "sponsor_name",
    "school_urn", "school_name", "school_laestab", "provider_ukprn", "provider_name",
    "institution_id", "institution_name", "planning_area_code", "planning_area_name",
    "pfa_code", "pfa_name",
)
"""Standard geography columns: never filters or indicators, always kept as text."""

_TERMS = ("Autumn term", "Spring term", "Summer term")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_WEEKS = tuple(f"Week {n}" for n in range(1, 53))

FOUR_DIGIT_IDENTIFIERS: tuple[str, ...] = ("Calendar year", "Reporting year") + _MONTHS + _WEEKS
"""``time_identifier`` values whose ``time_period`` is a year such as ``2024``."""

SIX_DIGIT_IDENTIFIERS: tuple[str, ...] = (
    "Academic year", "Financial year", "Tax year", "Autumn and spring term", *_TERMS,
    "Financial year Q1", "Financial year Q2", "Financial year Q3", "Financial year Q4",
    "Part 1 (April to September)", "Part 2 (October to March)")
"""``time_identifier`` values whose ``time_period`` is two consecutive years such as ``202324``."""

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_THOUSANDS = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?"


class DfEFormatError(ValueError):
    """A file is not a readable DfE open-data CSV file (or a statistical-neighbour file).

    ``file``, ``line`` (1-based, header = line 1), ``column`` and ``value`` say where; ``line``,
    ``column`` and ``value`` are None when the problem is with the file as a whole.
    """

    def __init__(self, file: str, problem: str, *, line: int | None = None,
                 column: str | None = None, value: str | None = None):
        self.file, self.line, self.column, self.value = file, line, column, value
        where = file
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column '{column}'"
        if value is not None:
            where += f", value '{value}'"
        super().__init__(f"{where}: {problem}")


class DfEFetchError(OSError):
    """A download failed (network, server or timeout); the message names the URL."""


# --------------------------------------------------------------------------------------------
# The table


@dataclass(frozen=True, eq=False)
class DfETable:
    """One DfE open-data file, read.

    ``data`` holds every column: time, geography and filter columns as strings (blank -> <NA>),
    indicators as float64 (NaN where the cell held a symbol or was blank). ``symbols`` has one
    column per indicator with the symbol text where the cell held one, <NA> elsewhere. Both are
    indexed by the row's line number in the file (index name ``line``). ``labels`` maps columns
    to the labels of the metadata file, where there was one.
    """

    path: Path
    data: pd.DataFrame
    symbols: pd.DataFrame
    filters: tuple[str, ...]
    indicators: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)

    def _indicator(self, indicator: str) -> str:
        if indicator not in self.indicators:
            raise KeyError(f"'{indicator}' is not an indicator of {self.path} "
                           f"(indicators: {', '.join(self.indicators) or 'none'})")
        return indicator

    def value(self, indicator: str) -> pd.Series:
        """The indicator's numbers (float64; NaN where the file held a symbol or a blank)."""
        return self.data[self._indicator(indicator)]

    def status(self, indicator: str) -> pd.Series:
        """For each row: ``'value'`` (a number), ``'missing'`` (blank) or the symbol itself."""
        name = self._indicator(indicator)
        numbers = self.data[name]
        symbol = self.symbols[name]
        out = pd.Series(np.where(numbers.notna(), "value", "missing"), index=self.data.index,
                        dtype="string", name=name)
        return out.mask(symbol.notna(), symbol)

    def level(self, geographic_level: str) -> "DfETable":
        """The rows of one geographic level (e.g. ``'Local authority'``), as a table."""
        return self.levels(geographic_level)

    def levels(self, *geographic_levels: str) -> "DfETable":
        """The rows of any of these geographic levels, as a table."""
        for name in geographic_levels:
            if name not in GEOGRAPHIC_LEVELS:
                raise ValueError(f"'{name}' is not a DfE geographic level; one of: "
                                 f"{', '.join(GEOGRAPHIC_LEVELS)}")
        return self._subset(self.data["geographic_level"].isin(geographic_levels))

    def periods(self) -> list[str]:
        """The distinct time periods, earliest first."""
        return sorted(self.data["time_period"].dropna().unique().tolist(), key=int)

    def period(self, time_period: str) -> "DfETable":
        """The rows of one time period."""
        return self._subset(self.data["time_period"] == str(time_period))

    def long(self, indicators: Iterable[str] | None = None) -> pd.DataFrame:
        """The table in long form: one row per file row and indicator.

        Columns: ``line`` (the row's line in the file), the time, geography and filter columns,
        then ``indicator``, ``value`` (float64, NaN unless a number) and ``status`` (as
        :meth:`status`). ``indicators`` picks some (default: all, in file order).
        """
        chosen = list(self.indicators if indicators is None else indicators)
        for name in chosen:
            self._indicator(name)
        keys = [c for c in self.data.columns if c not in self.indicators]
        base = self.data[keys].reset_index()
        parts = []
        for name in chosen:
            part = base.copy()
            part["indicator"] = pd.Series(name, index=part.index, dtype="string")
            part["value"] = self.data[name].to_numpy()
            part["status"] = self.status(name).to_numpy()
            parts.append(part)
        if not parts:
            return base.assign(indicator=pd.Series(dtype="string"),
                               value=pd.Series(dtype="float64"),
                               status=pd.Series(dtype="string")).iloc[0:0]
        return pd.concat(parts, ignore_index=True)

    def __repr__(self) -> str:
        return (f"DfETable({str(self.path)!r}, {len(self.data)} rows, "
                f"filters={list(self.filters)}, {len(self.indicators)} indicators)")

    def _subset(self, mask: pd.Series) -> "DfETable":
        mask = mask.fillna(False).astype(bool)
        return DfETable(self.path, self.data.loc[mask], self.symbols.loc[mask],
                        self.filters, self.indicators, self.labels)


# --------------------------------------------------------------------------------------------
# Reading text into records


def _decode(raw: bytes, label: str) -> str:
    """UTF-8 text without a byte-order mark, or a clear error."""
    if b"\x00" in raw[:4096]:
        raise DfEFormatError(label, "is a binary file (or UTF-16 text), not a UTF-8 CSV file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DfEFormatError(label, f"is not UTF-8 text (byte 0x{raw[err.start]:02x} at offset "
                                    f"{err.start}); save it as CSV UTF-8") from None
    if not text.strip():
        raise DfEFormatError(label, "is empty: a DfE open-data CSV file has a header and rows")
    if text.lstrip().startswith("<"):
        raise DfEFormatError(label, "looks like an HTML or XML page, not a CSV file")
    return text


def _records(text: str, label: str) -> tuple[list[list[str]], list[int]]:
    """CSV records with the line number each starts on; blank lines are left out."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[list[str]] = []
    lines: list[int] = []
    start = 1
    try:
        for record in reader:
            if record and any(cell.strip() for cell in record):
                records.append(record)
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as err:
        raise DfEFormatError(label, f"is not a readable CSV file ({err})", line=start) from None
    return records, lines


def _header(records: list[list[str]], lines: list[int], label: str) -> list[str]:
    """The header's column names, stripped; trailing unnamed empty columns are dropped."""
    if not records:
        raise DfEFormatError(label, "is empty: a DfE open-data CSV file has a header and rows")
    header = [name.strip() for name in records[0]]
    while header and header[-1] == "" and all(len(r) < len(header) or not r[len(header) - 1].strip()
                                               for r in records[1:]):
        header.pop()
        for r in records[1:]:
            if len(r) > len(header):
                del r[len(header)]
    return header


def _check_names(header: list[str], line: int, label: str) -> None:
    """Every column has a name, and no name is used twice."""
    for i, name in enumerate(header, start=1):
        if name == "":
            raise DfEFormatError(label, f"column {i} of the header has no name", line=line)
    seen: dict[str, int] = {}
    for i, name in enumerate(header, start=1):
        if name in seen:
            raise DfEFormatError(label, f"duplicate column name (columns {seen[name]} and {i})",
                                 line=line, column=name)
        seen[name] = i


def _check_ragged(header: list[str], records: list[list[str]], lines: list[int],
                  label: str) -> None:
    for record, line in zip(records, lines):
        if len(record) != len(header):
            raise DfEFormatError(label, f"row has {len(record)} fields but the header has "
                                        f"{len(header)}", line=line)


def _check_required(header: list[str], label: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DfEFormatError(label, "is not in the DfE open-data layout: missing column(s) "
                             + ", ".join(missing))


def _cells(header: list[str], records: list[list[str]]) -> dict[str, list[str | None]]:
    """Each column's cells, stripped of surrounding whitespace; blank (also ``""``) -> None."""
    columns = zip(*records) if records else [()] * len(header)
    return {name: [c.strip() or None for c in cells] for name, cells in zip(header, columns)}


# --------------------------------------------------------------------------------------------
# Checks of the standard columns


def _first(mask: pd.Series) -> int | None:
    """Line number of the first True in ``mask`` (None if none)."""
    mask = mask.fillna(True).astype(bool)
    return int(mask.index[mask.to_numpy().argmax()]) if mask.any() else None


def _cell(frame: pd.DataFrame, line: int, column: str) -> str:
    value = frame.at[line, column]
    return "" if pd.isna(value) else str(value)


def _fail(frame: pd.DataFrame, mask: pd.Series, column: str, label: str, problem: str) -> None:
    line = _first(mask)
    if line is not None:
        raise DfEFormatError(label, problem, line=line, column=column,
                             value=_cell(frame, line, column))


def _check_time(frame: pd.DataFrame, label: str) -> None:
    """time_identifier is a DfE value; time_period has the digits it needs (4, or 6 consecutive)."""
    tid, period = frame["time_identifier"], frame["time_period"]
    _fail(frame, tid.isna(), "time_identifier", label, "blank; every row needs a time_identifier")
    _fail(frame, ~tid.isin(FOUR_DIGIT_IDENTIFIERS + SIX_DIGIT_IDENTIFIERS), "time_identifier",
          label, "not a DfE time_identifier (e.g. 'Reporting year', 'Academic year', "
                 "'Financial year', 'Calendar year')")
    _fail(frame, period.isna(), "time_period", label, "blank; every row needs a time_period")
    four = tid.isin(FOUR_DIGIT_IDENTIFIERS).astype(bool)
    six_digits = period.str.fullmatch(r"\d{6}").fillna(False).astype(bool)
    first = pd.to_numeric(period.where(six_digits).str[:4])
    second = pd.to_numeric(period.where(six_digits).str[4:])
    consecutive = ((first + 1) % 100 == second).fillna(False).astype(bool)
    bad = pd.Series("", index=frame.index, dtype="string")
    bad = bad.mask(four & ~period.str.fullmatch(r"\d{4}").fillna(False).astype(bool),
                   "needs a 4-digit year such as 2024")
    bad = bad.mask(~four & ~consecutive, "needs two consecutive years as 6 digits such as 202324")
    line = _first(bad != "")
    if line is not None:
        raise DfEFormatError(label, f"time_identifier '{tid[line]}' {bad[line]}", line=line,
                             column="time_period", value=str(period[line]))


def _check_geography(frame: pd.DataFrame, header: list[str], label: str) -> None:
    level = frame["geographic_level"]
    _fail(frame, level.isna(), "geographic_level", label,
          "blank; every row needs a geographic_level")
    _fail(frame, ~level.isin(list(GEOGRAPHIC_LEVELS)), "geographic_level", label,
          "not a DfE geographic level; one of: " + ", ".join(GEOGRAPHIC_LEVELS))
    for column in ("country_code", "country_name"):
        _fail(frame, frame[column].isna(), column, label, f"blank; every row needs a {column}")
    for name in pd.unique(level):
        missing = [c for c in GEOGRAPHIC_LEVELS[name] if c not in header]
        if missing:
            line = _first(level == name)
            raise DfEFormatError(label, f"rows at this level need column(s) {', '.join(missing)}, "
                                 "which the file lacks", line=line, column="geographic_level",
                                 value=name)


# --------------------------------------------------------------------------------------------
# Indicators


_BLANK, _SYMBOL, _VALUE, _OTHER = 0, 1, 2, 3
_NUMBER_RE = re.compile(_NUMBER)
_THOUSANDS_RE = re.compile(_THOUSANDS)


def _kind(cell: str) -> tuple[int, float]:
    """What one non-blank cell holds: (_SYMBOL | _VALUE | _OTHER, its number or NaN)."""
    if cell in SYMBOLS:
        return _SYMBOL, np.nan
    if _NUMBER_RE.fullmatch(cell):
        return _VALUE, float(cell)
    if _THOUSANDS_RE.fullmatch(cell):
        return _VALUE, float(cell.replace(",", ""))
    return _OTHER, np.nan


def _classify(columns: list[list[str | None]]) -> tuple[np.ndarray, np.ndarray]:
    """Kinds (int8) and numbers (float64) of a block of columns, shape (columns, rows).

    Each distinct cell text is classified once (the block is factorised first), so a file of
    thousands of rows costs a few thousand regular-expression matches at most.
    """
    n_cols = len(columns)
    n_rows = len(columns[0]) if columns else 0
    flat = np.empty(n_cols * n_rows, dtype=object)
    for i, cells in enumerate(columns):
        flat[i * n_rows:(i + 1) * n_rows] = cells
    codes, uniques = pd.factorize(flat)
    kinds = np.empty(len(uniques) + 1, dtype=np.int8)
    numbers = np.full(len(uniques) + 1, np.nan)
    kinds[-1] = _BLANK  # code -1 (a blank cell) indexes the last entry
    for i, cell in enumerate(uniques):
        kinds[i], numbers[i] = _kind(cell)
    return (kinds[codes].reshape(n_cols, n_rows), numbers[codes].reshape(n_cols, n_rows))


def _bad_cell(kinds: np.ndarray, cells: list[str | None], lines: list[int], column: str,
              label: str) -> None:
    """Raise for the first cell of an indicator column that is neither a number nor a symbol."""
    bad = np.flatnonzero(kinds == _OTHER)
    if len(bad):
        i = int(bad[0])
        raise DfEFormatError(label, bad_cell_problem(str(cells[i])), line=lines[i], column=column,
                             value=str(cells[i]))


def bad_cell_problem(cell: str) -> str:
    """Why ``cell`` cannot stand in an indicator column, with the fix where one is plain."""
    problem = "not a number or a DfE symbol (" + ", ".join(SYMBOLS) + ")"
    if cell.endswith("%") and _NUMBER_RE.fullmatch(cell[:-1].strip()):
        return (problem + ": DfE open data write a percentage as a plain number (24.7, not 24.7%), "
                "the unit belongs in the metadata; remove the '%'")
    if cell.lower() in SYMBOLS and cell not in SYMBOLS:
        return problem + f": DfE symbols are lower case ('{cell.lower()}')"
    return problem


def meta_path(path: Path | str) -> Path:
    """Where the metadata file of a data file sits: ``<name>.meta.csv`` beside it."""
    path = Path(path)
    return path.with_name(f"{path.name[:-4] if path.name.lower().endswith('.csv') else path.name}"
                          ".meta.csv")


def read_meta(path: Path | str, columns: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Read an EES metadata file: ({column: 'Filter'|'Indicator'}, {column: label}).

    ``columns`` are the data file's columns; the metadata may not describe any other.
    """
    path = Path(path)
    label = str(path)
    text = _decode(path.read_bytes(), label)
    records, lines = _records(text, label)
    header = _header(records, lines, label)
    for needed in ("col_name", "col_type"):
        if needed not in header:
            raise DfEFormatError(label, f"is not an EES metadata file: missing column {needed}")
    _check_names(header, lines[0], label)
    _check_ragged(header, records[1:], lines[1:], label)
    name_i, type_i = header.index("col_name"), header.index("col_type")
    label_i = header.index("label") if "label" in header else None
    columns = set(columns)
    kinds: dict[str, str] = {}
    labels: dict[str, str] = {}
    for record, line in zip(records[1:], lines[1:]):
        name, kind = record[name_i].strip(), record[type_i].strip()
        if name not in columns:
            raise DfEFormatError(label, "names a column that the data file does not have",
                                 line=line, column="col_name", value=name)
        if name in kinds:
            raise DfEFormatError(label, "column described twice", line=line, column="col_name",
                                 value=name)
        if kind.lower() not in ("filter", "indicator"):
            raise DfEFormatError(label, "col_type must be Filter or Indicator", line=line,
                                 column="col_type", value=kind)
        if name in TIME_COLUMNS + GEOGRAPHY_COLUMNS and kind.lower() == "indicator":
            raise DfEFormatError(label, "a standard time or geography column cannot be an "
                                 "indicator", line=line, column="col_name", value=name)
        kinds[name] = kind.capitalize()
        if label_i is not None and record[label_i].strip():
            labels[name] = record[label_i].strip()
    return kinds, labels


# --------------------------------------------------------------------------------------------
# Public readers


def parse_dfe_csv(raw: bytes, label: str, *, path: Path | str | None = None,
                  indicators: Iterable[str] | None = None,
                  meta: Mapping[str, str] | None = None,
                  labels: Mapping[str, str] | None = None) -> DfETable:
    """Parse the bytes of a DfE open-data CSV file; errors name it as ``label``.

    ``indicators`` (the caller's list) wins over ``meta`` ({column: 'Filter'|'Indicator'});
    without either, a non-standard column is an indicator when every non-blank cell is a number
    or a symbol, and a filter otherwise.
    """
    text = _decode(raw, label)
    records, lines = _records(text, label)
    header = _header(records, lines, label)
    _check_required(header, label)
    _check_names(header, lines[0], label)
    records, lines = records[1:], lines[1:]
    _check_ragged(header, records, lines, label)
    if not records:
        raise DfEFormatError(label, "has a header but no data rows")
    cells = _cells(header, records)
    index = pd.Index(lines, name="line", dtype="int64")

    standard_set = set(TIME_COLUMNS + GEOGRAPHY_COLUMNS)
    standard = {c: pd.Series(cells[c], index=index, dtype="string")
                for c in header if c in standard_set}
    frame = pd.DataFrame(standard, index=index)
    _check_time(frame, label)
    _check_geography(frame, header, label)

    others = [c for c in header if c not in standard_set]
    if indicators is not None:
        stated = list(dict.fromkeys([indicators] if isinstance(indicators, str) else indicators))
        unknown = [c for c in stated if c not in header]
        if unknown:
            raise DfEFormatError(label, "stated indicator column(s) not in the file: "
                                 + ", ".join(unknown))
        clash = [c for c in stated if c in standard_set]
        if clash:
            raise DfEFormatError(label, "standard time/geography column(s) cannot be indicators: "
                                 + ", ".join(clash))
        chosen: set[str] | None = set(stated)
    elif meta is not None:
        chosen = {c for c, kind in meta.items() if kind == "Indicator"}
    else:
        chosen = None  # decided by content below
    kinds, numbers = _classify([cells[c] for c in others])
    inds: list[str] = []
    filters: list[str] = []
    for i, column in enumerate(others):
        is_indicator = (not (kinds[i] == _OTHER).any()) if chosen is None else column in chosen
        (inds if is_indicator else filters).append(column)

    columns: dict[str, pd.Series] = {}
    symbols: dict[str, pd.Series] = {}
    position = {c: i for i, c in enumerate(others)}
    for column in header:
        if column in standard:
            columns[column] = standard[column]
        elif column in filters:
            columns[column] = pd.Series(cells[column], index=index, dtype="string")
        else:
            i = position[column]
            _bad_cell(kinds[i], cells[column], lines, column, label)
            columns[column] = pd.Series(numbers[i], index=index, name=column)
            shown = np.where(kinds[i] == _SYMBOL, np.asarray(cells[column], dtype=object), np.array(None))
            symbols[column] = pd.Series(shown, index=index, dtype="string")
    data = pd.DataFrame(columns, index=index)
    symbol_frame = pd.DataFrame(symbols, index=index, columns=inds)
    return DfETable(Path(path) if path is not None else Path(label), data, symbol_frame,
                    tuple(filters), tuple(inds), dict(labels or {}))


def read_dfe_csv(path: Path | str, *, indicators: Iterable[str] | None = None) -> DfETable:
    """Read a DfE open-data CSV file (see the module docstring).

    A metadata file ``<name>.meta.csv`` beside it, where present, says which columns are
    indicators; ``indicators=`` overrides it. Raises :class:`DfEFormatError` for any departure
    from the layout, naming the file, line, column and value.
    """
    path = Path(path)
    label = str(path)
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise DfEFormatError(label, "is a folder, not a CSV file") from None
    except FileNotFoundError:
        raise DfEFormatError(label, "does not exist") from None
    meta = labels = None
    sidecar = meta_path(path)
    if sidecar.is_file():
        kinds, labels = read_meta(sidecar, _header_names(raw, label))
        meta = kinds if indicators is None else None
    return parse_dfe_csv(raw, label, path=path, indicators=indicators, meta=meta, labels=labels)


def read_header(path: Path | str) -> list[str]:
    """The column names of a DfE data file's header line (stripped), without reading its rows."""
    path = Path(path)
    with path.open("rb") as f:
        first = f.readline(1 << 20)
    return _header_names(first, str(path))


def _header_names(raw: bytes, label: str) -> list[str]:
    """The column names of a data file's header line (to check its metadata against)."""
    records = _records(_decode(raw, label).split("\n", 1)[0], label)[0]
    return [c.strip() for c in records[0]] if records else []


# --------------------------------------------------------------------------------------------
# Statistical neighbours

_SN_FIXED = ("LA num", "LA Name", "LA number", "GOInd", "GOReg")
_SN_COUNT = 10


def _sn_header_ok(header: list[str]) -> bool:
    expected = list(_SN_FIXED)
    for n in range(1, _SN_COUNT + 1):
        expected += [f"SN{n}", "SNP"]
    return header[:len(expected)] == expected and all(h == "" for h in header[len(expected):])


def read_statistical_neighbours(path: Path | str) -> pd.DataFrame:
    """Read DfE's statistical neighbour groupings (``New_Statistical_Neighbour_Groupings_*.csv``).

    Returns one row per local authority: ``old_la_code`` (the 3-digit LA number, text),
    ``la_name``, ``region``, ``neighbours`` (tuple of the 10 neighbours' LA numbers, closest
    first), ``closeness`` (tuple of their 10 labels, e.g. 'Very Close') and ``superseded`` (True
    for the authorities listed under the file's "Old SNs:" heading, which no longer exist).
    """
    path = Path(path)
    label = str(path)
    records, lines = _records(_decode(path.read_bytes(), label), label)
    header = [h.strip() for h in records[0]]
    if not _sn_header_ok(header):
        raise DfEFormatError(label, "is not a statistical neighbour file: the header must be "
                             + ", ".join(_SN_FIXED) + ", then SN1, SNP ... SN10, SNP",
                             line=lines[0])
    width = len(_SN_FIXED) + 2 * _SN_COUNT
    rows = []
    superseded = False
    for record, line in zip(records[1:], lines[1:]):
        cells = [c.strip() for c in record] + [""] * max(0, width - len(record))
        if len(record) > len(header) or any(cells[width:]):
            raise DfEFormatError(label, f"row has {len(record)} fields but the header has "
                                        f"{len(header)}", line=line)
        if not cells[0] and not cells[2]:
            texts = [c for c in cells if c]
            if len(texts) == 1 and texts[0].endswith(":"):  # a section heading, e.g. "Old SNs:"
                superseded = "old" in texts[0].lower()
                continue
            raise DfEFormatError(label, "no LA number", line=line, column="LA num", value="")
        code = cells[0]
        for column, value in (("LA num", code), ("LA number", cells[2])):
            if not re.fullmatch(r"\d{3}", value):
                raise DfEFormatError(label, "not a 3-digit LA number", line=line, column=column,
                                     value=value)
        if cells[2] != code:
            raise DfEFormatError(label, f"differs from 'LA num' ({code})", line=line,
                                 column="LA number", value=cells[2])
        if not cells[1]:
            raise DfEFormatError(label, "blank; every authority needs a name", line=line,
                                 column="LA Name", value="")
        neighbours, closeness = [], []
        for n in range(_SN_COUNT):
            sn, snp = cells[5 + 2 * n], cells[6 + 2 * n]
            if not re.fullmatch(r"\d{3}", sn):
                raise DfEFormatError(label, "not a 3-digit LA number", line=line,
                                     column=f"SN{n + 1}", value=sn)
            if sn == code:
                raise DfEFormatError(label, "an authority cannot be its own neighbour",
                                     line=line, column=f"SN{n + 1}", value=sn)
            if not snp:
                raise DfEFormatError(label, f"blank closeness label for SN{n + 1}", line=line,
                                     column="SNP", value="")
            neighbours.append(sn)
            closeness.append(snp)
        if len(set(neighbours)) != _SN_COUNT:
            raise DfEFormatError(label, "the same neighbour is listed twice", line=line)
        rows.append((line, code, cells[1], cells[4], tuple(neighbours), tuple(closeness),
                     superseded))
    if not rows:
        raise DfEFormatError(label, "has a header but no authorities")
    out = pd.DataFrame(rows, columns=["line", "old_la_code", "la_name", "region", "neighbours",
                                      "closeness", "superseded"]).set_index("line")
    for column in ("old_la_code", "la_name", "region"):
        out[column] = out[column].astype("string")
    duplicated = out["old_la_code"].duplicated()
    if duplicated.any():
        line = int(out.index[duplicated.to_numpy().argmax()])
        raise DfEFormatError(label, "authority listed twice", line=line, column="LA num",
                             value=str(out.at[line, "old_la_code"]))
    known = set(out["old_la_code"])
    for line, neighbours in out["neighbours"].items():
        for n, sn in enumerate(neighbours, start=1):
            if sn not in known:
                raise DfEFormatError(label, "neighbour is not an authority of this file",
                                     line=int(line), column=f"SN{n}", value=sn)
    return out


# --------------------------------------------------------------------------------------------
# Downloads

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _download(url: str, timeout: float) -> bytes:
    """The body of ``url``, or :class:`DfEFetchError` naming the URL and what went wrong."""
    if not url.lower().startswith(("http://", "https://")):
        raise DfEFetchError(f"{url}: only http and https URLs can be fetched")
    request = urllib.request.Request(url, headers={"User-Agent": "cinreport (DfE open data)"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as err:
        raise DfEFetchError(f"{url}: the server answered HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        raise DfEFetchError(f"{url}: could not connect ({err.reason})") from None
    except (TimeoutError, OSError) as err:
        raise DfEFetchError(f"{url}: download failed ({err or type(err).__name__})") from None


def fetch_files(sources: dict[str, str], dest: Path | str, timeout: float = 30) -> list[Path]:
    """Download each ``{name: url}`` to ``dest/name``; return the paths written.

    Every file is downloaded and checked to parse with :func:`parse_dfe_csv` before any is
    written, and each is written atomically (temporary file, then ``os.replace``): when any
    download fails or is not a DfE open-data file, nothing in ``dest`` changes. Raises
    :class:`DfEFetchError` (network or server failure) or :class:`DfEFormatError` (a body not in
    the layout), naming the URL.
    """
    dest = Path(dest)
    for name in sources:
        if not _NAME.fullmatch(name) or name in (".", ".."):
            raise ValueError(f"'{name}' is not a plain file name (letters, digits, . _ -)")
    bodies = {}
    for name, url in sources.items():
        body = _download(url, timeout)
        parse_dfe_csv(body, url)
        bodies[name] = body
    written = []
    dest.mkdir(parents=True, exist_ok=True)
    for name, body in bodies.items():
        written.append(write_bytes(dest / name, body))
    return written


__all__ = [
    "SYMBOLS", "TIME_COLUMNS", "GEOGRAPHY_COLUMNS", "REQUIRED_COLUMNS", "GEOGRAPHIC_LEVELS",
    "FOUR_DIGIT_IDENTIFIERS", "SIX_DIGIT_IDENTIFIERS", "DfEFormatError", "DfEFetchError",
    "DfETable", "read_dfe_csv", "parse_dfe_csv", "read_meta", "meta_path", "read_header", "bad_cell_problem",
    "read_statistical_neighbours", "fetch_files",
]
