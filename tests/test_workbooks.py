"""Data files delivered as .xlsx workbooks: the same typed tables as the CSVs, and problems that
name the workbook's sheet and cell, on workbooks built here with typical spreadsheet damage."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
from openpyxl import Workbook, load_workbook

from cinreport import cli
from cinreport.data.codebook import load_codebook
from cinreport.data.config import Authority
from cinreport.data.sources import data_source
from cinreport.data.validate import validate_authority

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "la-a"
CODEBOOK = load_codebook(ROOT / "data" / "codebook.yml")
NAMES = ("case_files", "support", "admin", "themes", "sources")


def demo_rows(name: str) -> list[list[str]]:
    with open(DEMO / f"{name}.csv", encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def as_excel(name: str, rows: list[list[str]], floats: bool = False) -> list[list[object]]:
    """The demo rows as Excel holds them: whole numbers as numbers (floats if ``floats``), dates as
    date cells, blanks as empty cells, the rest as text."""
    spec = CODEBOOK.files[name]
    header, out = rows[0], [rows[0]]
    for row in rows[1:]:
        cells: list[object] = []
        for column, value in zip(header, row):
            kind = spec.column(column).type
            if value == "":
                cells.append(None)
            elif kind == "integer":
                cells.append(float(value) if floats else int(value))
            elif kind == "date":
                cells.append(dt.datetime.fromisoformat(value))
            else:
                cells.append(value)
        out.append(cells)
    return out


def save(path: Path, sheets: dict[str, list[list[object]]], hidden: tuple[str, ...] = ()) -> Path:
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, dt.datetime):
                    cell.number_format = "dd/mm/yyyy"
        if title in hidden:
            sheet.sheet_state = "hidden"
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def authority(folder: Path, workbook: str | None = None) -> Authority:
    return Authority("la-a", "Authority A", folder, dt.date(2019, 4, 1), dt.date(2021, 3, 31),
                     Path("params/authorities/la-a.yml"), workbook=workbook)


def demo_sheets(floats: bool = False) -> dict[str, list[list[object]]]:
    return {name: as_excel(name, demo_rows(name), floats) for name in NAMES}


def problems_of(folder: Path, workbook: str | None = None) -> list[str]:
    _, found = validate_authority(authority(folder, workbook), CODEBOOK)
    return [str(p).replace(f"{folder}/", "") for p in found]


def assert_same_tables(folder: Path, workbook: str | None = None) -> None:
    expected, none = validate_authority(authority(DEMO), CODEBOOK)
    assert none == []
    tables, problems = validate_authority(authority(folder, workbook), CODEBOOK)
    assert problems == []
    assert list(tables) == list(expected)
    for name in expected:
        pd.testing.assert_frame_equal(tables[name], expected[name], check_exact=True)


# --- good workbooks ------------------------------------------------------------------------------

def test_one_workbook_with_a_sheet_per_file_gives_the_csv_tables(tmp_path):
    save(tmp_path / "case-review.xlsx", demo_sheets())
    assert_same_tables(tmp_path)


def test_one_workbook_per_file_gives_the_csv_tables(tmp_path):
    for name, rows in demo_sheets().items():
        save(tmp_path / f"{name}.xlsx", {"Sheet1": rows})
    assert_same_tables(tmp_path)


def test_whole_numbers_stored_as_floats_are_read_as_whole_numbers(tmp_path):
    save(tmp_path / "book.xlsx", demo_sheets(floats=True))
    assert_same_tables(tmp_path)


def test_workbook_named_in_params_is_read_beside_other_workbooks(tmp_path):
    save(tmp_path / "data.xlsx", demo_sheets())
    save(tmp_path / "old-copy.xlsx", {"notes": [["nothing"]]})
    assert problems_of(tmp_path) == [
        f"{tmp_path}: several workbooks in {tmp_path} (data.xlsx, old-copy.xlsx): name the one holding the "
        "data sheets with 'workbook: <file>' in params/authorities/la-a.yml, or move the others away"]
    assert_same_tables(tmp_path, workbook="data.xlsx")


def test_blank_rows_and_columns_and_hidden_sheets_are_ignored(tmp_path):
    sheets = demo_sheets()
    sheets["case_files"] = ([[None] * 3, [None]] + [row + [None, None] for row in sheets["case_files"]]
                            + [[None] * 5, []])
    sheets["lookups"] = [["code", "label"], ["N1", "abuse"]]
    save(tmp_path / "book.xlsx", sheets, hidden=("lookups",))
    tables, problems = validate_authority(authority(tmp_path), CODEBOOK)
    assert problems == []
    expected, _ = validate_authority(authority(DEMO), CODEBOOK)
    assert tables["case_files"]["_line"].tolist() == [n + 2 for n in expected["case_files"]["_line"]]
    pd.testing.assert_frame_equal(tables["case_files"].drop(columns="_line"),
                                  expected["case_files"].drop(columns="_line"))


def test_date_formatted_serial_numbers_and_datetimes_become_iso_dates(tmp_path):
    sheets = demo_sheets()
    save(tmp_path / "book.xlsx", sheets)
    book = load_workbook(tmp_path / "book.xlsx")
    sheet = book["case_files"]
    cell = sheet["I2"]                      # plan_start_date of LAA-C001: 2019-06-15
    assert cell.value == dt.datetime(2019, 6, 15)
    cell.value = 43631                      # the same day as Excel's serial number, formatted as a date
    cell.number_format = "d-mmm-yy"
    book.save(tmp_path / "book.xlsx")
    assert_same_tables(tmp_path)


# --- damage, and problems that name the cell ------------------------------------------------------

def test_date_serial_in_a_cell_not_formatted_as_date_is_explained(tmp_path):
    sheets = demo_sheets()
    sheets["case_files"][1][8] = 43631      # I2, General format
    save(tmp_path / "book.xlsx", sheets)
    assert problems_of(tmp_path) == [
        "book.xlsx, case_files!I2, column 'plan_start_date', value '43631': a number (as an Excel date it "
        "would be 2019-06-15) in a cell not formatted as a date, so it is not read as one: format the column "
        "as dates in the spreadsheet, or type dates as YYYY-MM-DD"]


def test_fraction_in_a_whole_number_column_names_its_cell(tmp_path):
    sheets = demo_sheets(floats=True)
    sheets["case_files"][4][13] = 3.5       # visits of the fourth case, column N, row 5
    save(tmp_path / "book.xlsx", sheets)
    assert problems_of(tmp_path) == [
        "book.xlsx, case_files!N5, column 'visits', value '3.5': must be a whole number"]


def test_merged_header_cells_name_the_range(tmp_path):
    path = save(tmp_path / "case_files.xlsx", {"case_files": as_excel("case_files", demo_rows("case_files"))})
    for name in ("support", "admin", "themes"):
        shutil.copy(DEMO / f"{name}.csv", tmp_path)
    book = load_workbook(path)
    book["case_files"].merge_cells("I1:J1")     # "plan dates" over start and end
    book["case_files"]["I1"] = "plan dates"
    book.save(path)
    assert problems_of(tmp_path) == [
        "case_files.xlsx, sheet case_files, row 1: header cells I1:J1 are merged: unmerge them and give each "
        "column its own header, one of " + ",".join(demo_rows("case_files")[0])]


def test_merged_data_cells_are_one_problem_naming_the_range(tmp_path):
    sheets = demo_sheets()
    save(tmp_path / "book.xlsx", sheets)
    book = load_workbook(tmp_path / "book.xlsx")
    support = book["support"]
    assert support["B2"].value == support["B3"].value == "LAA-C001"
    support.merge_cells("B2:B5")                # one case id over its four services
    book.save(tmp_path / "book.xlsx")
    assert problems_of(tmp_path) == [
        "book.xlsx, support!B2, column 'case_id', value 'LAA-C001': cells B2:B5 are merged: unmerge them and "
        "fill in every cell (merged cells hold one value)"]


def test_trailing_total_row_is_rejected_and_left_out(tmp_path):
    sheets = demo_sheets()
    rows = sheets["themes"]
    rows.append(["Total", None, None, sum(r[3] for r in rows[1:])])
    save(tmp_path / "book.xlsx", sheets)
    line = len(rows)
    assert problems_of(tmp_path) == [
        f"book.xlsx, themes!A{line}, column 'source_id', value 'Total': a total row: the report makes its own "
        "totals from the rows, so delete it (it is left out of every other check)"]


def test_spreadsheet_error_value_is_explained(tmp_path):
    sheets = demo_sheets()
    sheets["admin"][3][6] = "#N/A"          # primary_need, G4
    save(tmp_path / "book.xlsx", sheets)
    assert problems_of(tmp_path) == [
        "book.xlsx, admin!G4, column 'primary_need', value '#N/A': the cell holds the spreadsheet error #N/A: "
        "correct the formula or type the value"]


def test_sheet_names_with_spaces_are_quoted_in_cell_references(tmp_path):
    sheets = {"Sheet 1": as_excel("themes", demo_rows("themes"))}
    sheets["Sheet 1"][2][3] = 0
    save(tmp_path / "themes.xlsx", sheets)
    for name in ("case_files", "support", "admin"):
        shutil.copy(DEMO / f"{name}.csv", tmp_path)
    assert problems_of(tmp_path) == [
        "themes.xlsx, 'Sheet 1'!D3, column 'segments', value '0': must be between 1 and 1000"]


def test_a_csv_and_a_sheet_for_the_same_file_is_an_error_naming_both(tmp_path):
    save(tmp_path / "book.xlsx", demo_sheets())
    shutil.copy(DEMO / "support.csv", tmp_path)
    assert problems_of(tmp_path) == [
        "support.csv: the support data are given twice, in support.csv and sheet 'support' of book.xlsx: "
        "keep only one"]


def test_hidden_sheet_named_after_a_file_is_an_error(tmp_path):
    save(tmp_path / "book.xlsx", demo_sheets(), hidden=("themes",))
    assert problems_of(tmp_path) == [
        "book.xlsx: sheet 'themes' is hidden: unhide it (Format > Hide & Unhide) if it holds the themes data, "
        "or rename it if it is an old copy"]


def test_a_file_that_is_not_a_workbook_is_named(tmp_path):
    save(tmp_path / "book.xlsx", {n: as_excel(n, demo_rows(n)) for n in ("case_files", "support", "admin")})
    (tmp_path / "themes.xlsx").write_text("source_id,source_type\n", encoding="utf-8")
    [problem] = problems_of(tmp_path)
    assert problem.startswith("themes.xlsx: not an Excel .xlsx workbook (")


# --- the build graph ---------------------------------------------------------------------------

def test_data_source_names_the_workbook_and_its_change_moves_the_authority_stamp(tmp_path, monkeypatch):
    project = tmp_path / "project"
    shutil.copytree(ROOT / "params", project / "params")
    (project / "data").mkdir()
    shutil.copy(ROOT / "data" / "codebook.yml", project / "data")
    for code in ("la-b", "la-c", "la-d"):
        shutil.copytree(ROOT / "data" / code, project / "data" / code)
    (project / "data" / "la-a").mkdir()
    book = save(project / "shared-review.xlsx", demo_sheets())     # outside the data folder, named in params
    params = project / "params" / "authorities" / "la-a.yml"
    params.write_text(params.read_text(encoding="utf-8") + "workbook: ../../shared-review.xlsx\n", encoding="utf-8")
    monkeypatch.chdir(project)
    monkeypatch.setenv("CINREPORT_NATIONAL_DIR", str(tmp_path / "no-national-data"))
    source = data_source(authority(Path("data/la-a"), "../../shared-review.xlsx"), CODEBOOK.files["support"])
    assert (source.kind, source.sheet) == ("xlsx", "support")
    assert source.path.resolve() == book.resolve()
    assert cli.main(["deps", "--out", "build/deps.mk"]) == 0
    stamp = project / "build" / "stamps" / "authority" / "la-a"
    before = stamp.read_text(encoding="utf-8")
    assert cli.main(["deps", "--out", "build/deps.mk"]) == 0
    assert stamp.read_text(encoding="utf-8") == before
    sheets = demo_sheets()
    sheets["themes"][1][3] = 12
    save(book, sheets)
    assert cli.main(["deps", "--out", "build/deps.mk"]) == 0
    assert stamp.read_text(encoding="utf-8") != before
    assert (project / "build" / "stamps" / "authority" / "la-b").is_file()
