"""Validate coded data against the codebook, before anything in ``build/`` is touched.

Every problem is collected (not only the first), each naming file, row (the line number in the
file, header = line 1), column, value and the rule broken. Per-column rules run through pandera
schemas generated from the codebook; rules that span files (every support row's case exists,
dates in order and inside the period) are checked here after them.

What real exports contain is accepted: UTF-8 with or without a byte-order mark, CRLF line ends,
blank lines, whitespace around values, upper- or lower-case codes. Dates are ISO 8601, or
dd/mm/yyyy only where the codebook says ``dmy: true``; anything else (including mm/dd/yyyy) is
rejected rather than guessed.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from .codebook import Codebook, Column, FileSpec, load_codebook
from .config import Authority

LINE = "_line"
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
INT_PATTERN = re.compile(r"^[+-]?\d+$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DMY_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the data, precise enough to fix the file from."""

    file: str
    row: int
    column: str
    value: str
    rule: str

    def __str__(self) -> str:
        where = f"{self.file}, row {self.row}" if self.row else self.file
        col = f", column '{self.column}'" if self.column else ""
        val = f", value '{self.value}'" if self.value != "" else ""
        return f"{where}{col}{val}: {self.rule}"


class ValidationError(ValueError):
    """The data broke one or more rules; ``problems`` lists every one, sorted."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems))
        body = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) found in the data:\n{body}")


def parse_date(value: str, dmy: bool) -> dt.date | None:
    """ISO 8601 date, or dd/mm/yyyy where allowed; None if it is neither (or not a real date)."""
    try:
        if ISO_DATE.match(value):
            return dt.date.fromisoformat(value)
        m = DMY_DATE.match(value) if dmy else None
        if m:
            return dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    except ValueError:
        return None
    return None


def canonical_codes(codebook: Codebook, list_name: str) -> dict[str, str]:
    """Map upper-cased code to the codebook's spelling, so 'NONE', 'none' and 'None' all match."""
    return {code.upper(): code for code in codebook.codes(list_name).labels}


# --- reading -------------------------------------------------------------------------------

def read_raw(path: Path, spec: FileSpec) -> tuple[pd.DataFrame, list[Problem]]:
    """Read a CSV as stripped strings with its file line numbers; check the header and row widths."""
    problems: list[Problem] = []
    name = str(path)
    expected = [c.name for c in spec.columns]
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return pd.DataFrame(columns=expected + [LINE]), [Problem(name, 0, "", "", f"cannot be read: {exc.strerror}")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return pd.DataFrame(columns=expected + [LINE]), [
            Problem(name, line, "", repr(raw[exc.start:exc.start + 1])[2:-1],
                    "file is not UTF-8 text: save it as CSV UTF-8")]
    reader = csv.reader(text.splitlines(keepends=True))
    header: list[str] | None = None
    records: list[list[str]] = []
    for fields in reader:
        if not any(f.strip() for f in fields):
            continue
        if header is None:
            header = [h.strip().lower() for h in fields]
            continue
        records.append([f.strip() for f in fields] + [str(reader.line_num)])
    if header is None:
        return pd.DataFrame(columns=expected + [LINE]), [Problem(name, 1, "", "", "file is empty: it needs a header row")]
    missing = [c for c in expected if c not in header]
    unknown = [h for h in header if h not in expected]
    dupes = sorted({h for h in header if header.count(h) > 1})
    for c in missing:
        problems.append(Problem(name, 1, c, "", "required column is missing from the header"))
    for h in unknown:
        problems.append(Problem(name, 1, h, h, f"unknown column (expected: {', '.join(expected)})"))
    for h in dupes:
        problems.append(Problem(name, 1, h, h, "column appears more than once in the header"))
    width = len(header)
    good: list[list[str]] = []
    for rec in records:
        line = int(rec[-1])
        if len(rec) - 1 != width:
            problems.append(Problem(name, line, "", "", f"row has {len(rec) - 1} fields but the header has {width}"))
            continue
        good.append(rec)
    frame = pd.DataFrame(good, columns=header + [LINE], dtype=str)
    frame = frame.loc[:, ~frame.columns.duplicated()]
    for c in missing:
        frame[c] = ""
    frame = frame[expected + [LINE]]
    frame[LINE] = frame[LINE].astype(int)
    return frame.reset_index(drop=True), problems


# --- per-column rules (pandera) --------------------------------------------------------------

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

        checks.append(pa.Check(codebook_range, error=f"must be between {col.min:g} and {col.max:g}"
                               if col.min is not None and col.max is not None else "out of range"))
    elif col.type in ("code", "code_list"):
        allowed = canonical_codes(codebook, col.codes)
        shown = ", ".join(codebook.codes(col.codes).labels)
        if col.type == "code":
            checks.append(pa.Check(lambda s: ~present(s) | s.str.upper().isin(list(allowed)),
                                   error=f"not a code in list '{col.codes}' (allowed: {shown})"))
        else:
            def codebook_code_list(s: pd.Series) -> pd.Series:
                return s.map(lambda v: all(p.strip().upper() in allowed for p in v.split(";") if p.strip())
                             if v else True)

            checks.append(pa.Check(codebook_code_list, error=f"holds a code not in list '{col.codes}' "
                                                    f"(separate codes with ';'; allowed: {shown})"))
    elif col.type == "date":
        fmt = "YYYY-MM-DD or DD/MM/YYYY" if col.dmy else "YYYY-MM-DD"
        checks.append(pa.Check(lambda s, dmy=col.dmy: s.map(lambda v: v == "" or parse_date(v, dmy) is not None),
                               error=f"not a valid date in the form {fmt}"))
    if col.unique:
        checks.append(pa.Check(lambda s: ~s.duplicated(keep="first") | (s == ""),
                               error="duplicate: this value must be unique in the file"))
    return checks


def schema_for(spec: FileSpec, codebook: Codebook) -> pa.DataFrameSchema:
    """A pandera schema of string columns generated from the codebook entry for one file."""
    return pa.DataFrameSchema(
        {c.name: pa.Column(str, checks=_column_checks(c, codebook), nullable=False) for c in spec.columns},
        strict=False, name=spec.filename)


def check_columns(frame: pd.DataFrame, path: Path, spec: FileSpec, codebook: Codebook) -> list[Problem]:
    """Run the generated schema lazily and turn every failure case into a :class:`Problem`."""
    try:
        schema_for(spec, codebook).validate(frame, lazy=True)
    except SchemaErrors as exc:
        problems = []
        for case in exc.failure_cases.itertuples():
            if pd.isna(case.index):  # the check itself failed: a bug, never a silent pass
                raise RuntimeError(f"{path}: check '{case.check}' on column '{case.column}' "
                                   f"could not run: {case.failure_case}")
            idx = int(case.index)
            problems.append(Problem(str(path), int(frame.at[idx, LINE]), str(case.column),
                                    str(case.failure_case), str(case.check)))
        return problems
    return []


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
            out[col.name] = pd.to_datetime(s.map(lambda v: parse_date(v, col.dmy) if v else None))
        elif col.type == "code":
            canon = canonical_codes(codebook, col.codes)
            out[col.name] = s.map(lambda v: canon.get(v.upper(), v) if v else pd.NA).astype("string")
        elif col.type == "code_list":
            canon = canonical_codes(codebook, col.codes)
            out[col.name] = s.map(lambda v: ";".join(canon.get(p.strip().upper(), p.strip())
                                                     for p in v.split(";") if p.strip())).astype("string")
        else:
            out[col.name] = s.replace("", pd.NA).astype("string")
    out[LINE] = frame[LINE]
    return out


# --- rules across files -----------------------------------------------------------------------

def check_cross(tables: dict[str, pd.DataFrame], paths: dict[str, Path],
                authority: Authority | None) -> list[Problem]:
    """Rules that need more than one column or file (applied to typed tables)."""
    problems: list[Problem] = []
    start = pd.Timestamp(authority.period_start) if authority else None
    end = pd.Timestamp(authority.period_end) if authority else None

    def add(name: str, frame: pd.DataFrame, mask: pd.Series, column: str, rule: str, fmt=str) -> None:
        for _, row in frame[mask.fillna(False)].iterrows():
            value = row[column]
            shown = value.date().isoformat() if isinstance(value, pd.Timestamp) else fmt(value)
            problems.append(Problem(str(paths[name]), int(row[LINE]), column, shown, rule))

    for name in ("case_files", "admin"):
        t = tables.get(name)
        if t is None:
            continue
        add(name, t, t["plan_end_date"] < t["plan_start_date"], "plan_end_date",
            "plan end date is before the plan start date")
        if authority:
            add(name, t, (t["plan_start_date"] < start) | (t["plan_start_date"] > end), "plan_start_date",
                f"plan start date is outside the authority's period {authority.period_start} to {authority.period_end}")
            add(name, t, t["plan_end_date"] > end, "plan_end_date",
                f"plan end date is after the end of the authority's period {authority.period_end}")
    cases = tables.get("case_files")
    if cases is not None:
        add("case_files", cases, cases["plan_end_date"].isna() & (cases["plan_outcome"] != "open"), "plan_outcome",
            "plan has no end date, so its outcome must be 'open'")
        add("case_files", cases, cases["plan_end_date"].notna() & (cases["plan_outcome"] == "open"), "plan_outcome",
            "plan has an end date, so its outcome cannot be 'open'")
    support = tables.get("support")
    if support is not None and cases is not None:
        known = set(cases["case_id"].dropna())
        add("support", support, ~support["case_id"].isin(known) & support["case_id"].notna(), "case_id",
            f"case does not exist in {paths['case_files'].name}")
        add("support", support, support["start_date"] < support["referral_date"], "start_date",
            "service start date is before its referral date")
        add("support", support, support["start_date"].notna() & support["status"].isin(["waiting", "not_available"]),
            "start_date", "a service that is waiting or not available cannot have a start date")
        if authority:
            add("support", support, (support["referral_date"] > end), "referral_date",
                f"referral date is after the end of the authority's period {authority.period_end}")
        plan_start = support["case_id"].map(dict(zip(cases["case_id"], cases["plan_start_date"])))
        add("support", support, support["referral_date"] < plan_start - pd.Timedelta(days=365), "referral_date",
            "referral date is more than a year before the case's plan started")
    themes = tables.get("themes")
    if themes is not None and cases is not None:
        discussions = themes["source_type"] == "case_discussion"
        add("themes", themes, discussions & ~themes["source_id"].isin(set(cases["case_id"].dropna())), "source_id",
            f"a case discussion must name a case_id that exists in {paths['case_files'].name}")
        kinds = themes.groupby("source_id")["source_type"].nunique()
        mixed = themes["source_id"].isin(kinds[kinds > 1].index)
        add("themes", themes, mixed, "source_type", "the same source_id is used with different source types")
    return problems


# --- entry points -------------------------------------------------------------------------

def validate_authority(authority: Authority, codebook: Codebook | None = None
                       ) -> tuple[dict[str, pd.DataFrame], list[Problem]]:
    """Check an authority's four files; return typed tables and every problem found."""
    codebook = codebook or load_codebook()
    problems: list[Problem] = []
    tables: dict[str, pd.DataFrame] = {}
    paths: dict[str, Path] = {}
    for name, spec in codebook.files.items():
        path = authority.data_dir / spec.filename
        paths[name] = path
        if not path.is_file():
            problems.append(Problem(str(path), 0, "", "", "file is missing"))
            continue
        raw, read_problems = read_raw(path, spec)
        col_problems = check_columns(raw, path, spec, codebook)
        problems += read_problems + col_problems
        tables[name] = to_typed(raw, spec, codebook)
    problems += check_cross(tables, paths, authority)
    return tables, sorted(set(problems))


def load_validated(authority: Authority, codebook: Codebook | None = None) -> dict[str, pd.DataFrame]:
    """Typed tables for one authority; raise :class:`ValidationError` if anything is wrong."""
    tables, problems = validate_authority(authority, codebook)
    if problems:
        raise ValidationError(problems)
    return {name: t.drop(columns=[LINE]) for name, t in tables.items()}
