"""The reader of DfE open-data CSV files (cinreport.national.dfe).

Three groups: small hand-made files in ``tests/dfe_files/`` (every symbol, blank vs 0 vs symbol,
number formats, BOM + CRLF, a metadata file, each malformed layout with its exact message); the
real DfE files in the ``shared/data/dfe`` folder beside the checkout, checked against independent
counts made here with the csv module (skipped when that folder is absent); and fetch_files against
a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import csv
import functools
import http.server
import math
import shutil
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from cinreport.national import dfe
from cinreport.national.dfe import (
    DfEFetchError,
    DfEFormatError,
    fetch_files,
    read_dfe_csv,
    read_header,
    read_statistical_neighbours,
)

FILES = Path(__file__).resolve().parent / "dfe_files"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "dfe"

# The DfE open-data standards' symbols, with the older conventions still met in published files.
DFE_SYMBOLS = {"c", "x", "z", "low", "u", "k", "~", ":", ".."}
STANDARD_FILES = [
    "b1_children_in_need_2013_to_2025.csv",
    "b3_cin_primary_need_2013_to_2024.csv",
    "b4_children_in_need_duration_of_open_episode_2013_to_2024.csv",
    "b7_child_in_need_plans_2022_to_2024.csv",
    "c3_factors_identified_at_end_of_assessment_2018_to_2025.csv",
    "d5_cpps_at31march_by_duration_2013_to_2025.csv",
    "ons_mid-year_population_estimates_2012_to_2024.csv",
]
OTHER_FILES = [
    "IoD2019_IDACI_upper_tier_LA_summary.csv",
    "LTLA-UTLA_Apr23_Lookup_England-Wales.csv",
    "New_Statistical_Neighbour_Groupings_April_2021.csv",
]
NOT_LAYOUT = ("is not in the DfE open-data layout: missing column(s) time_period, time_identifier, "
              "geographic_level, country_code, country_name")


def error_of(path, **kwargs) -> str:
    """The message of the DfEFormatError that reading ``path`` raises."""
    with pytest.raises(DfEFormatError) as info:
        read_dfe_csv(path, **kwargs)
    return str(info.value)


def column(table: dfe.DfETable, name: str) -> list:
    """A column as a plain list, with <NA>/NaN as None (for exact comparisons)."""
    return [None if pd.isna(v) else v for v in table.data[name]]


# --------------------------------------------------------------------------------------------
# The constants follow the DfE open data standards


def test_symbols_cover_the_standard_and_older_conventions():
    assert set(dfe.SYMBOLS) == DFE_SYMBOLS
    assert all(meaning.strip() for meaning in dfe.SYMBOLS.values())
    assert "suppress" in dfe.SYMBOLS["c"] and "not applicable" in dfe.SYMBOLS["z"]


def test_standard_columns():
    assert dfe.TIME_COLUMNS == ("time_period", "time_identifier")
    for name in ("geographic_level", "country_code", "country_name", "region_code", "region_name",
                 "old_la_code", "new_la_code", "la_name", "lad_code", "pcon_code"):
        assert name in dfe.GEOGRAPHY_COLUMNS
    for level in ("National", "Regional", "Local authority", "Local authority district",
                  "Parliamentary constituency", "Local skills improvement plan area", "Ward",
                  "English devolved area", "MAT", "Sponsor", "School", "Provider"):
        assert level in dfe.GEOGRAPHIC_LEVELS
    for required in dfe.GEOGRAPHIC_LEVELS.values():
        assert set(required) <= set(dfe.GEOGRAPHY_COLUMNS)
    assert "Reporting year" in dfe.FOUR_DIGIT_IDENTIFIERS
    assert {"Academic year", "Financial year"} <= set(dfe.SIX_DIGIT_IDENTIFIERS)
    assert not set(dfe.FOUR_DIGIT_IDENTIFIERS) & set(dfe.SIX_DIGIT_IDENTIFIERS)


# --------------------------------------------------------------------------------------------
# Hand-made files: what is read


def test_every_symbol_is_kept_and_distinct_from_numbers():
    table = read_dfe_csv(FILES / "symbols.csv")
    assert table.filters == ("category",)
    assert table.indicators == ("children_count", "rate_per_10000")
    assert table.status("children_count").tolist() == [
        "value", "c", "x", "z", "low", "k", "~", "u"]
    assert table.status("rate_per_10000").tolist() == [
        "value", "c", "x", "z", "low", "u", ":", "value"]
    count = table.value("children_count")
    assert count.dtype == "float64"
    assert count.iloc[0] == 1000 and count.iloc[1:].isna().all()
    assert column(table, "rate_per_10000") == [10.5, None, None, None, None, None, None, 0.0]
    assert [None if pd.isna(s) else s for s in table.symbols["rate_per_10000"]] == [
        None, "c", "x", "z", "low", "u", ":", None]
    assert set(table.symbols.stack().dropna()) == DFE_SYMBOLS - {".."}   # the fixture predates '..'


def test_blank_zero_and_symbol_are_three_different_things():
    table = read_dfe_csv(FILES / "blank_zero_symbol.csv")
    # lines: 0, blank, c, quoted empty "", " 0 " with spaces
    assert table.status("children_count").tolist() == ["value", "missing", "c", "missing", "value"]
    assert column(table, "children_count") == [0.0, None, None, None, 0.0]
    assert table.symbols["children_count"].isna().tolist() == [True, True, False, True, True]


def test_number_formats():
    table = read_dfe_csv(FILES / "numbers.csv")
    assert column(table, "children_count") == [1234.0, 1234567.5, -1000.0, 7.0, 42.0, 7.0]
    assert column(table, "rate_per_10000") == [-2.5, 0.5, 3.0, 0.0, 1000.0, -0.25]
    assert (table.status("children_count") == "value").all()


def test_bom_crlf_quoted_blanks_and_codes_as_text():
    table = read_dfe_csv(FILES / "bom_crlf.csv")
    assert list(table.data.columns[:2]) == ["time_period", "time_identifier"]  # no BOM in the name
    assert list(table.data.index) == [2, 3, 4, 5]
    assert table.data.index.name == "line"
    assert column(table, "region_code") == [None, "E12000005", "E12000005", "E12000001"]
    assert column(table, "old_la_code") == [None, None, "884", "841"]
    assert column(table, "la_name") == [None, None, "Herefordshire, County of", "Darlington"]
    assert column(table, "children_count") == [100.0, 20.0, None, 5.0]
    assert table.status("rate_per_10000").tolist() == ["value", "value", "value", "missing"]
    assert column(table, "time_period") == ["2024"] * 4
    for name in ("time_period", "old_la_code", "new_la_code", "category"):
        assert isinstance(table.data[name].dtype, pd.StringDtype)


def test_level_period_and_latest():
    table = read_dfe_csv(FILES / "symbols.csv")
    las = table.level("Local authority")
    assert column(las, "old_la_code") == ["841", "840", "390", "805", "806", "391"]
    assert list(las.symbols.index) == list(las.data.index) == [4, 5, 6, 7, 8, 9]
    assert las.status("children_count").tolist() == ["x", "z", "low", "k", "~", "u"]
    assert len(table.level("Regional").data) == 1
    assert len(table.level("Ward").data) == 0
    with pytest.raises(ValueError, match="'Local Authority' is not a DfE geographic level"):
        table.level("Local Authority")
    assert table.periods()[-1] == "2024"

    academic = read_dfe_csv(FILES / "with_meta.csv")
    assert academic.periods() == ["202324", "202425"]
    assert len(academic.period("202324").data) == 3


def test_long_form_keeps_value_and_status():
    table = read_dfe_csv(FILES / "symbols.csv")
    long = table.long()
    assert len(long) == 8 * 2
    assert list(long.columns[:3]) == ["line", "time_period", "time_identifier"]
    assert list(long.columns[-3:]) == ["indicator", "value", "status"]
    rate = long[long["indicator"] == "rate_per_10000"]
    assert rate["line"].tolist() == list(range(2, 10))
    assert rate["status"].tolist() == ["value", "c", "x", "z", "low", "u", ":", "value"]
    assert rate["value"].iloc[0] == 10.5 and rate["value"].iloc[-1] == 0.0
    assert rate["value"].iloc[1:7].isna().all()
    one = table.level("Regional").long(["children_count"])
    assert one[["line", "region_name", "status"]].values.tolist() == [[3, "North East", "c"]]
    with pytest.raises(KeyError):
        table.long(["category"])
    assert "8 rows" in repr(table) and "2 indicators" in repr(table)


def test_unknown_indicator_is_named():
    table = read_dfe_csv(FILES / "symbols.csv")
    with pytest.raises(KeyError, match="'category' is not an indicator"):
        table.value("category")


def test_metadata_file_decides_filters_and_indicators(tmp_path):
    table = read_dfe_csv(FILES / "with_meta.csv")
    assert table.filters == ("age",)
    assert table.indicators == ("children_count", "children_percent")
    assert column(table, "age") == ["0", "5", "10", "0"]
    assert table.labels["children_percent"] == "Percentage of children"
    assert table.status("children_percent").tolist() == ["value", "c", "value", "x"]
    # the same data without its metadata file: 'age' holds only numbers, so it is read as one
    shutil.copy(FILES / "with_meta.csv", tmp_path / "no_meta.csv")
    inferred = read_dfe_csv(tmp_path / "no_meta.csv")
    assert inferred.filters == ()
    assert inferred.indicators == ("age", "children_count", "children_percent")
    # stating the indicators overrides both
    stated = read_dfe_csv(tmp_path / "no_meta.csv", indicators=["children_count"])
    assert stated.filters == ("age", "children_percent")
    assert stated.indicators == ("children_count",)
    assert read_dfe_csv(tmp_path / "no_meta.csv", indicators="children_count").indicators == (
        "children_count",)


def test_bad_metadata_file_is_named(tmp_path):
    shutil.copy(FILES / "with_meta.csv", tmp_path / "d.csv")
    meta = tmp_path / "d.meta.csv"
    meta.write_text("col_name,col_type,label\nage,Filter,Age\npupils,Indicator,Pupils\n")
    assert error_of(tmp_path / "d.csv") == (
        f"{meta}, line 3, column 'col_name', value 'pupils': names a column that the data file "
        "does not have")
    meta.write_text("col_name,col_type,label\nage,Measure,Age\n")
    assert error_of(tmp_path / "d.csv") == (
        f"{meta}, line 2, column 'col_type', value 'Measure': col_type must be Filter or Indicator")
    meta.write_text("col_name,label\nage,Age\n")
    assert error_of(tmp_path / "d.csv") == (
        f"{meta}: is not an EES metadata file: missing column col_type")
    # the metadata's indicators are held to numbers and symbols, like stated ones
    data = tmp_path / "d.csv"
    data.write_text(data.read_text().replace(",10,180,", ",ten,180,"))
    meta.write_text("col_name,col_type\nage,Indicator\n")
    assert error_of(data) == (
        f"{data}, line 4, column 'age', value 'ten': not a number or a DfE symbol "
        "(c, x, z, low, u, k, ~, :, ..)")


def test_a_stated_indicator_must_hold_numbers_or_symbols():
    path = FILES / "unknown_symbol.csv"
    assert error_of(path, indicators=["children_count"]) == (
        f"{path}, line 3, column 'children_count', value 'n/a': not a number or a DfE symbol "
        "(c, x, z, low, u, k, ~, :, ..)")
    # left to itself, the reader takes a column with text in it for a filter
    table = read_dfe_csv(path)
    assert table.filters == ("category", "children_count")
    assert column(table, "children_count") == ["1", "n/a", "c"]
    assert error_of(path, indicators=["pupils"]) == (
        f"{path}: stated indicator column(s) not in the file: pupils")
    assert error_of(path, indicators=["la_name"]) == (
        f"{path}: standard time/geography column(s) cannot be indicators: la_name")


# --------------------------------------------------------------------------------------------
# Hand-made files: each malformed layout, with its exact message


@pytest.mark.parametrize("name, expected", [
    ("missing_columns.csv",
     ": is not in the DfE open-data layout: missing column(s) time_identifier, country_name"),
    ("bad_time_period.csv",
     ", line 3, column 'time_period', value '2024/25': time_identifier 'Reporting year' needs a "
     "4-digit year such as 2024"),
    ("bad_academic_year.csv",
     ", line 3, column 'time_period', value '202325': time_identifier 'Academic year' needs two "
     "consecutive years as 6 digits such as 202324"),
    ("unknown_time_identifier.csv",
     ", line 3, column 'time_identifier', value 'Reporting Year': not a DfE time_identifier (e.g. "
     "'Reporting year', 'Academic year', 'Financial year', 'Calendar year')"),
    ("unknown_level.csv",
     ", line 4, column 'geographic_level', value 'Local Authority': not a DfE geographic level; "
     "one of: " + ", ".join(dfe.GEOGRAPHIC_LEVELS)),
    ("ragged_row.csv", ", line 3: row has 14 fields but the header has 13"),
    ("duplicate_column.csv",
     ", line 1, column 'children_count': duplicate column name (columns 12 and 13)"),
    ("empty.csv", ": is empty: a DfE open-data CSV file has a header and rows"),
    ("header_only.csv", ": has a header but no data rows"),
    ("level_columns_missing.csv",
     ", line 4, column 'geographic_level', value 'Local authority': rows at this level need "
     "column(s) old_la_code, new_la_code, la_name, which the file lacks"),
    ("html.csv", ": looks like an HTML or XML page, not a CSV file"),
    ("latin1.csv", ": is not UTF-8 text (byte 0xe9 at offset {e9}); save it as CSV UTF-8"),
])
def test_malformed_file_gives_exact_message(name, expected):
    path = FILES / name
    message = error_of(path)
    offset = path.read_bytes().find(b"\xe9")  # where the Latin-1 byte sits, for latin1.csv
    assert message == f"{path}{expected}".replace("{e9}", str(offset))


def test_error_carries_its_parts():
    with pytest.raises(DfEFormatError) as info:
        read_dfe_csv(FILES / "bad_time_period.csv")
    err = info.value
    assert (err.file, err.line, err.column, err.value) == (
        str(FILES / "bad_time_period.csv"), 3, "time_period", "2024/25")
    assert isinstance(err, ValueError)


def test_line_numbers_count_blank_lines_and_multiline_cells(tmp_path):
    text = (FILES / "symbols.csv").read_text().splitlines()
    lines = [text[0], text[1], "", text[2].replace("North East", '"North\nEast"', 1),
             text[3].replace("Reporting year", "Reporting Year")]
    path = tmp_path / "odd.csv"
    path.write_text("\n".join(lines) + "\n")
    # header 1, national 2, blank 3, regional 4-5 (a quoted line break), then the bad row on 6
    assert error_of(path) == (
        f"{path}, line 6, column 'time_identifier', value 'Reporting Year': not a DfE "
        "time_identifier (e.g. 'Reporting year', 'Academic year', 'Financial year', "
        "'Calendar year')")


def test_binary_and_utf16_files(tmp_path):
    path = tmp_path / "utf16.csv"
    path.write_text((FILES / "symbols.csv").read_text(), encoding="utf-16")
    assert error_of(path) == f"{path}: is a binary file (or UTF-16 text), not a UTF-8 CSV file"


def test_unreadable_csv_and_missing_file(tmp_path):
    path = tmp_path / "quote.csv"
    path.write_text((FILES / "symbols.csv").read_text() + '2024,"Reporting year,National\n')
    assert error_of(path).startswith(f"{path}, line 10: is not a readable CSV file (")
    assert error_of(tmp_path / "absent.csv") == f"{tmp_path / 'absent.csv'}: does not exist"


# --------------------------------------------------------------------------------------------
# Statistical neighbours (hand-made)


def sn_rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def test_statistical_neighbours_small_file():
    sn = read_statistical_neighbours(FILES / "statistical_neighbours.csv")
    assert list(sn.columns) == ["old_la_code", "la_name", "region", "neighbours", "closeness",
                                "superseded"]
    assert len(sn) == 12
    bristol = sn[sn["old_la_code"] == "801"].iloc[0]
    assert bristol["la_name"] == "Bristol" and bristol["region"] == "South West"
    assert bristol["neighbours"] == ("802", "803", "866", "878", "879", "880", "865", "908", "916",
                                     "838")
    assert bristol["closeness"][0] == "Extremely Close" and len(bristol["closeness"]) == 10
    assert sn[sn["superseded"]]["old_la_code"].tolist() == ["835"]
    assert sn["old_la_code"].dtype == "string"


@pytest.mark.parametrize("change, expected", [
    (lambda rows: rows[0].__setitem__(5, "Neighbour 1"),
     ", line 1: is not a statistical neighbour file: the header must be LA num, LA Name, "
     "LA number, GOInd, GOReg, then SN1, SNP ... SN10, SNP"),
    (lambda rows: rows[2].__setitem__(7, "999"),
     ", line 3, column 'SN2', value '999': neighbour is not an authority of this file"),
    (lambda rows: rows[2].__setitem__(0, "82"),
     ", line 3, column 'LA num', value '82': not a 3-digit LA number"),
    (lambda rows: rows[3].__setitem__(2, "801"),
     ", line 4, column 'LA number', value '801': differs from 'LA num' (803)"),
    (lambda rows: rows[4].__setitem__(6, ""),
     ", line 5, column 'SNP', value '': blank closeness label for SN1"),
    (lambda rows: rows[5].__setitem__(5, rows[5][0]),
     ", line 6, column 'SN1', value '878': an authority cannot be its own neighbour"),
    (lambda rows: rows.__setitem__(6, rows[2]),
     ", line 7, column 'LA num', value '802': authority listed twice"),
    (lambda rows: rows[6].append("extra"),
     ", line 7: row has 27 fields but the header has 26"),
])
def test_statistical_neighbours_malformed(tmp_path, change, expected):
    rows = sn_rows(FILES / "statistical_neighbours.csv")
    change(rows)
    path = tmp_path / "sn.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    with pytest.raises(DfEFormatError) as info:
        read_statistical_neighbours(path)
    assert str(info.value) == f"{path}{expected}"


def test_statistical_neighbours_rejects_a_dfe_data_file():
    path = FILES / "symbols.csv"
    with pytest.raises(DfEFormatError, match="is not a statistical neighbour file"):
        read_statistical_neighbours(path)


# --------------------------------------------------------------------------------------------
# The real files in shared/data/dfe, against independent counts


@pytest.fixture(scope="module")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"the real DfE files are not here ({SHARED} is absent): they live in the "
                    "shared folder beside the checkout, not in the repository")
    return SHARED


def csv_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line number, cells) of every row, read with the csv module alone."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, [(reader.line_num, row) for row in reader]


def test_every_shared_file_is_known(shared):
    assert sorted(p.name for p in shared.glob("*.csv")) == sorted(STANDARD_FILES + OTHER_FILES)


@pytest.mark.parametrize("name", STANDARD_FILES)
def test_real_file_rows_and_levels(shared, name):
    header, rows = csv_rows(shared / name)
    table = read_dfe_csv(shared / name)
    level = header.index("geographic_level")
    assert len(table.data) == len(rows)
    assert list(table.data.index) == [line for line, _ in rows]
    assert table.data["geographic_level"].value_counts().to_dict() == dict(
        Counter(row[level] for _, row in rows))
    for lvl, n in Counter(row[level] for _, row in rows).items():
        assert len(table.level(lvl).data) == n
    assert table.periods()[-1] == str(max(int(row[0]) for _, row in rows))
    # these files hold one filter (category / age_group) after the geography, then indicators
    assert header[:10] == ["time_period", "time_identifier", "geographic_level", "country_code",
                           "country_name", "region_code", "region_name", "old_la_code",
                           "new_la_code", "la_name"]
    assert table.filters == (header[10],)
    assert table.indicators == tuple(header[11:])


@pytest.mark.parametrize("name", STANDARD_FILES)
def test_real_file_symbols_all_preserved(shared, name):
    header, rows = csv_rows(shared / name)
    table = read_dfe_csv(shared / name)
    expected = Counter((header[i], cell) for _, row in rows for i, cell in enumerate(row)
                       if i >= 11 and cell.strip() in DFE_SYMBOLS)
    stacked = table.symbols.stack().dropna()
    found = Counter((col, sym) for (_, col), sym in stacked.items())
    assert found == expected
    assert sum(expected.values()) > 0
    for ind in table.indicators:
        status = table.status(ind)
        assert (status == "value").sum() == table.value(ind).notna().sum()
        blanks = sum(1 for _, row in rows if row[header.index(ind)].strip() == "")
        assert (status == "missing").sum() == blanks


@pytest.mark.parametrize("name", STANDARD_FILES)
def test_real_file_values_equal_the_text(shared, name):
    header, rows = csv_rows(shared / name)
    table = read_dfe_csv(shared / name)
    checked = 0
    for line, row in rows[::10]:
        for i in range(11, len(header)):
            text, got = row[i].strip(), table.data.at[line, header[i]]
            if text in DFE_SYMBOLS:
                assert math.isnan(got) and table.symbols.at[line, header[i]] == text
            else:
                assert got == float(text.replace(",", "")), (name, line, header[i])
                checked += 1
    assert checked > 100
    for i in range(11):  # time, geography and the filter: the text itself, blanks as <NA>
        expected = [row[i].strip() or None for _, row in rows]
        assert column(table, header[i]) == expected, header[i]


def test_real_la_codes_are_text_and_code_changes_kept(shared):
    header, rows = csv_rows(shared / STANDARD_FILES[0])
    table = read_dfe_csv(shared / STANDARD_FILES[0])
    las = table.level("Local authority").data
    assert las["old_la_code"].str.fullmatch(r"\d{3}").all()
    pairs = las.groupby("old_la_code")["new_la_code"].nunique()
    old, new = header.index("old_la_code"), header.index("new_la_code")
    by_old: dict[str, set] = {}
    for _, row in rows:
        if row[old]:
            by_old.setdefault(row[old], set()).add(row[new])
    assert sorted(pairs[pairs > 1].index) == sorted(k for k, v in by_old.items() if len(v) > 1)


@pytest.mark.parametrize("name", OTHER_FILES)
def test_real_files_not_in_the_layout_are_refused(shared, name):
    path = shared / name
    assert error_of(path) == f"{path}: {NOT_LAYOUT}"


def test_real_statistical_neighbours(shared):
    path = shared / "New_Statistical_Neighbour_Groupings_April_2021.csv"
    sn = read_statistical_neighbours(path)
    rows = sn_rows(path)
    expected, superseded = [], False
    for row in rows[1:]:
        if row[1].strip() == "Old SNs:":
            superseded = True
        if row[0].strip():
            expected.append((row[0], row[1], row[4], tuple(row[5:25:2]), tuple(row[6:25:2]),
                             superseded))
    got = list(zip(sn["old_la_code"], sn["la_name"], sn["region"], sn["neighbours"],
                   sn["closeness"], sn["superseded"]))
    assert got == expected
    assert sn["old_la_code"].is_unique


# --------------------------------------------------------------------------------------------
# fetch_files against a real server on 127.0.0.1


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/slow.csv":
            time.sleep(2)
        return super().do_GET()

    def log_message(self, *args):  # keep test output quiet
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # the client gave up on /slow.csv: fine
        pass


@pytest.fixture()
def server(tmp_path, monkeypatch):
    """A real HTTP server on 127.0.0.1 serving tmp_path/site; yields its base URL."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")  # a proxy in the environment is bypassed
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(FILES / "symbols.csv", site / "good.csv")
    shutil.copy(FILES / "numbers.csv", site / "other.csv")
    shutil.copy(FILES / "missing_columns.csv", site / "notdfe.csv")
    shutil.copy(FILES / "symbols.csv", site / "slow.csv")
    httpd = _Server(("127.0.0.1", 0), functools.partial(_Handler, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture()
def dest(tmp_path) -> Path:
    folder = tmp_path / "dest"
    folder.mkdir()
    (folder / "b1.csv").write_text("the last good copy\n")
    return folder


def only_old_copy(folder: Path) -> bool:
    """Nothing but the last good copy in ``folder`` (no temporary files left either)."""
    return (sorted(p.name for p in folder.iterdir()) == ["b1.csv"]
            and (folder / "b1.csv").read_text() == "the last good copy\n")


def test_fetch_success(server, dest):
    written = fetch_files({"b1.csv": f"{server}/good.csv", "n.csv": f"{server}/other.csv"}, dest)
    assert written == [dest / "b1.csv", dest / "n.csv"]
    assert (dest / "b1.csv").read_bytes() == (FILES / "symbols.csv").read_bytes()
    assert (dest / "n.csv").read_bytes() == (FILES / "numbers.csv").read_bytes()
    assert sorted(p.name for p in dest.iterdir()) == ["b1.csv", "n.csv"]
    assert read_dfe_csv(dest / "b1.csv").status("children_count").iloc[1] == "c"


def test_fetch_creates_the_folder(server, tmp_path):
    target = tmp_path / "new" / "folder"
    assert fetch_files({"b1.csv": f"{server}/good.csv"}, target) == [target / "b1.csv"]


def test_fetch_404_names_the_url_and_keeps_the_old_file(server, dest):
    url = f"{server}/absent.csv"
    with pytest.raises(DfEFetchError) as info:
        fetch_files({"b1.csv": url}, dest)
    assert str(info.value) == f"{url}: the server answered HTTP 404 File not found"
    assert only_old_copy(dest)


def test_fetch_connection_refused(dest):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/b1.csv"
    with pytest.raises(DfEFetchError) as info:
        fetch_files({"b1.csv": url}, dest, timeout=5)
    assert str(info.value).startswith(f"{url}: could not connect (")
    assert "refused" in str(info.value).lower()
    assert only_old_copy(dest)


def test_fetch_body_not_in_the_layout_keeps_the_old_file(server, dest):
    url = f"{server}/notdfe.csv"
    with pytest.raises(DfEFormatError) as info:
        fetch_files({"b1.csv": url}, dest)
    assert str(info.value) == (f"{url}: is not in the DfE open-data layout: missing column(s) "
                               "time_identifier, country_name")
    assert only_old_copy(dest)


def test_fetch_is_all_or_nothing(server, dest):
    with pytest.raises(DfEFetchError):
        fetch_files({"b1.csv": f"{server}/good.csv", "c3.csv": f"{server}/absent.csv"}, dest)
    assert only_old_copy(dest)


def test_fetch_timeout_names_the_url(server, dest):
    url = f"{server}/slow.csv"
    start = time.perf_counter()
    with pytest.raises(DfEFetchError) as info:
        fetch_files({"b1.csv": url}, dest, timeout=0.5)
    assert time.perf_counter() - start < 1.9
    assert str(info.value).startswith(f"{url}: ")
    assert "timed out" in str(info.value)
    assert only_old_copy(dest)


@pytest.mark.parametrize("name", ["../b1.csv", "a/b.csv", "", ".."])
def test_fetch_refuses_names_that_are_not_plain_file_names(dest, name):
    with pytest.raises(ValueError, match="is not a plain file name"):
        fetch_files({name: "http://127.0.0.1:1/x.csv"}, dest)
    assert only_old_copy(dest)


def test_fetch_refuses_other_schemes(dest):
    with pytest.raises(DfEFetchError, match=r"^file:///etc/passwd: only http and https"):
        fetch_files({"b1.csv": "file:///etc/passwd"}, dest)


def test_levels_keeps_the_rows_of_several_levels(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("time_period,time_identifier,geographic_level,country_code,country_name,region_code,"
                    "region_name,n\n2024,Reporting year,National,E92000001,England,,,5\n"
                    "2024,Reporting year,Regional,E92000001,England,E12000001,North East,c\n")
    table = dfe.read_dfe_csv(path)
    both = table.levels("National", "Regional")
    assert list(both.status("n")) == ["value", "c"]
    assert list(table.levels("National").value("n")) == [5.0]
    with pytest.raises(ValueError, match="'County' is not a DfE geographic level"):
        table.levels("National", "County")


def test_older_gss_not_available_symbol_is_a_symbol(tmp_path):
    text = (FILES / "symbols.csv").read_text().splitlines()
    path = tmp_path / "dots.csv"
    path.write_text("\n".join(text[:2] + [text[2].replace(",c,c", ",..,..")]) + "\n")
    table = read_dfe_csv(path)
    assert table.status("children_count").tolist() == ["value", ".."]
    assert ".." in set(table.symbols.stack().dropna()) and "not available" in dfe.SYMBOLS[".."]


@pytest.mark.parametrize("cell, hint", [("24.7%", "remove the '%'"), ("C", "lower case ('c')"),
                                        ("N/A", None), ("-", None), ("LOW", "lower case ('low')")])
def test_stray_cell_in_a_stated_indicator_names_line_column_value(tmp_path, cell, hint):
    text = (FILES / "symbols.csv").read_text().splitlines()
    path = tmp_path / "stray.csv"
    path.write_text("\n".join(text[:3] + [text[3].replace(",x,x", f",{cell},x")]) + "\n")
    with pytest.raises(DfEFormatError) as err:
        read_dfe_csv(path, indicators=["children_count", "rate_per_10000"])
    assert (err.value.line, err.value.column, err.value.value) == (4, "children_count", cell)
    assert f"{path}, line 4, column 'children_count', value '{cell}': not a number or a DfE symbol" in str(err.value)
    if hint:
        assert hint in str(err.value)


def test_read_header_reads_only_the_header():
    assert read_header(FILES / "bom_crlf.csv")[:3] == ["time_period", "time_identifier", "geographic_level"]
