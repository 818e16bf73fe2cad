"""Validate coded data against the codebook, before anything in ``build/`` is touched.

Every problem is collected (not only the first), each naming file, row (the line number in the
file, header = line 1), column, value and the rule broken. Per-column rules run through pandera
schemas generated from the codebook; rules that span columns or files (every support row's case
exists, dates in order and inside the period) are checked here after them.

What real exports contain is accepted: UTF-8 with or without a byte-order mark, CRLF line ends,
blank lines (also lines of only commas), whitespace around values and header names, upper- or
lower-case codes, a trailing comma on every line. Dates are ISO 8601, or dd/mm/yyyy only where the
codebook says ``dmy: true``; anything else (including mm/dd/yyyy) is rejected rather than guessed.

One defect gives one problem: a file that cannot be read (empty, Latin-1 or UTF-16, separated by
';', without its header row), a misspelled, missing or repeated header column, a header that does
not match any row, and a row with the wrong number of fields (or an unclosed quote) are each
reported once, and the rules that would otherwise fail because of them (every value of a missing
column, every reference to a file that could not be read or lost rows, a rule across columns that
reads an invalid cell) are skipped. ``tests/broken/cases.yml`` holds the exact message of each.

Output is bounded: of each kind of problem (one rule on one column) in one file, the first
``limit`` (default :data:`DEFAULT_LIMIT`, by row) are reported in full and the rest only counted
(:class:`Problems`), so a 200 MB file with millions of bad cells gives a screenful and a count per
rule, not millions of lines. Rules run vectorised, one mask of failing rows per check, so no
failure-case frame or message is built for a cell past the limit.

Memory is bounded too: a CSV is read as a stream (:func:`open_csv`: its encoding and its rows' widths
in a first pass that keeps nothing, then the rows :data:`CHUNK_ROWS` at a time), and each chunk is
checked and typed, then dropped. What the rules across rows and files need is kept compactly: the
values of each unique column with the line each first appears on, and each case's plan start date
(:class:`KeyIndex`, :class:`CaseKeys`; ``case_files.csv`` is read first). ``themes.csv`` and
``sources.csv``, whose rules compare all their rows, are read whole. The rows themselves are kept
only for data that are valid (the tables are then returned, the same as a whole read gives).
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Protocol

import numpy as np
import pandas as pd
import pandera.pandas as pa

from cinreport.data.codebook import Codebook, Column, FileSpec, load_codebook
from cinreport.data.config import Authority
from cinreport.data.rawfiles import (
    ALL_ROWS,
    CHUNK_ROWS,
    DEFAULT_LIMIT,
    ID_PATTERN,
    INT_PATTERN,
    LINE,
    UNIQUE,
    UNIQUE_RULE,
    CsvFile,
    Problem,
    Problems,
    RawFile,
    ValidationError,
    canonical_codes,
    open_csv,
    parse_date,
    read_file,
)
from cinreport.data.sources import data_source

if TYPE_CHECKING:  # workbooks (openpyxl, lxml) are imported only when a workbook is read
    from cinreport.data.workbooks import SheetFile


def map_distinct(s: pd.Series, f: Callable) -> pd.Series:
    """``s.map(f)``, calling ``f`` once per distinct value (a column of a million dates holds a few
    thousand distinct ones)."""
    codes, distinct = pd.factorize(s, use_na_sentinel=False)
    results = np.empty(len(distinct), dtype=object)
    results[:] = [f(v) for v in distinct]
    return pd.Series(results[codes], index=s.index, name=s.name).infer_objects()


def _date_rule(dmy: bool) -> str:
    if dmy:
        return ("not a real date in the form YYYY-MM-DD or DD/MM/YYYY (day first; month-first dates "
                "are not accepted)")
    return "not a real date in the form YYYY-MM-DD"


def _column_checks(col: Column, codebook: Codebook) -> list[pa.Check]:
    present = lambda s: s != ""  # noqa: E731 - rules below apply to filled cells only
    checks: list[pa.Check] = []
    if col.required:
        checks.append(pa.Check(lambda s: s != "", error="a value is required"))
    if col.type == "id":
        limit = col.max_length or 40
        checks.append(pa.Check(lambda s: ~present(s) | s.str.fullmatch(ID_PATTERN.pattern),
                               error="identifier may hold only letters, digits, '-' and '_'"))
        checks.append(pa.Check(lambda s: s.str.len() <= limit, error=f"identifier longer than {limit} characters"))
    elif col.type == "integer":
        checks.append(pa.Check(lambda s: ~present(s) | s.str.fullmatch(INT_PATTERN.pattern),
                               error="must be a whole number"))
        lo = -float("inf") if col.min is None else col.min
        hi = float("inf") if col.max is None else col.max

        def codebook_range(s: pd.Series, lo=lo, hi=hi) -> pd.Series:
            nums = pd.to_numeric(s.where(s.str.fullmatch(INT_PATTERN.pattern)), errors="coerce")
            return nums.isna() | ((nums >= lo) & (nums <= hi))

        if col.min is not None and col.max is not None:
            rng = f"must be between {col.min:g} and {col.max:g}"
        elif col.min is not None:
            rng = f"must be at least {col.min:g}"
        else:
            rng = f"must be at most {col.max:g}"
        if col.min is not None or col.max is not None:
            checks.append(pa.Check(codebook_range, error=rng))
    elif col.type in ("code", "code_list"):
        allowed = canonical_codes(codebook, col.code_list)
        shown = ", ".join(codebook.codes(col.code_list).labels)
        if col.type == "code":
            checks.append(pa.Check(lambda s: ~present(s) | s.str.upper().isin(list(allowed)),
                                   error=f"not a code in list '{col.codes}' (allowed: {shown})"))
        else:
            def codebook_code_list(s: pd.Series) -> pd.Series:
                return map_distinct(s, lambda v: all(p.strip().upper() in allowed for p in v.split(";") if p.strip())
                             if v else True)

            checks.append(pa.Check(codebook_code_list, error=f"holds a code not in list '{col.codes}' "
                                                    f"(separate codes with ';'; allowed: {shown})"))
    elif col.type == "date":
        checks.append(pa.Check(lambda s, dmy=col.dmy: map_distinct(s, lambda v: v == "" or parse_date(v, dmy) is not None),
                               error=_date_rule(col.dmy)))
    if col.unique:   # (column_failures checks it with a KeyIndex, across the chunks a file is read in)
        checks.append(pa.Check(lambda s: ~s.duplicated(keep="first") | (s == ""), name=UNIQUE, error=UNIQUE_RULE))
    return checks


def schema_for(spec: FileSpec, codebook: Codebook, columns: set[str] | None = None) -> pa.DataFrameSchema:
    """A pandera schema of string columns generated from the codebook entry for one file.

    ``columns`` limits it to those columns (a column missing from the header is reported once by
    :func:`read_file`, not once per row).
    """
    return pa.DataFrameSchema(
        {c.name: pa.Column(str, checks=_column_checks(c, codebook), nullable=False)
         for c in spec.columns if columns is None or c.name in columns},
        strict=False, name=spec.filename)


def _explain(col: Column, value: str, rule: str, codebook: Codebook, first: int = 0) -> str:
    """Make a failure more specific where the generic rule would leave the user searching (``first``:
    for a duplicate, the line the value is first used on)."""
    if col.type == "code_list" and rule.startswith("holds a code"):
        allowed = canonical_codes(codebook, col.code_list)
        bad = [p.strip() for p in value.split(";") if p.strip() and p.strip().upper() not in allowed]
        shown = ", ".join(codebook.codes(col.code_list).labels)
        which = ", ".join(f"'{b}'" for b in bad)
        noun = "code" if len(bad) == 1 else "codes"
        return f"{noun} {which} not in list '{col.codes}' (separate codes with ';'; allowed: {shown})"
    if rule == UNIQUE_RULE:
        return f"duplicate: this value is already used on row {first} and must be unique in the file"
    return rule


class Cells(Protocol):
    """Cells that already failed a rule: ``(line, column) in cells`` (a set, :class:`BadCells`, :class:`AnyOf`)."""

    def __contains__(self, cell: tuple[int, str], /) -> bool: ...


class BadCells:
    """Cells of one file that already failed a rule: a mask of rows per column, and whole columns
    (missing from the header, or keys lost to an unclosed quote). ``(line, column) in bad`` works too."""

    def __init__(self, lines: np.ndarray, masks: dict[str, np.ndarray] | None = None,
                 columns: Iterable[str] = ()):
        self.lines = np.asarray(lines)
        self.masks = dict(masks or {})
        self.columns = set(columns)

    def rows(self, column: str) -> np.ndarray:
        """A boolean per row of the file's frame: is this column's cell unusable?"""
        if column in self.columns:
            return np.ones(len(self.lines), dtype=bool)
        return self.masks.get(column, np.zeros(len(self.lines), dtype=bool))

    def __contains__(self, cell: tuple[int, str]) -> bool:
        line, column = cell
        if line == ALL_ROWS or column in self.columns:
            return column in self.columns
        mask = self.masks.get(column)
        if mask is None:
            return False
        at = int(np.searchsorted(self.lines, line))   # lines increase down the file
        return at < len(self.lines) and self.lines[at] == line and bool(mask[at])


class AnyOf:
    """Cells in any of several collections of (line, column) cells (:class:`BadCells` or sets)."""

    def __init__(self, *parts: Cells):
        self.parts = parts

    def __contains__(self, cell: tuple[int, str]) -> bool:
        return any(cell in part for part in self.parts)


class KeyIndex:
    """The distinct non-blank values of one column read so far, each with the line it first appears on
    and, if asked for, a value taken from the last row holding it (a case's plan start date).

    The rules across rows and files (unique ids, a service's case_id in case_files.csv) need these
    and nothing else of a file read in chunks. Values are kept as sorted UTF-8 bytes in a NumPy array
    (a few bytes more than the value each, where a Python string in a set takes about 100), so two
    million ids take tens of megabytes. Values longer than :attr:`WIDE` bytes, or holding a NUL (a
    bytes array cannot keep a trailing NUL), are kept in a dict instead: no value is ever truncated or
    confused with another.
    """

    WIDE = 64

    def __init__(self, payload: str | None = None):
        self.keys = np.empty(0, dtype="S1")
        self.first = np.empty(0, dtype=np.int64)
        self.dtype = payload
        self.payload = np.empty(0, dtype=payload) if payload else None
        self.missing = np.array("NaT" if payload and np.dtype(payload).kind == "M" else np.nan, dtype=payload)
        self.other: dict[str, int] = {}
        self.other_payload: dict[str, object] = {}

    def __len__(self) -> int:
        return len(self.keys) + len(self.other)

    def _split(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions of the values kept as bytes, those bytes, and positions of the values kept in the dict."""
        encoded = [v.encode("utf-8") if isinstance(v, str) else b"" for v in values]
        short = np.fromiter((0 < len(b) <= self.WIDE and b"\0" not in b for b in encoded), dtype=bool,
                            count=len(encoded))
        long = np.fromiter((len(b) > self.WIDE or b"\0" in b for b in encoded), dtype=bool, count=len(encoded))
        at = np.flatnonzero(short)
        width = max((len(encoded[i]) for i in at), default=1)
        return at, np.array([encoded[i] for i in at], dtype=f"S{width}"), np.flatnonzero(long)

    def _find(self, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where each of ``chunk`` (bytes) is or would go in :attr:`keys`, and whether it is there."""
        if chunk.dtype.itemsize > self.keys.dtype.itemsize:
            self.keys = self.keys.astype(chunk.dtype)
        chunk = chunk.astype(self.keys.dtype)
        pos = np.searchsorted(self.keys, chunk)
        found = pos < len(self.keys)
        found[found] = self.keys[pos[found]] == chunk[found]
        return pos, found

    def add(self, values: Iterable, lines: np.ndarray) -> np.ndarray:
        """Add a chunk's values (in file order, with their lines); return, for each, the line it first
        appears on: its own line if it is new, an earlier one for a repeat, 0 for a blank."""
        values = np.asarray(values, dtype=object)
        lines = np.asarray(lines, dtype=np.int64)
        out = np.zeros(len(values), dtype=np.int64)
        at, chunk, long = self._split(values)
        if len(at):
            distinct, first_at, inverse = np.unique(chunk, return_index=True, return_inverse=True)
            first = lines[at][first_at]
            pos, found = self._find(distinct)
            first = np.where(found, self.first[np.minimum(pos, len(self.first) - 1)] if len(self.first) else 0,
                             first)
            out[at] = first[inverse.reshape(-1)]
            new = ~found
            self.keys = np.insert(self.keys, pos[new], distinct[new].astype(self.keys.dtype))
            self.first = np.insert(self.first, pos[new], first[new])
            if self.payload is not None:
                self.payload = np.insert(self.payload, pos[new], self.missing)
        for i in long:
            out[i] = self.other.setdefault(values[i], int(lines[i]))
        return out

    def set_payload(self, values: Iterable, payload: np.ndarray) -> None:
        """Give each value (already added) the payload of the last row holding it."""
        values = np.asarray(values, dtype=object)
        payload = np.asarray(payload, dtype=self.dtype)
        at, chunk, long = self._split(values)
        if len(at):
            distinct, last_at = np.unique(chunk[::-1], return_index=True)
            pos, found = self._find(distinct)
            if not found.all() or self.payload is None:   # a bug in the caller, never a silent pass
                raise RuntimeError("KeyIndex.set_payload is given values that were not added, or the index "
                                   "keeps no payloads")
            self.payload[pos] = payload[at][::-1][last_at]
        for i in long:
            self.other_payload[values[i]] = payload[i]

    def lookup(self, values: Iterable) -> tuple[np.ndarray, np.ndarray | None]:
        """For each value: whether it was added, and its payload (missing where it was not)."""
        values = np.asarray(values, dtype=object)
        found = np.zeros(len(values), dtype=bool)
        payload = np.full(len(values), self.missing) if self.dtype else None
        at, chunk, long = self._split(values)
        if len(at) and len(self.keys):
            pos, hit = self._find(chunk)
            found[at] = hit
            if payload is not None and self.payload is not None:
                payload[at[hit]] = self.payload[pos[hit]]
        for i in long:
            if values[i] in self.other:
                found[i] = True
                if payload is not None:
                    payload[i] = self.other_payload.get(values[i], self.missing)
        return found, payload


@dataclass
class CaseKeys:
    """What the rules across files need of ``case_files.csv``: its case ids (those on rows skipped for
    their width too) and each case's plan start date; ``ids`` is None when the ids cannot be trusted
    (the file could not be read, has no case_id column, or lost rows to an unclosed quote)."""

    ids: KeyIndex | None
    skipped: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, table: pd.DataFrame, skipped: Iterable[str] = (), usable: bool = True) -> "CaseKeys":
        """From a whole typed case_files table."""
        if not usable:
            return cls(None)
        ids = KeyIndex("datetime64[s]")
        ids.add(table["case_id"].to_numpy(dtype=object, na_value=""), table[LINE].to_numpy())
        ids.set_payload(table["case_id"].to_numpy(dtype=object, na_value=""),
                        table["plan_start_date"].to_numpy(dtype="datetime64[s]"))
        return cls(ids, set(skipped))

    @property
    def known(self) -> bool:
        """Can references to cases be checked (the ids are trusted and there is at least one)?"""
        return self.ids is not None and bool(len(self.ids) or self.skipped)

    def isin(self, ids: pd.Series) -> pd.Series:
        assert self.ids is not None, "references checked against case ids that cannot be trusted"
        found, _ = self.ids.lookup(ids.to_numpy(dtype=object, na_value=""))
        if self.skipped:
            found |= ids.isin(self.skipped).fillna(False).to_numpy(dtype=bool)
        return pd.Series(found, index=ids.index)

    def plan_start(self, ids: pd.Series) -> pd.Series:
        """The plan start date of each case named (of its last row), NaT where there is none."""
        assert self.ids is not None, "plan starts read from case ids that cannot be trusted"
        _, starts = self.ids.lookup(ids.to_numpy(dtype=object, na_value=""))
        return pd.Series(starts, index=ids.index)


def column_failures(frame: pd.DataFrame, path: Path, spec: FileSpec, codebook: Codebook,
                    columns: set[str] | None = None, log: Problems | None = None,
                    keys: dict[str, KeyIndex] | None = None) -> dict[str, np.ndarray]:
    """Run the generated schema on ``frame`` and add its problems to ``log``; return, per column, the
    mask of rows that failed any check.

    pandera checks the columns' presence and types on the whole frame; each column check then runs
    once, vectorised, giving a mask of failing rows, of which only the first rows the limit leaves
    room for become :class:`Problem` s (the rest are counted), so memory and time do not grow with
    the number of problems.

    ``frame`` may be one chunk of a file's rows, given in order: ``keys`` holds, per unique column (and
    any other column asked for), the :class:`KeyIndex` of the values of the chunks before, so a value
    repeated from an earlier chunk is a duplicate too; columns not in it get a new one (added to it).
    """
    keys = keys if keys is not None else {}
    log = log if log is not None else Problems(limit=None)
    schema = schema_for(spec, codebook, columns)
    for name in schema.columns:  # every column there, as strings without nulls (read_file makes every
        series = frame.get(name)   # cell a string: anything else is a bug, never a silent pass)
        if series is None or series.isna().any() or not pd.api.types.is_string_dtype(series):
            raise RuntimeError(f"{path}: the frame read from the file is not all strings (column {name!r})")
    failed: dict[str, np.ndarray] = {}
    lines = frame[LINE].to_numpy()
    for name, column in schema.columns.items():
        series = frame[name]
        col = spec.column(name)
        any_failed = np.zeros(len(frame), dtype=bool)
        first = None
        if name in keys or col.unique:
            first = keys.setdefault(name, KeyIndex()).add(series.to_numpy(dtype=object), lines)
        for check in column.checks:
            if check.name == UNIQUE:
                bad = (first != lines) & (first != 0)   # a value first used on an earlier line
            else:
                try:
                    ok = check(series).check_output
                except Exception as exc:  # the check itself failed: a bug, never a silent pass
                    raise RuntimeError(f"{path}: check '{check.error}' on column '{name}' could not run: "
                                       f"{exc}") from exc
                bad = ~ok.fillna(False).astype(bool).to_numpy()
            any_failed |= bad
            rule = str(check.error)
            key = (str(path), name, rule)
            at = np.flatnonzero(bad)
            room = min(log.room(key), len(at))
            for i in at[:room]:
                value = str(series.iat[i])
                log.add(Problem(str(path), int(lines[i]), name, value,
                                _explain(col, value, rule, codebook, 0 if first is None else int(first[i])),
                                kind=rule))
            log.count_more(key, len(at) - room)
        failed[name] = any_failed
    return failed


def check_columns(frame: pd.DataFrame, path: Path, spec: FileSpec, codebook: Codebook,
                  columns: set[str] | None = None, limit: int | None = None) -> list[Problem]:
    """Every per-column problem of ``frame`` (at most ``limit`` of each rule; see :func:`column_failures`)."""
    log = Problems(limit=limit)
    column_failures(frame, path, spec, codebook, columns, log)
    return log


# --- typing --------------------------------------------------------------------------------

def to_typed(frame: pd.DataFrame, spec: FileSpec, codebook: Codebook) -> pd.DataFrame:
    """Convert a checked string frame to typed columns with canonical codes."""
    out = pd.DataFrame(index=frame.index)
    for col in spec.columns:
        s = frame[col.name]
        if col.type == "integer":
            out[col.name] = pd.to_numeric(s.where(s.str.fullmatch(INT_PATTERN.pattern)),
                                          errors="coerce").astype("Int64")
        elif col.type == "date":
            out[col.name] = pd.to_datetime(map_distinct(s, lambda v, dmy=col.dmy: parse_date(v, dmy) if v else None))
        elif col.type == "code":
            canon = canonical_codes(codebook, col.code_list)
            out[col.name] = map_distinct(s, lambda v, canon=canon: canon.get(v.upper(), v) if v else pd.NA
                                         ).astype("string")
        elif col.type == "code_list":
            canon = canonical_codes(codebook, col.code_list)
            out[col.name] = map_distinct(s, lambda v, canon=canon: ";".join(canon.get(p.strip().upper(), p.strip())
                                                                  for p in v.split(";") if p.strip())).astype("string")
        else:
            out[col.name] = s.replace("", pd.NA).astype("string")
    out[LINE] = frame[LINE]
    return out


# --- rules across columns and files -------------------------------------------------------------

def check_cross(tables: dict[str, pd.DataFrame], paths: dict[str, Path], authority: Authority | None,
                bad: dict[str, BadCells] | None = None,
                skipped_keys: dict[str, set[str]] | None = None,
                raw: dict[str, pd.DataFrame] | None = None, log: Problems | None = None,
                case_keys: CaseKeys | None = None) -> list[Problem]:
    """Rules that need more than one column or file (applied to typed tables).

    ``bad`` holds, per file, the cells that already failed a per-column rule (:class:`BadCells`,
    whole columns for a column missing from the header): a rule reading such a cell is skipped, so
    one defect is reported once. A file absent from ``tables`` could not be read; rules referring to
    it are skipped. ``skipped_keys`` are key values on rows dropped for their width (still known to
    exist). ``raw`` holds the cells as written, so problems quote the value the user typed. Problems
    go to ``log`` (at most its limit of each rule per file in full, the rest counted), which is returned.

    ``tables`` may hold a chunk of rows of a file rather than all of it, since every rule on
    ``case_files``, ``support`` and ``admin`` reads one row, and the case ids of ``case_files``:
    those come from ``case_keys`` (:class:`CaseKeys`; default: from ``tables['case_files']``, whole).
    The rules on ``themes`` and ``sources`` compare rows, so those two are always given whole.
    """
    bad = bad or {}
    skipped_keys = skipped_keys or {}
    problems = log if log is not None else Problems(limit=None)
    start = pd.Timestamp(authority.period_start) if authority else None
    end = pd.Timestamp(authority.period_end) if authority else None
    period = (f"the authority's period {authority.period_start} to {authority.period_end} "
              f"(set in {authority.params_file})") if authority else ""

    def val(name: str, idx, column: str) -> str:
        if raw is not None and name in raw:
            return str(raw[name].at[idx, column])
        value = tables[name].at[idx, column]
        if pd.isna(value):
            return ""
        return value.date().isoformat() if isinstance(value, pd.Timestamp) else str(value)

    def cells(name: str) -> BadCells:
        return bad.get(name) or BadCells(tables[name][LINE].to_numpy())

    def usable(name: str, column: str) -> bool:
        return name in tables and (ALL_ROWS, column) not in cells(name)

    def add(name: str, mask: pd.Series, column: str, rule: str | Callable, uses: tuple[str, ...] = (),
            kind: str | None = None) -> None:
        """Problems where ``mask`` holds and no cell the rule reads failed before: the first ones the
        limit leaves room for in full (``rule`` may be a function of the row for its text), the rest
        counted under ``kind`` (the rule without the row's details)."""
        frame = tables[name]
        skip = cells(name)
        hit = mask.fillna(False).astype(bool).to_numpy().copy()
        for c in (column, *uses):
            hit &= ~skip.rows(c)
        at = np.flatnonzero(hit)
        if not len(at):
            return
        file = str(paths[name])
        kind = kind or (rule if isinstance(rule, str) else "")
        if not kind:
            raise ValueError(f"a rule on {column} given as a function needs its kind")
        key = (file, column, kind)
        room = min(problems.room(key), len(at))
        for idx in frame.index[at[:room]]:
            text = rule(idx) if callable(rule) else rule
            problems.add(Problem(file, int(frame.at[idx, LINE]), column, val(name, idx, column), text, kind=kind))
        problems.count_more(key, len(at) - room)

    for name in ("case_files", "admin"):
        if name not in tables:
            continue
        t = tables[name]
        add(name, t["plan_end_date"] < t["plan_start_date"], "plan_end_date",
            lambda i, n=name: f"plan end date is before the plan start date ({val(n, i, 'plan_start_date')})",
            uses=("plan_start_date",), kind="plan end date is before the plan start date")
        if authority:
            add(name, (t["plan_start_date"] < start) | (t["plan_start_date"] > end), "plan_start_date",
                f"plan start date is outside {period}")
            add(name, t["plan_end_date"] > end, "plan_end_date", f"plan end date is after the end of {period}")

    problems += check_census_lists(tables, paths, bad, raw)

    cases = tables.get("case_files")
    case_file = paths["case_files"].name if "case_files" in paths else "case_files.csv"
    if cases is not None:
        add("case_files", cases["plan_end_date"].isna() & (cases["plan_outcome"] != "open"), "plan_outcome",
            "the plan has no end date, so its outcome must be 'open' (or give the end date)",
            uses=("plan_end_date",))
        add("case_files", cases["plan_end_date"].notna() & (cases["plan_outcome"] == "open"), "plan_outcome",
            lambda i: f"the plan has an end date ({val('case_files', i, 'plan_end_date')}), so its outcome "
                      "cannot be 'open'", uses=("plan_end_date",), kind="the plan has an end date, so its outcome "
                                                                          "cannot be 'open'")
    # References are checked only against a case_files.csv whose ids can be trusted: one that was
    # read, has its case_id column, lost no rows to an unclosed quote and is not empty.
    if case_keys is None:
        case_keys = (CaseKeys.of(tables["case_files"], skipped_keys.get("case_files", set()),
                                 usable("case_files", "case_id")) if "case_files" in tables else CaseKeys(None))
    known_cases = case_keys if case_keys.known else None

    support = tables.get("support")
    if support is not None:
        if known_cases is not None:
            add("support", support["case_id"].notna() & ~known_cases.isin(support["case_id"]), "case_id",
                f"no case with this case_id in {case_file} (every service must belong to a reviewed case)")
        add("support", support["start_date"] < support["referral_date"], "start_date",
            lambda i: f"service start date is before its referral date ({val('support', i, 'referral_date')})",
            uses=("referral_date",), kind="service start date is before its referral date")
        add("support", support["start_date"].notna() & support["status"].isin(["waiting", "not_available"]),
            "start_date", lambda i: f"the status is '{support.at[i, 'status']}', so the service cannot have a "
                                    "start date (clear the date or correct the status)", uses=("status",),
            kind="the status says the service has not started, so it cannot have a start date")
        add("support", support["start_date"].isna() & support["status"].isin(["completed", "ongoing"]),
            "status", lambda i: f"a service that is '{support.at[i, 'status']}' needs a start date "
                                "(start_date is blank)", uses=("start_date",),
            kind="a service that is completed or ongoing needs a start date")
        if authority:
            add("support", support["referral_date"] > end, "referral_date",
                f"referral date is after the end of {period}")
            add("support", support["start_date"] > end, "start_date",
                f"service start date is after the end of {period}")
        if case_keys.ids is not None:
            plan_start = case_keys.plan_start(support["case_id"])
            add("support", support["referral_date"] < plan_start - pd.Timedelta(days=365), "referral_date",
                lambda i: f"referral date is more than a year before the case's plan started "
                          f"({plan_start[i].date().isoformat()})", uses=("case_id",),
                kind="referral date is more than a year before the case's plan started")

    themes = tables.get("themes")
    if themes is not None:
        discussions = themes["source_type"] == "case_discussion"
        if known_cases is not None:
            add("themes", discussions & ~known_cases.isin(themes["source_id"]), "source_id",
                f"a case discussion must name a case_id that exists in {case_file}", uses=("source_type",))
        typed = themes[themes["source_type"].notna() & themes["source_id"].notna()
                       & ~cells("themes").rows("source_type")]
        first = typed.drop_duplicates("source_id").set_index("source_id")
        first_type = themes["source_id"].map(first["source_type"])
        first_line = themes["source_id"].map(first[LINE])
        add("themes", themes["source_type"].notna() & (themes["source_type"] != first_type), "source_type",
            lambda i: f"source '{themes.at[i, 'source_id']}' is a '{first_type[i]}' on row {first_line[i]}: "
                      "one source_id must keep one source type", uses=("source_id",),
            kind="one source_id must keep one source type")
        pairs = themes[themes["source_id"].notna() & themes["theme"].notna()]
        dup = pairs.duplicated(["source_id", "theme"], keep="first")
        first_pair = pairs.drop_duplicates(["source_id", "theme"]).set_index(["source_id", "theme"])[LINE]
        add("themes", dup.reindex(themes.index, fill_value=False), "theme",
            lambda i: f"this source_id and theme are already coded on row "
                      f"{first_pair[(themes.at[i, 'source_id'], themes.at[i, 'theme'])]}: "
                      "give each theme once per source, with all its segments", uses=("source_id",),
            kind="this source_id and theme are already coded: give each theme once per source")
    themes_path = str(paths.get("themes", ""))
    already = {(p.row, p.column) for p in problems if p.file == themes_path}  # one defect, one problem
    source_bad: dict[str, Cells] = {**bad, "themes": AnyOf(bad.get("themes", set()), already)}
    problems += check_sources(tables, paths, authority, source_bad, raw, known_cases)
    return problems


STAFF_TYPES = ("focus_group", "case_discussion", "roundtable")


def _source_rules(frame: pd.DataFrame, add, start, end, period: str, study_wide: bool) -> None:
    """Rules on one list of sources (an authority's sources.csv or the study-wide data/sources.csv)."""
    roles = frame["participant_role"].fillna("").map(lambda v: set(v.split(";")) - {""})
    add(frame["source_type"].eq("parent_interview") & roles.map(lambda r: bool(r) and r != {"parent"}),
        "participant_role", "a parent interview's participants are parents: participant_role must be 'parent'",
        uses=("source_type",))
    add(frame["source_type"].isin(STAFF_TYPES) & roles.map(lambda r: "parent" in r), "participant_role",
        lambda i: f"a {frame.at[i, 'source_type'].replace('_', ' ')} is held with staff: 'parent' is not a role "
                  "in it", uses=("source_type",))
    if start is not None:
        add((frame["date"] < start) | (frame["date"] > end), "date", f"date is outside {period}")
    if study_wide:
        add(frame["source_type"].eq("case_discussion"), "source_type",
            "a case discussion belongs to the authority whose case it discussed: list it in that authority's "
            "sources.csv, not in the study-wide file")


def check_sources(tables: dict[str, pd.DataFrame], paths: dict[str, Path], authority: Authority | None,
                  bad: Mapping[str, Cells], raw: dict[str, pd.DataFrame] | None,
                  known_cases: CaseKeys | None) -> list[Problem]:
    """The list of sources (``sources.csv``, optional) against the coded themes: every source coded in
    ``themes.csv`` is listed with the same type; a case discussion names an existing case; dates lie
    inside the period; parent interviews are with parents and staff sources with staff."""
    sources = tables.get("sources")
    if sources is None:
        return []
    problems: list[Problem] = []
    skip_s, skip_t = bad.get("sources", set()), bad.get("themes", set())

    def adder(name: str, frame: pd.DataFrame, skip: Cells):
        def add(mask: pd.Series, column: str, rule, uses: tuple[str, ...] = ()) -> None:
            for idx in frame.index[mask.fillna(False).astype(bool).to_numpy()]:
                line = int(frame.at[idx, LINE])
                if any((line, c) in skip or (ALL_ROWS, c) in skip for c in (column, *uses)):
                    continue
                value = frame.at[idx, column]
                if raw is not None and name in raw:
                    value = raw[name].at[idx, column]
                elif isinstance(value, pd.Timestamp):
                    value = value.date().isoformat()
                text = rule(idx) if callable(rule) else rule
                problems.append(Problem(str(paths[name]), line, column, "" if pd.isna(value) else str(value), text))
        return add

    add = adder("sources", sources, skip_s)
    start = pd.Timestamp(authority.period_start) if authority else None
    end = pd.Timestamp(authority.period_end) if authority else None
    period = (f"the authority's period {authority.period_start} to {authority.period_end} "
              f"(set in {authority.params_file})") if authority else ""
    _source_rules(sources, add, start, end, period, study_wide=False)
    listing = paths["sources"].name
    if known_cases is not None:
        add(sources["source_type"].eq("case_discussion") & ~known_cases.isin(sources["source_id"]), "source_id",
            f"a case discussion must name a case_id that exists in {paths['case_files'].name}",
            uses=("source_type",))
    themes = tables.get("themes")
    if themes is None or (ALL_ROWS, "source_id") in skip_s:
        return problems
    listed = sources[sources["source_id"].notna()].drop_duplicates("source_id").set_index("source_id")
    add_t = adder("themes", themes, skip_t)
    unlisted = themes["source_id"].notna() & ~themes["source_id"].isin(listed.index)
    rows_of = themes.loc[unlisted, "source_id"].value_counts()
    add_t(unlisted & ~themes["source_id"].duplicated(), "source_id",  # one problem per source, on its first row
          lambda i: f"this source is not listed in {listing} (every coded source must be listed there, with its "
                    f"type, date and participants; it is coded on {rows_of[themes.at[i, 'source_id']]} row"
                    f"{'' if rows_of[themes.at[i, 'source_id']] == 1 else 's'})")
    listed_type = themes["source_id"].map(listed["source_type"])
    listed_line = themes["source_id"].map(listed[LINE])
    differs = listed_type.notna() & themes["source_type"].notna() & (themes["source_type"] != listed_type)
    add_t(differs & ~themes["source_id"].where(differs).duplicated(), "source_type",
          lambda i: f"{listing} lists source '{themes.at[i, 'source_id']}' as a "
                    f"'{listed_type[i]}' (row {listed_line[i]}): the types must agree",
          uses=("source_id",))
    return problems


def validate_study_sources(path: Path, period: tuple | None = None, codebook: Codebook | None = None
                           ) -> tuple[pd.DataFrame | None, list[Problem]]:
    """The study-wide list of sources (``data/sources.csv``: roundtables and other sources not held in
    one authority), optional: ``(None, [])`` when the file does not exist. Same columns as an
    authority's ``sources.csv``; dates inside the study period (``period``: start and end dates from
    ``params/report.yml``); case discussions belong in the authority's file."""
    codebook = codebook or load_codebook()
    spec = codebook.files["sources"]
    path = Path(path)
    if not path.is_file():
        return None, []
    read = read_file(path, spec)
    problems = list(read.problems)
    if not read.readable:
        return None, problems
    present = {c.name for c in spec.columns} - read.unusable
    col_problems = check_columns(read.frame, path, spec, codebook, present)
    problems += col_problems
    skip = {(p.row, p.column) for p in col_problems} | {(ALL_ROWS, c) for c in read.unusable}
    frame = to_typed(read.frame, spec, codebook)

    def add(mask: pd.Series, column: str, rule, uses: tuple[str, ...] = ()) -> None:
        for idx in frame.index[mask.fillna(False).astype(bool).to_numpy()]:
            line = int(frame.at[idx, LINE])
            if any((line, c) in skip or (ALL_ROWS, c) in skip for c in (column, *uses)):
                continue
            text = rule(idx) if callable(rule) else rule
            problems.append(Problem(str(path), line, column, str(read.frame.at[idx, column]), text))

    start, end = (pd.Timestamp(period[0]), pd.Timestamp(period[1])) if period else (None, None)
    text = f"the study period {period[0]} to {period[1]} (set in params/report.yml)" if period else ""
    _source_rules(frame, add, start, end, text, study_wide=True)
    return frame.drop(columns=[LINE]), sorted(set(problems))


def check_census_lists(tables: dict[str, pd.DataFrame], paths: dict[str, Path],
                       bad: Mapping[str, Cells] | None = None,
                       raw: dict[str, pd.DataFrame] | None = None) -> list[Problem]:
    """DfE CIN census rules on the ';'-lists of case_files.csv and admin.csv (rule numbers as the
    community validator, data-to-insight/csc-validator-be-cin, numbers them): NONE with another
    disability (8790), a disability twice (8794), factor 21 "no factors identified" with another
    factor (8869), a factor twice (8898). A cell that already failed its column's rule is skipped."""
    bad = bad or {}
    problems: list[Problem] = []
    for name in ("case_files", "admin"):
        if name not in tables:
            continue
        frame, skip = tables[name], bad.get(name, set())
        for column, none, none_rule, twice_rule in (
                ("disability", "NONE", "8790: NONE (no disability) cannot be recorded with another disability",
                 "8794: the disability {code} is recorded twice"),
                ("assessment_factors", "21", "8869: factor 21 (no factors identified) cannot be recorded with "
                                             "another factor", "8898: the factor {code} is recorded twice")):
            if column not in frame or (ALL_ROWS, column) in skip:
                continue
            def rule_of(value, none=none, none_rule=none_rule, twice_rule=twice_rule) -> str | None:
                if not isinstance(value, str) or not value:
                    return None
                codes = value.split(";")
                if none in codes and len(codes) > 1:
                    return f"DfE census rule {none_rule}"
                twice = next((c for i, c in enumerate(codes) if c in codes[:i]), None)
                return None if twice is None else f"DfE census rule {twice_rule.format(code=twice)}"

            rules = map_distinct(frame[column].astype(object), rule_of).to_numpy()   # once per distinct list
            hit = np.array([isinstance(r, str) for r in rules], dtype=bool)
            lines = frame[LINE].to_numpy()
            if hasattr(skip, "rows"):
                hit &= ~skip.rows(column)
            elif skip:
                hit &= ~np.array([(int(line), column) in skip for line in lines], dtype=bool)
            for i in np.flatnonzero(hit):
                shown = str(raw[name][column].iat[i]) if raw is not None and name in raw else frame[column].iat[i]
                problems.append(Problem(str(paths[name]), int(lines[i]), column, shown, rules[i]))
    return problems


# --- entry points -------------------------------------------------------------------------

def _read_kind(problem: Problem) -> Problem:
    """A problem from reading the file, with its kind: the rule with its numbers left out (so every
    "row has 17 fields but the header has 18" counts as one kind)."""
    return dataclasses.replace(problem, kind=problem.kind or re.sub(r"[0-9]+", "N", problem.rule))


WHOLE = ("themes", "sources")   # files whose rules compare all their rows, read whole (coded themes and a
                                # list of sources: small); the others are checked a chunk of rows at a time


def validate_authority(authority: Authority, codebook: Codebook | None = None, limit: int | None = DEFAULT_LIMIT,
                       keep_tables: bool = True, chunk_rows: int | None = CHUNK_ROWS
                       ) -> tuple[dict[str, pd.DataFrame], Problems]:
    """Check an authority's four files; return typed tables and the problems found, sorted: at most
    ``limit`` of each rule in each file in full, the rest counted (:class:`Problems`; None: all).

    Each CSV is read as a stream, ``chunk_rows`` rows at a time (None: whole), and checked chunk by
    chunk; what the rules across rows and files need is kept (:class:`KeyIndex`, :class:`CaseKeys`),
    so memory does not grow with an invalid file's size. The tables are kept only for data that are
    valid: with problems, or with ``keep_tables`` false, the tables returned are ``{}``. With valid
    data they are every file's typed table (a file that is optional and absent has no entry), the
    same however the files were chunked.
    """
    codebook = codebook or load_codebook()
    problems = Problems(limit=limit)
    paths: dict[str, Path] = {}
    raws: dict[str, list[pd.DataFrame]] = {}      # raw chunks of the files read, while the tables are kept
    typed: dict[str, pd.DataFrame] = {}           # a file's typed table, where it was read in one chunk
    whole: dict[str, tuple[pd.DataFrame, BadCells, pd.DataFrame]] = {}   # typed, bad cells and raw of WHOLE
    skipped: dict[str, set[str]] = {}
    cases = CaseKeys(None)
    every = ", ".join(spec.filename for spec in codebook.files.values() if not spec.optional)
    sheets: dict[str, SheetFile] = {}
    keep = keep_tables
    order = sorted(codebook.files, key=lambda n: (n != "case_files", n in WHOLE))   # case ids first
    for name in order:
        spec = codebook.files[name]
        source = data_source(authority, spec)
        path = source.key
        paths[name] = path
        if source.kind == "missing" and spec.optional:
            continue  # e.g. sources.csv: older data folders stay valid; Methods says what is missing
        if source.kind == "missing":
            problems.add(Problem(str(path), 0, "", "", f"file is missing (each authority's data folder "
                                                       f"needs {every})"))
            continue
        if source.kind == "error":
            problems.add(Problem(str(source.path), 0, "", "", source.problem))
            continue
        read: RawFile
        opened: CsvFile | SheetFile
        chunks: Iterable[tuple[pd.DataFrame, list[Problem], set[str]]]
        if source.kind == "xlsx":
            from cinreport.data.workbooks import read_sheet

            read = sheets[str(path)] = read_sheet(source, spec, codebook)
            opened, chunks = read, [(read.frame, [], read.skipped_keys)]
        else:
            opened = open_csv(path, spec)
            chunks = opened.chunks(None if name in WHOLE else chunk_rows) if opened.readable else []
        for p in opened.problems:
            problems.add(_read_kind(p))
        if not opened.readable:
            continue
        present = {c.name for c in spec.columns} - opened.unusable
        unusable = set(opened.unusable) | ({spec.key} if not opened.keys_complete and spec.key else set())
        keys = {"case_id": KeyIndex("datetime64[s]")} if name == "case_files" and "case_id" in present else {}
        skipped[name] = set()
        keep = keep and not problems and not problems.more
        if keep:
            raws[name] = []
        for n, (frame, row_problems, skipped_keys) in enumerate(chunks):
            for p in row_problems:
                problems.add(_read_kind(p))
            failed = column_failures(frame, path, spec, codebook, present, problems, keys)
            bad = BadCells(frame[LINE].to_numpy(), failed, unusable)
            skipped[name] |= skipped_keys
            table = to_typed(frame, spec, codebook)
            if name in WHOLE:
                whole[name] = table, bad, frame
            else:
                check_cross({name: table}, paths, authority, {name: bad}, None, {name: frame}, problems,
                            case_keys=cases)
            if "case_id" in keys:
                keys["case_id"].set_payload(frame["case_id"].to_numpy(dtype=object),
                                            table["plan_start_date"].to_numpy(dtype="datetime64[s]"))
            keep = keep and not problems and not problems.more
            if keep:
                raws[name].append(frame)
                typed[name] = table if n == 0 else None
            else:   # the tables will not be returned: keep nothing of the rows
                raws.clear()
                typed.clear()
        if name == "case_files" and "case_id" not in unusable:
            cases = CaseKeys(keys["case_id"], skipped[name])
    if whole:
        check_cross({name: t for name, (t, _, _) in whole.items()}, paths, authority,
                    {name: b for name, (_, b, _) in whole.items()}, None,
                    {name: r for name, (_, _, r) in whole.items()}, problems, case_keys=cases)
    if sheets:
        named = Problems(limit=limit)
        from cinreport.data.workbooks import cell_references

        list.extend(named, cell_references(list(problems), sheets))
        named.kept = Counter(p.key for p in named)
        for (file, column, kind), n in problems.more.items():
            named.count_more((sheets[file].workbook if file in sheets else file, column, kind), n)
        problems = named
    tables: dict[str, pd.DataFrame] = {}
    if keep and not problems and not problems.more:
        for name in codebook.files:
            if name in typed and typed[name] is not None:
                tables[name] = typed[name]
            elif name in raws:
                tables[name] = to_typed(pd.concat(raws[name], ignore_index=True), codebook.files[name], codebook)
    return tables, problems.sorted()


def load_validated(authority: Authority, codebook: Codebook | None = None) -> dict[str, pd.DataFrame]:
    """Typed tables for one authority; raise :class:`ValidationError` if anything is wrong."""
    tables, problems = validate_authority(authority, codebook)
    if problems:
        raise ValidationError(problems)
    return {name: t.drop(columns=[LINE]) for name, t in tables.items()}
