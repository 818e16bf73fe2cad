"""Validation of coded data and params: the broken-input corpus, accepted export variants,
generated data always validating, and a failed validation touching nothing in build/ or _book/.

The corpus (``tests/broken/cases.yml``) starts every case from the frozen clean baseline in
``tests/broken/clean/`` (so regenerating the demo data never changes the expected messages).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cinreport.data import synth
from cinreport.data.codebook import load_codebook
from cinreport.data.config import Authority, ParamsError, load_authorities
from cinreport.data.validate import (
    Problem,
    Problems,
    ValidationError,
    load_validated,
    parse_date,
    read_file,
    validate_authority,
)

ROOT = Path(__file__).resolve().parents[1]
BROKEN = ROOT / "tests" / "broken"
CLEAN = BROKEN / "clean"
CODEBOOK = load_codebook(ROOT / "data" / "codebook.yml")
CASES = yaml.safe_load((BROKEN / "cases.yml").read_text(encoding="utf-8"))["cases"] or []
CLI = Path(sys.executable).with_name("cinreport")


# --- the harness ---------------------------------------------------------------------------------

def copy_clean(dest: Path) -> Path:
    shutil.copytree(CLEAN, dest, dirs_exist_ok=True)
    return dest


def run_validation(project: Path, **options) -> list[str]:
    """What `cinreport validate` reports for ``project``: params problems, else data problems.

    File names are made relative to ``project`` (the temporary folder is not part of a message).
    ``options`` go to :func:`validate_authority` (e.g. ``chunk_rows``).
    """
    prefix = f"{project}/"
    try:
        authorities = load_authorities(project / "params", root=project)
    except ParamsError as exc:
        return [p.replace(prefix, "") for p in exc.problems]
    problems: list[Problem] = []
    for authority in authorities:
        problems += validate_authority(authority, CODEBOOK, **options)[1]
    return [str(p).replace(prefix, "") for p in sorted(problems)]


def _set_field(line: str, column: str, value: str, header: list[str]) -> str:
    fields = next(csv.reader([line]))
    fields[header.index(column)] = value
    return ",".join(fields)


def apply_edit(project: Path, case: dict) -> None:
    """Make the one edit a corpus case describes."""
    path = project / case["file"]
    if "create" in case:
        path.write_text(case["create"], encoding="utf-8")
        return
    if "remove" in case:
        path.unlink()
        return
    if "rename" in case:
        path.rename(project / case["rename"])
        return
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    if "set" in case:
        edit = case["set"]
        header = next(csv.reader([lines[0]]))
        lines[edit["row"] - 1] = _set_field(lines[edit["row"] - 1], edit["column"], str(edit["value"]), header)
        text = "\n".join(lines) + "\n"
    elif "replace" in case:
        old, new = case["replace"]["old"], case["replace"]["new"]
        assert text.count(old) == 1, f"{case['id']}: '{old}' must occur exactly once in {case['file']}"
        text = text.replace(old, new)
    elif "append" in case:
        text = text + case["append"] + "\n"
    elif "delete_row" in case:
        del lines[case["delete_row"] - 1]
        text = "\n".join(lines) + "\n"
    elif "add_column" in case:
        rows = list(csv.reader(io.StringIO(text)))
        name, value = case["add_column"]["name"], str(case["add_column"]["value"])
        text = "".join(",".join(r + [name if i == 0 else value]) + "\n" for i, r in enumerate(rows))
    elif "delete_column" in case:
        rows = list(csv.reader(io.StringIO(text)))
        at = rows[0].index(case["delete_column"])
        text = "".join(",".join(r[:at] + r[at + 1:]) + "\n" for r in rows)
    elif "content" in case:
        text = case["content"]
    elif "reencode" in case:
        path.write_bytes(text.encode(case["reencode"]))
        return
    else:
        raise AssertionError(f"{case['id']}: no edit given")
    path.write_bytes(text.encode(case.get("encoding", "utf-8")))


# --- the corpus ------------------------------------------------------------------------------------

def test_corpus_is_large_and_well_formed():
    ids = [c["id"] for c in CASES]
    assert len(ids) >= 30
    assert len(set(ids)) == len(ids), "case ids must be unique"
    edits = {"set", "replace", "append", "delete_row", "add_column", "delete_column", "content", "remove", "rename",
             "create", "reencode"}
    for case in CASES:
        assert len(edits & set(case)) == 1, f"{case['id']}: exactly one edit"
        assert case["expect"], f"{case['id']}: expected problems must be listed"
        assert case.get("why"), f"{case['id']}: say what the defect is"
    # every file kind and params are covered
    files = {Path(c["file"]).name for c in CASES}
    assert {"case_files.csv", "support.csv", "admin.csv", "themes.csv", "report.yml", "la-a.yml"} <= files


def test_clean_baseline_validates(tmp_path):
    assert run_validation(copy_clean(tmp_path)) == []


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_broken_input(case, tmp_path):
    project = copy_clean(tmp_path)
    apply_edit(project, case)
    assert run_validation(project) == case["expect"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
@pytest.mark.slow
def test_broken_input_read_a_row_at_a_time(case, tmp_path):
    """Files are checked in chunks of rows: with every row a chunk of its own, each case gives the same
    problems (duplicates, references to cases and first rows are found across chunks)."""
    project = copy_clean(tmp_path)
    apply_edit(project, case)
    assert run_validation(project, chunk_rows=1) == case["expect"]


def test_every_problem_names_file_row_column_value():
    """Data problems (not params ones) carry a file and, where a cell is at fault, row/column/value."""
    for case in CASES:
        for message in case["expect"]:
            if message.startswith("data/"):
                assert message.split(",")[0].split(":")[0].endswith(".csv"), message


# --- messages, sorting, count ------------------------------------------------------------------------

def test_all_problems_reported_sorted_with_count(tmp_path):
    project = copy_clean(tmp_path)
    cases = project / "data/la-a/case_files.csv"
    lines = cases.read_text().splitlines()
    lines[6] = _set_field(lines[6], "age_at_plan_start", "30", next(csv.reader([lines[0]])))
    lines[1] = _set_field(lines[1], "gender", "X", next(csv.reader([lines[0]])))
    cases.write_text("\n".join(lines) + "\n")
    (project / "data/la-a/themes.csv").open("a").write("LAA-FG1,focus_group,service_gaps,2000\n")
    authority = load_authorities(project / "params", root=project)[0]
    with pytest.raises(ValidationError) as info:
        load_validated(authority, CODEBOOK)
    problems = info.value.problems
    assert problems == sorted(problems)
    assert [(Path(p.file).name, p.row, p.column) for p in problems] == [
        ("case_files.csv", 2, "gender"), ("case_files.csv", 7, "age_at_plan_start"),
        ("themes.csv", 20, "segments"), ("themes.csv", 20, "theme")]
    message = str(info.value)
    assert message.startswith("4 problem(s) found in the data:\n")
    assert f"{project}/data/la-a/case_files.csv, row 7, column 'age_at_plan_start', value '30': " \
           "must be between 0 and 17" in message


def test_problem_str_without_row_or_value():
    assert str(Problem("a.csv", 0, "", "", "file is missing")) == "a.csv: file is missing"
    assert str(Problem("a.csv", 3, "x", "", "a value is required")) == "a.csv, row 3, column 'x': a value is required"


# --- dates ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, dmy, expected", [
    ("2020-04-01", False, dt.date(2020, 4, 1)),
    ("2020-04-01", True, dt.date(2020, 4, 1)),
    ("01/04/2020", True, dt.date(2020, 4, 1)),
    ("1/4/2020", True, dt.date(2020, 4, 1)),
    ("01/04/2020", False, None),        # dd/mm/yyyy only where the codebook allows it
    ("04/31/2020", True, None),         # US order: month 31 does not exist - rejected, not guessed
    ("13/13/2020", True, None),
    ("2020-02-30", True, None),
    ("2021-02-29", True, None),
    ("2020-02-29", True, dt.date(2020, 2, 29)),
    ("2020-4-1", True, None),
    ("20200401", True, None),
    ("2020-W14-3", True, None),
    ("2020-04-01T00:00", True, None),
    ("01-04-2020", True, None),
    ("01/04/20", True, None),
    ("\u0662\u0660\u0662\u0660-04-01", True, None),   # non-ASCII digits
    ("", True, None),
])
def test_parse_date(value, dmy, expected):
    assert parse_date(value, dmy) == expected


# --- accepted variants of a real export --------------------------------------------------------------

def _messy(text: str, spec, dmy_dates: bool = True) -> bytes:
    """The same table as a spreadsheet might export it: BOM, CRLF, blank and comma-only lines (also
    before the header and at the end), padded values, upper-case header, upper/lower/title-case codes,
    ' ; ' in code lists, d/m/yyyy and dd/mm/yyyy dates, a trailing comma on every line."""
    rows = list(csv.reader(io.StringIO(text)))
    kinds = {c.name: c.type for c in spec.columns}
    out = ["", "  " + ", ".join(h.upper() for h in rows[0]) + ","]
    for i, row in enumerate(rows[1:]):
        cells = []
        for name, value in zip(rows[0], row):
            if kinds[name] in ("code", "code_list"):
                value = value.lower() if i % 2 else value.title()
            elif kinds[name] == "date" and value and dmy_dates:
                d = dt.date.fromisoformat(value)
                value = f"{d.day:02d}/{d.month:02d}/{d.year}" if i % 2 else f"{d.day}/{d.month}/{d.year}"
            if kinds[name] == "code_list" and value:
                value = " ; ".join(value.split(";"))
                value = f'"{value}"'
            cells.append(value if value.startswith('"') else f" {value} ")
        out.append(",".join(cells) + ",")
        if i == 2:
            out.append("")
            out.append(",,,")
    out += ["", "   ", ""]
    return "\ufeff".encode() + "\r\n".join(out).encode("utf-8") + b"\r\n\r\n"


def test_export_variants_give_identical_tables(tmp_path):
    clean = load_authorities(CLEAN / "params", root=CLEAN)[0]
    expected = load_validated(clean, CODEBOOK)
    messy_dir = tmp_path / "messy"
    messy_dir.mkdir()
    for spec in CODEBOOK.files.values():
        text = (clean.data_dir / spec.filename).read_text(encoding="utf-8")
        (messy_dir / spec.filename).write_bytes(_messy(text, spec))
    messy = dataclasses.replace(clean, data_dir=messy_dir)
    tables, problems = validate_authority(messy, CODEBOOK)
    assert problems == []
    got = load_validated(messy, CODEBOOK)
    for name in expected:
        pd.testing.assert_frame_equal(got[name], expected[name], check_exact=True)


def test_demo_data_variants_give_identical_tables(tmp_path):
    """The same holds for a full-size demo authority (hundreds of admin rows)."""
    demo = next(a for a in load_authorities(ROOT / "params", root=ROOT) if a.code == "la-a")
    expected = load_validated(demo, CODEBOOK)
    for spec in CODEBOOK.files.values():
        text = (demo.data_dir / spec.filename).read_text(encoding="utf-8")
        (tmp_path / spec.filename).write_bytes(_messy(text, spec))
    got = load_validated(dataclasses.replace(demo, data_dir=tmp_path), CODEBOOK)
    for name in expected:
        pd.testing.assert_frame_equal(got[name], expected[name], check_exact=True)


def test_line_numbers_count_blank_lines_and_quoted_newlines(tmp_path):
    spec = CODEBOOK.files["themes"]
    path = tmp_path / "themes.csv"
    path.write_bytes(b"\xef\xbb\xbfsource_id,source_type,theme,segments\r\n\r\nS1,focus_group,service_gaps,2\r\n"
                     b"\r\nS1,focus_group,\"recording\ngaps\",1\r\nS1,focus_group,threshold_inconsistency,0\r\n")
    result = read_file(path, spec)
    frame, problems = result.frame, result.problems
    assert problems == []
    assert list(frame["_line"]) == [3, 5, 7]


def test_trailing_comma_with_values_is_a_problem(tmp_path):
    spec = CODEBOOK.files["themes"]
    path = tmp_path / "themes.csv"
    path.write_text("source_id,source_type,theme,segments,\nS1,focus_group,service_gaps,2,x\n")
    problems = read_file(path, spec).problems
    assert [str(p).replace(f"{tmp_path}/", "") for p in problems] == [
        "themes.csv, row 1: column 5 has no name in the header but holds values"]


# --- generated data always validate ------------------------------------------------------------------

profiles = st.builds(
    synth.Profile,
    n_cases=st.integers(5, 40),
    n_admin=st.integers(1, 150),
    mean_age=st.floats(0, 17),
    male_share=st.floats(0, 1),
    ethnicity_recorded=st.floats(0, 1),
    disability_share=st.floats(0, 1),
    disability_recorded=st.floats(0, 1),
    factor_scale=st.floats(0.2, 2.5),
    plan_median_days=st.floats(14, 700),
    plan_spread=st.floats(0.1, 1.2),
    visits_per_month=st.floats(0, 5),
    direct_work_per_month=st.floats(0, 4),
    services_per_case=st.floats(0.3, 6),
    advice_weight=st.floats(0.1, 4),
    mh_median_wait_days=st.floats(1, 250),
    mh_not_available=st.floats(0, 0.5),
    mh_declined=st.floats(0, 0.4),
    parents_involved=st.floats(0, 1),
    parent_feels_involved=st.floats(0, 1),
    focus_groups=st.integers(0, 3),
    parent_interviews=st.integers(0, 4),
    case_discussions=st.integers(0, 6),
)
periods = st.tuples(st.dates(dt.date(2015, 1, 1), dt.date(2024, 12, 31)), st.integers(90, 900)).map(
    lambda p: (p[0], p[0] + dt.timedelta(days=p[1])))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(profile=profiles, seed=st.integers(0, 2**32 - 1), period=periods,
       code=st.sampled_from(["la-a", "x", "north-2"]))
@pytest.mark.slow
def test_generated_data_always_validate(tmp_path_factory, profile, seed, period, code):
    out = tmp_path_factory.mktemp("gen")
    synth.write_authority(out, synth.generate_authority(code, profile, seed, period), CODEBOOK)
    authority = Authority(code=code, name=code, data_dir=out, period_start=period[0], period_end=period[1],
                          params_file=Path(f"params/authorities/{code}.yml"))
    _, problems = validate_authority(authority, CODEBOOK)
    assert [str(p) for p in problems] == []


def test_committed_demo_data_validate():
    authorities = load_authorities(ROOT / "params", root=ROOT)
    assert [a.code for a in authorities] == ["la-a", "la-b", "la-c", "la-d"]
    for authority in authorities:
        assert validate_authority(authority, CODEBOOK)[1] == []


# --- a failing validation touches nothing --------------------------------------------------------------

def _snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def cli_project(tmp_path) -> Path:
    """params/ and data/ of the demo project, with a previous build and book in place."""
    shutil.copytree(ROOT / "params", tmp_path / "params")
    shutil.copytree(ROOT / "data", tmp_path / "data")
    (tmp_path / "build" / "authorities" / "la-a").mkdir(parents=True)
    (tmp_path / "build" / "x.json").write_text('{"last": "good"}\n')
    (tmp_path / "build" / "authorities" / "la-a" / "metrics.json").write_text("{}\n")
    (tmp_path / "_book").mkdir()
    (tmp_path / "_book" / "index.html").write_text("<html>last good report</html>\n")
    return tmp_path


def _cli(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), *args], cwd=project, capture_output=True, text=True, timeout=120)


def test_cli_validate_passes_on_demo_data(cli_project):
    proc = _cli(cli_project, "validate")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "valid: la-a, la-b, la-c, la-d"


def test_failed_validation_leaves_build_and_book_untouched(cli_project):
    support = cli_project / "data" / "la-b" / "support.csv"
    lines = support.read_text().splitlines()
    header = next(csv.reader([lines[0]]))
    lines[4] = _set_field(lines[4], "status", "finished", header)
    lines[9] = _set_field(lines[9], "referral_date", "04/31/2020", header)
    support.write_text("\n".join(lines) + "\n")
    before = {d: _snapshot(cli_project / d) for d in ("build", "_book")}

    proc = _cli(cli_project, "validate")

    assert proc.returncode != 0
    err = proc.stderr.splitlines()
    assert err[0] == "2 problem(s) found in the data:"
    assert err[1].startswith("  data/la-b/support.csv, row 5, column 'status', value 'finished': not a code in "
                             "list 'support_status'")
    assert err[2] == ("  data/la-b/support.csv, row 10, column 'referral_date', value '04/31/2020': not a real date "
                      "in the form YYYY-MM-DD or DD/MM/YYYY (day first; month-first dates are not accepted)")
    assert len(err) == 3
    assert proc.stdout == ""
    assert {d: _snapshot(cli_project / d) for d in ("build", "_book")} == before


def test_failed_params_validation_leaves_build_and_book_untouched(cli_project):
    (cli_project / "params" / "authorities" / "la-c.yml").write_text('name: "Authority C"\ndata_dir: data/la-x\n')
    before = {d: _snapshot(cli_project / d) for d in ("build", "_book")}
    proc = _cli(cli_project, "validate")
    assert proc.returncode != 0
    assert proc.stderr.splitlines() == [
        "1 problem(s) in params:",
        "  - params/authorities/la-c.yml: data_dir 'data/la-x' does not exist (looked for data/la-x)"]
    assert {d: _snapshot(cli_project / d) for d in ("build", "_book")} == before


# --- sources.csv: optional per authority; data/sources.csv study-wide ---------------------------------

def test_sources_file_is_optional(tmp_path):
    """An older data folder without sources.csv stays valid (Methods then says the list is missing)."""
    project = copy_clean(tmp_path)
    (project / "data/la-a/sources.csv").unlink()
    assert run_validation(project) == []


def test_sources_given_as_workbook_sheet_is_found(tmp_path):
    """sources is a file of the codebook like the others: a second copy of it is an error naming both."""
    project = copy_clean(tmp_path)
    (project / "data/la-a/sources.xlsx").write_bytes(b"not a workbook")
    problems = run_validation(project)
    assert len(problems) == 1 and "sources" in problems[0] and "sources.xlsx" in problems[0]


def test_study_sources_roundtables_validate(tmp_path):
    from cinreport.data.validate import validate_study_sources

    path = tmp_path / "sources.csv"
    path.write_text("source_id,source_type,date,participants,participant_role\n"
                    "RT1,roundtable,2020-06-01,12,team_manager;service_manager\n", encoding="utf-8")
    frame, problems = validate_study_sources(path, ("2020-04-01", "2021-03-31"), CODEBOOK)
    assert problems == [] and list(frame["participants"]) == [12]
    assert validate_study_sources(tmp_path / "absent.csv", None, CODEBOOK) == (None, [])


def test_study_sources_problems_name_file_row_column_value(tmp_path):
    from cinreport.data.validate import validate_study_sources

    path = tmp_path / "sources.csv"
    path.write_text("source_id,source_type,date,participants,participant_role\n"
                    "RT1,roundtable,2019-06-01,12,team_manager\n"
                    "RT2,roundtable,2020-06-01,0,team_manager;parent\n"
                    "LAA-C001,case_discussion,2020-06-01,1,social_worker\n", encoding="utf-8")
    _, problems = validate_study_sources(path, ("2020-04-01", "2021-03-31"), CODEBOOK)
    assert [str(p).replace(f"{tmp_path}/", "") for p in problems] == [
        "sources.csv, row 2, column 'date', value '2019-06-01': date is outside the study period 2020-04-01 to "
        "2021-03-31 (set in params/report.yml)",
        "sources.csv, row 3, column 'participant_role', value 'team_manager;parent': a roundtable is held with "
        "staff: 'parent' is not a role in it",
        "sources.csv, row 3, column 'participants', value '0': must be between 1 and 200",
        "sources.csv, row 4, column 'source_type', value 'case_discussion': a case discussion belongs to the "
        "authority whose case it discussed: list it in that authority's sources.csv, not in the study-wide file"]


# --- bounded output -------------------------------------------------------------------------------------

def test_problems_keep_the_first_of_each_kind_and_count_the_rest():
    log = Problems(limit=2)
    for row in (5, 3, 4, 9):
        log.add(Problem("a.csv", row, "age", "18", "must be between 0 and 17"))
    log.add(Problem("a.csv", 2, "gender", "7", "not a code"))
    log.add(Problem("b.csv", 2, "age", "18", "must be between 0 and 17"))
    assert [(p.file, p.row) for p in log.sorted()] == [("a.csv", 2), ("a.csv", 3), ("a.csv", 5), ("b.csv", 2)]
    assert log.more == {("a.csv", "age", "must be between 0 and 17"): 2}
    assert log.total == 6
    assert log.lines() == [
        "6 problem(s) found in the data (at most 2 of each kind in each file are listed):",
        "  a.csv, row 2, column 'gender', value '7': not a code",
        "  a.csv, row 3, column 'age', value '18': must be between 0 and 17",
        "  a.csv, row 5, column 'age', value '18': must be between 0 and 17",
        "  … and 2 more like this: must be between 0 and 17 (column 'age') in a.csv",
        "  b.csv, row 2, column 'age', value '18': must be between 0 and 17"]
    with pytest.raises(ValueError, match="at least 1"):
        Problems(limit=0)


def test_rule_kind_ignores_the_cells_details():
    """Problems whose text quotes another cell (the start date an end date precedes) are one kind."""
    log = Problems(limit=1)
    log.add(Problem("a.csv", 2, "plan_end_date", "2020-01-01", "before (2020-02-01)", kind="before"))
    log.add(Problem("a.csv", 3, "plan_end_date", "2020-01-01", "before (2020-03-01)", kind="before"))
    assert len(log) == 1 and log.more == {("a.csv", "plan_end_date", "before"): 1}


BAD_ROWS = 50_000


@pytest.fixture(scope="module")
def big_invalid(tmp_path_factory) -> Path:
    """The clean baseline with 50,000 rows appended to case_files.csv, each with two defects."""
    from cinreport_dev.validate_bench import write_invalid_case_files

    project = copy_clean(tmp_path_factory.mktemp("big"))
    shutil.copy(ROOT / "data" / "codebook.yml", project / "data" / "codebook.yml")
    assert write_invalid_case_files(project / "data/la-a/case_files.csv", rows=BAD_ROWS) == BAD_ROWS
    return project


@pytest.mark.slow
def test_many_bad_rows_give_the_first_n_of_each_rule_and_a_count(big_invalid):
    authority = load_authorities(big_invalid / "params", root=big_invalid)[0]
    path = f"{big_invalid}/data/la-a/case_files.csv"
    _, problems = validate_authority(authority, CODEBOOK, limit=20)
    ages = [p for p in problems if p.column == "age_at_plan_start"]
    genders = [p for p in problems if p.column == "gender"]
    assert [p.row for p in ages] == [p.row for p in genders] == list(range(8, 28))   # the first 20 bad rows
    assert str(ages[0]) == f"{path}, row 8, column 'age_at_plan_start', value '18': must be between 0 and 17"
    assert str(genders[0]).startswith(f"{path}, row 8, column 'gender', value '7': not a code in list 'gender'")
    assert len(problems) == 40 and problems.total == 2 * BAD_ROWS
    lines = problems.lines()
    assert lines[0] == (f"{2 * BAD_ROWS:,} problem(s) found in the data (at most 20 of each kind in each file are "
                        "listed):")
    assert f"  … and {BAD_ROWS - 20:,} more like this: must be between 0 and 17 (column 'age_at_plan_start') " \
           f"in {path}" in lines
    assert len(lines) == 1 + 40 + 2


@pytest.mark.slow
def test_cli_output_is_bounded_and_configurable(big_invalid):
    proc = _cli(big_invalid, "validate", "--max-per-rule", "3")
    assert proc.returncode == 1 and proc.stdout == ""
    err = proc.stderr.splitlines()
    assert err[0] == "100,000 problem(s) found in the data (at most 3 of each kind in each file are listed):"
    assert err[1] == ("  data/la-a/case_files.csv, row 8, column 'age_at_plan_start', value '18': must be between "
                      "0 and 17")
    assert err[-2:] == [
        "  … and 49,997 more like this: must be between 0 and 17 (column 'age_at_plan_start') in "
        "data/la-a/case_files.csv",
        "  … and 49,997 more like this: not a code in list 'gender' (allowed: 1, 2, 0, 9) (column 'gender') in "
        "data/la-a/case_files.csv"]
    assert len(err) == 1 + 6 + 2 and len(proc.stderr) < 2_000   # 100,000 problems in under 2 kB


def test_bad_cells_lookup():
    import numpy as np

    from cinreport.data.validate import ALL_ROWS, BadCells
    bad = BadCells(np.array([2, 3, 5]), {"age": np.array([False, True, False])}, {"gender"})
    assert (3, "age") in bad and (2, "age") not in bad and (4, "age") not in bad and (9, "age") not in bad
    assert (2, "gender") in bad and (ALL_ROWS, "gender") in bad and (ALL_ROWS, "age") not in bad
    assert (3, "ethnicity") not in bad
    assert bad.rows("gender").all() and bad.rows("age").tolist() == [False, True, False]


# --- streaming: a file checked a chunk of rows at a time -----------------------------------------------

def test_key_index_first_lines_payload_and_lookup():
    import numpy as np

    from cinreport.data.validate import KeyIndex

    long = "L" * 70   # kept in the dict, not the bytes array
    index = KeyIndex("datetime64[s]")
    first = index.add(["b", "a", "", "b", long, "é"], [2, 3, 4, 5, 6, 7])
    assert first.tolist() == [2, 3, 0, 2, 6, 7]
    index.set_payload(["b", "a", "b", long], np.array(["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04"],
                                                       dtype="datetime64[s]"))
    first = index.add(["a", "abcdefghijklmnop", long, "é", "c\0", "c"], [8, 9, 10, 11, 12, 13])
    assert first.tolist() == [3, 9, 6, 7, 12, 13]   # a longer value widens the array; NUL is told from none
    assert len(index) == 7
    found, starts = index.lookup(["a", "b", "x", long, "", "c\0", "c", "abcdefghijklmnop"])
    assert found.tolist() == [True, True, False, True, False, True, True, True]
    assert np.datetime_as_string(starts[:4], unit="D").tolist() == ["2020-01-02", "2020-01-03", "NaT", "2020-01-04"]


def _grow_clean(project: Path) -> None:
    """Rows that make every rule across rows and files span chunks: ids repeated far apart (also a
    long one and one with a non-ASCII letter), services of cases listed late, of unknown cases, and
    referred long before the start of a case whose id is repeated (the last row's start counts)."""
    folder = project / "data" / "la-a"
    cases = (folder / "case_files.csv").read_text(encoding="utf-8").splitlines()
    header = cases[0].split(",")
    template = cases[1].split(",")
    out = []
    for i in range(60):
        row = list(template)
        row[header.index("case_id")] = {7: "LAA-C002", 19: "X" * 70, 31: "Ré-1", 44: "Ré-1", 52: "X" * 70}.get(
            i, f"NEW-{i:03d}")
        if i % 9 == 0:
            row[header.index("age_at_plan_start")] = "18"
        if i == 50:
            row[header.index("case_id")] = "NEW-010"
            row[header.index("plan_start_date")] = "2021-03-01"
        out.append(",".join(row))
    (folder / "case_files.csv").write_text("\n".join(cases + out) + "\n", encoding="utf-8")
    support = (folder / "support.csv").read_text(encoding="utf-8").splitlines()
    sheader = support[0].split(",")
    srow = support[1].split(",")
    more = []
    for i, case in enumerate(["NEW-059", "NEW-010", "NOPE-1", "Ré-1", "X" * 70, "NEW-001", "LAA-C002"]):
        row = list(srow)
        row[sheader.index("support_id")] = f"S-NEW-{i}"
        row[sheader.index("case_id")] = case
        row[sheader.index("referral_date")] = "2020-01-15"
        row[sheader.index("start_date")] = "2020-01-20"
        more.append(",".join(row))
    more.append(",".join(support[1].split(",")))   # a repeated support_id
    (folder / "support.csv").write_text("\n".join(support + more) + "\n", encoding="utf-8")


@pytest.mark.parametrize("limit", [None, 2])
@pytest.mark.slow
def test_chunks_give_the_problems_of_the_whole_file(tmp_path, limit):
    project = copy_clean(tmp_path)
    _grow_clean(project)
    authority = load_authorities(project / "params", root=project)[0]
    _, whole = validate_authority(authority, CODEBOOK, limit=limit, chunk_rows=None)
    rules = {p.rule.split(":")[0] for p in whole}
    assert {"duplicate", "identifier longer than 20 characters"} <= rules   # what the rows were made to break
    assert any(p.rule.startswith("no case with this case_id") for p in whole)
    assert any(p.rule.startswith("referral date is more than a year before") for p in whole)
    for rows in (1, 7, 16):
        _, chunked = validate_authority(authority, CODEBOOK, limit=limit, chunk_rows=rows)
        assert list(chunked) == list(whole) and chunked.more == whole.more and chunked.total == whole.total


@pytest.mark.slow
def test_chunks_give_the_tables_of_the_whole_file():
    demo = next(a for a in load_authorities(ROOT / "params", root=ROOT) if a.code == "la-a")
    whole, none = validate_authority(demo, CODEBOOK, chunk_rows=None)
    assert none == [] and set(whole) >= {"case_files", "support", "admin", "themes"}
    chunked, none = validate_authority(demo, CODEBOOK, chunk_rows=37)
    assert none == [] and list(chunked) == list(whole)
    for name in whole:
        pd.testing.assert_frame_equal(chunked[name], whole[name], check_exact=True)
    assert validate_authority(demo, CODEBOOK, keep_tables=False)[0] == {}


@pytest.mark.slow
def test_invalid_data_give_no_tables(big_invalid):
    """The rows of an invalid file are not kept (the tables would not be used)."""
    authority = load_authorities(big_invalid / "params", root=big_invalid)[0]
    tables, problems = validate_authority(authority, CODEBOOK, chunk_rows=10_000)
    assert tables == {} and problems.total == 2 * BAD_ROWS


def test_not_utf8_after_a_byte_order_mark_names_the_byte_and_line(tmp_path):
    from cinreport.data.validate import read_file

    path = tmp_path / "themes.csv"
    path.write_bytes(b"\xef\xbb\xbfsource_id,source_type,theme,segments\nFG1,focus_group,waits,3\nFG2,foc\xe9,waits,1\n")
    read = read_file(path, CODEBOOK.files["themes"])
    assert not read.readable
    assert [(p.row, p.value) for p in read.problems] == [(3, "\\xe9")]
