"""Params files (params/report.yml, params/authorities/<code>.yml): loading, defaults and messages.

The one-defect cases with their exact messages are in the corpus (tests/broken/cases.yml); these
tests cover the rest: defaults, every problem reported at once, and YAML that is easy to get wrong.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from cinreport.data.config import (
    REPORT_DEFAULTS,
    Authority,
    ParamsError,
    ReportParams,
    load_authorities,
    load_authority,
    load_report,
)

ROOT = Path(__file__).resolve().parents[1]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def project(tmp_path) -> Path:
    """A minimal valid project: report.yml, two authorities and their (empty) data folders."""
    write(tmp_path / "params/report.yml", "period_start: 2020-04-01\nperiod_end: 2021-03-31\n")
    write(tmp_path / "params/authorities/la-a.yml", 'name: "Authority A"\ndata_dir: data/la-a\n')
    write(tmp_path / "params/authorities/la-b.yml",
          'name: "Authority B"\ndata_dir: data/la-b\nperiod_start: 2020-10-01\nregion: North East\n')
    (tmp_path / "data/la-a").mkdir(parents=True)
    (tmp_path / "data/la-b").mkdir(parents=True)
    return tmp_path


def problems(exc: pytest.ExceptionInfo, root: Path) -> list[str]:
    return [p.replace(f"{root}/", "") for p in exc.value.problems]


# --- what loads --------------------------------------------------------------------------------------

def test_repository_params_load():
    report = load_report(ROOT / "params")
    assert isinstance(report, ReportParams)
    assert report.period_start < report.period_end
    assert report.synthetic_data is True
    assert isinstance(report.seed, int)
    assert report.disclosure_threshold >= 1
    assert set(report.findings) == set(REPORT_DEFAULTS["findings"])
    authorities = load_authorities(ROOT / "params", root=ROOT)
    assert [a.code for a in authorities] == ["la-a", "la-b", "la-c", "la-d"]
    assert all(a.data_dir == ROOT / "data" / a.code for a in authorities)


def test_defaults_fill_optional_keys(project):
    report = load_report(project / "params")
    assert report.title == REPORT_DEFAULTS["title"]
    assert report.synthetic_data is False
    assert report.disclosure_threshold == 5 and report.disclosure_symbol == "c"
    assert report.findings["alpha"] == 0.05
    assert report.params_file == project / "params/report.yml"


def test_authority_period_defaults_to_the_report_period(project):
    a, b = load_authorities(project / "params", root=project)
    assert isinstance(a, Authority)
    assert (a.code, a.name, a.period_start, a.period_end) == ("la-a", "Authority A", dt.date(2020, 4, 1),
                                                              dt.date(2021, 3, 31))
    assert (b.period_start, b.period_end, b.region) == (dt.date(2020, 10, 1), dt.date(2021, 3, 31), "North East")
    assert a.data_dir == project / "data/la-a"
    assert a.params_file == project / "params/authorities/la-a.yml"


def test_byte_order_mark_and_crlf_are_accepted(project):
    (project / "params/report.yml").write_bytes(b"\xef\xbb\xbfperiod_start: 2020-04-01\r\nperiod_end: 2021-03-31\r\n")
    assert load_report(project / "params").period_end == dt.date(2021, 3, 31)


def test_quoted_dates_are_accepted(project):
    write(project / "params/report.yml", 'period_start: "2020-04-01"\nperiod_end: " 2021-03-31 "\n')
    assert load_report(project / "params").period_start == dt.date(2020, 4, 1)


def test_check_data_false_does_not_need_the_folder(project):
    path = write(project / "params/authorities/la-c.yml", "name: C\ndata_dir: data/la-c\n")
    report = load_report(project / "params")
    assert load_authority(path, report, root=project, check_data=False).data_dir == project / "data/la-c"
    with pytest.raises(ParamsError):
        load_authority(path, report, root=project)


# --- every problem at once, precise messages --------------------------------------------------------

def test_all_params_problems_are_reported_together(project):
    write(project / "params/report.yml",
          "period_start: 2020-04-01\nperiod_end: 2021-03-31\nfindings: {alpha: high, beta: 1}\n")
    write(project / "params/authorities/la-a.yml", 'name: "Authority A"\ndata_dir: data/la-a\ncolour: red\n')
    write(project / "params/authorities/la-b.yml", 'name: "Authority B"\ndata_dir: data/la-a\n')
    with pytest.raises(ParamsError) as exc:
        load_authorities(project / "params", root=project)
    assert problems(exc, project) == sorted([
        "params/report.yml: key 'findings.alpha' must be a number, found 'high'",
        "params/report.yml: unknown key 'findings.beta' (known keys: advice_share_large, alpha, completeness_gap, "
        "cramers_v_considerable, epsilon_squared_considerable, involvement_gap_points, mental_health_gap_share, "
        "mental_health_wait_days, min_cases_per_authority)",
        "params/authorities/la-a.yml: unknown key 'colour' (known keys: data_dir, name, new_la_code, period_end, "
        "period_start, region, workbook)",
        "params/authorities/la-b.yml: data_dir 'data/la-a' is also used by authority 'la-a'",
    ])
    assert str(exc.value).startswith("4 problem(s) in params:\n  - ")


def test_report_problems_do_not_hide_authority_problems(project):
    write(project / "params/report.yml", "period_start: 2020-04-01\n")
    write(project / "params/authorities/la-b.yml", 'name: "Authority B"\ndata_dir: data/nowhere\n')
    with pytest.raises(ParamsError) as exc:
        load_authorities(project / "params", root=project)
    # la-a relies on the report's period, which is broken: that is reported once, for report.yml.
    assert problems(exc, project) == [
        "params/authorities/la-b.yml: data_dir 'data/nowhere' does not exist (looked for "
        f"{project}/data/nowhere)".replace(f"{project}/", ""),
        "params/report.yml: required key 'period_end' is missing",
    ]


@pytest.mark.parametrize("text, expected", [
    ("- period_start\n- period_end\n", "params/report.yml: must be a mapping of keys to values, found list"),
    ("", "params/report.yml: required key 'period_end' is missing"),
    ("period_start: 2020-04-01 09:00\nperiod_end: 2021-03-31\n",
     "params/report.yml: key 'period_start' must be a date YYYY-MM-DD, found '2020-04-01 09:00'"),
    ("period_start: 01/04/2020\nperiod_end: 2021-03-31\n",
     "params/report.yml: key 'period_start' must be a date YYYY-MM-DD, found '01/04/2020'"),
    ("period_start: 2020-04-01\nperiod_end: 2021-03-31\nseed: 1.5\n",
     "params/report.yml: key 'seed' must be a whole number, found 1.5"),
    ("period_start: 2020-04-01\nperiod_end: 2021-03-31\nsynthetic_data: maybe\n",
     "params/report.yml: key 'synthetic_data' must be true or false, found 'maybe'"),
    ("period_start: 2020-04-01\nperiod_end: 2021-03-31\ndisclosure: 5\n",
     "params/report.yml: key 'disclosure' must be a mapping, found 5"),
    ("period_start: 2020-04-01\nperiod_end: 2021-03-31\ntitle: [a, b]\n",
     "params/report.yml: key 'title' must be text, found ['a', 'b']"),
    ("period_start: 2020-04-01\nperiod_end: 2021-03-31\n\ttitle: x\n",
     "params/report.yml: not valid YAML at line 3, column 1: found character '\\t' that cannot start any token"),
    ("period_start: 2020-04-01\nperiod_end: 2021-03-31\nperiod_end: 2021-06-30\n",
     "params/report.yml: not valid YAML at line 3, column 1: key 'period_end' is given twice (first on line 2)"),
    ("period_start: 2020-04-01\nperiod_end: 2021-03-31\ntitel: x\n",
     "params/report.yml: unknown key 'titel' (did you mean 'title'? known keys: disclosure, findings, national, "
     "pdf_profiles, period_end, period_start, seed, subtitle, synthetic_data, title)"),
    ("period_strat: 2020-04-01\nperiod_end: 2021-03-31\n",
     "params/report.yml: unknown key 'period_strat': rename it to 'period_start' (required key 'period_start' "
     "is missing)"),
])
def test_report_yaml_mistakes(project, text, expected):
    write(project / "params/report.yml", text)
    with pytest.raises(ParamsError) as exc:
        load_report(project / "params")
    assert expected in problems(exc, project)
    assert len(exc.value.problems) == (2 if text == "" else 1)


@pytest.mark.parametrize("text, expected", [
    ('name: 5\ndata_dir: data/la-a\n', "key 'name' must be text, found 5"),
    ('name: ""\ndata_dir: data/la-a\n', "required key 'name' is missing"),
    ('name: A\ndata_dir: data/la-a\nperiod_start: 2020-13-01\n',
     "key 'period_start' must be a date YYYY-MM-DD, found '2020-13-01'"),
    ('name: A\ndata_dir: data/la-a/case_files.csv\n', "data_dir 'data/la-a/case_files.csv' is a file, not a folder"),
    ('name: A\ndata_dir: data/la-a\nregoin: North\n',
     "unknown key 'regoin' (did you mean 'region'? known keys: data_dir, name, new_la_code, period_end, "
     "period_start, region, workbook)"),
    ('name: A\ndata-dir: data/la-a\n',
     "unknown key 'data-dir': rename it to 'data_dir' (required key 'data_dir' is missing)"),
])
def test_authority_yaml_mistakes(project, text, expected):
    (project / "data/la-a/case_files.csv").write_text("x\n")
    write(project / "params/authorities/la-a.yml", text)
    with pytest.raises(ParamsError) as exc:
        load_authorities(project / "params", root=project)
    assert problems(exc, project) == [f"params/authorities/la-a.yml: {expected}"]


@pytest.mark.parametrize("code", ["la-a", "la1", "north-east-2", "x"])
def test_valid_authority_codes(project, code):
    write(project / f"params/authorities/{code}.yml", f"name: {code}\ndata_dir: data/la-a\n")
    report = load_report(project / "params")
    assert load_authority(project / f"params/authorities/{code}.yml", report, root=project).code == code


@pytest.mark.parametrize("code", ["LA-A", "la_a", "la--a", "-la", "la a", "la-"])
def test_invalid_authority_codes(project, code):
    path = write(project / f"params/authorities/{code}.yml", "name: X\ndata_dir: data/la-a\n")
    with pytest.raises(ParamsError) as exc:
        load_authority(path, load_report(project / "params"), root=project)
    assert exc.value.problems == [f"{path}: file name '{code}' is not a valid authority code "
                                  "(lower-case letters, digits and single hyphens, e.g. la-a)"]


def test_no_authorities(tmp_path):
    write(tmp_path / "params/report.yml", "period_start: 2020-04-01\nperiod_end: 2021-03-31\n")
    with pytest.raises(ParamsError) as exc:
        load_authorities(tmp_path / "params", root=tmp_path)
    assert problems(exc, tmp_path) == ["params/authorities: no authority params files (*.yml) found"]


def test_missing_report_file(tmp_path):
    with pytest.raises(ParamsError) as exc:
        load_report(tmp_path / "params")
    assert problems(exc, tmp_path) == ["params/report.yml: cannot be read (No such file or directory)"]


# --- params that weaken protection or name nothing real are refused (issue 17, item 3) -----------------

def report_with(project: Path, extra: str) -> Path:
    path = project / "params/report.yml"
    path.write_text(path.read_text() + extra, encoding="utf-8")
    return path


def report_problems(project: Path) -> list[str]:
    with pytest.raises(ParamsError) as exc:
        load_report(project / "params")
    return problems(exc, project)


@pytest.mark.parametrize("threshold", [1, 2])
def test_a_low_threshold_is_refused_unless_allowed(project, threshold):
    report_with(project, f"disclosure: {{threshold: {threshold}}}\n")
    found = report_problems(project)
    assert len(found) == 1
    assert found[0].startswith("params/report.yml: key 'disclosure.threshold' below 3 weakens disclosure control")
    assert f"found {threshold}" in found[0] and "allow_low_threshold: true" in found[0]


def test_an_allowed_low_threshold_is_flagged_as_weakened(project):
    report_with(project, "disclosure: {threshold: 2, allow_low_threshold: true}\n")
    report = load_report(project / "params")
    assert report.disclosure_threshold == 2 and report.suppression_weakened
    assert not load_report(ROOT / "params").suppression_weakened


@pytest.mark.parametrize("value, why", [
    ("4.9", "must be a whole number (it is never rounded or truncated), found 4.9"),
    ('"5"', "must be a whole number, not text (write it without quotes), found '5'"),
    ("0", "must be at least 1, found 0"),
])
def test_a_threshold_that_is_not_a_whole_number_is_refused(project, value, why):
    report_with(project, f"disclosure: {{threshold: {value}}}\n")
    assert report_problems(project) == [f"params/report.yml: key 'disclosure.threshold' {why}"]


def test_a_whole_float_threshold_is_that_number(project):
    report_with(project, "disclosure: {threshold: 5.0}\n")
    assert load_report(project / "params").disclosure_threshold == 5


@pytest.mark.parametrize("symbol", ['"3"', '"0.5"', '"-"', '"."', '""', '" "', '"nan"', '"inf"', '"suppressed"',
                                    '"z"', '"x"', '"c 1"', '"=c"', '"-c"'])
def test_a_symbol_that_could_read_as_a_number_is_refused(project, symbol):
    report_with(project, f"disclosure: {{symbol: {symbol}}}\n")
    found = report_problems(project)
    assert len(found) == 1 and found[0].startswith("params/report.yml: key 'disclosure.symbol' ")
    assert found[0].endswith(f"found {yaml_value(symbol)!r}")


def yaml_value(text: str):
    import yaml

    return yaml.safe_load(text)


@pytest.mark.parametrize("symbol", ["c", "[c]", "[low]", "*", "..", ":", "~", "u"])
def test_symbols_in_use_by_statistical_agencies_are_accepted(project, symbol):
    report_with(project, f"disclosure: {{symbol: '{symbol}'}}\n")
    assert load_report(project / "params").disclosure_symbol == symbol


def authority_problems(project: Path, text: str, code: str = "la-b") -> list[str]:
    write(project / f"params/authorities/{code}.yml", text)
    with pytest.raises(ParamsError) as exc:
        load_authorities(project / "params", root=project)
    return problems(exc, project)


def test_a_region_that_is_not_english_is_refused_with_the_list(project):
    found = authority_problems(project, 'name: "Authority B"\ndata_dir: data/la-b\nregion: North-East\n')
    assert found == ["params/authorities/la-b.yml: key 'region' must be an English region (did you mean 'North "
                     "East'?), found 'North-East'; the regions are: North East, North West, Yorkshire and The Humber, "
                     "East Midlands, West Midlands, East of England, London, South East, South West"]


def test_a_region_in_other_case_is_read_as_the_dfe_name(project):
    write(project / "params/authorities/la-b.yml", 'name: "Authority B"\ndata_dir: data/la-b\n'
                                                    "region: yorkshire and the humber\n")
    assert load_authorities(project / "params", root=project)[1].region == "Yorkshire and The Humber"


@pytest.mark.parametrize("name, why", [
    ('"  "', "key 'name' must not be blank, found '  '"),
    ('"All study authorities"', "key 'name' must differ from 'All study authorities', the label of rows over all "
                                "study authorities, found 'All study authorities'"),
    ('"all  study authorities"', "key 'name' must differ from 'All study authorities', the label of rows over all "
                                 "study authorities, found 'all  study authorities'"),
    ('"authority a"', "name 'authority a' is also used by authority 'la-a'"),
])
def test_names_must_be_real_and_distinct(project, name, why):
    found = authority_problems(project, f"name: {name}\ndata_dir: data/la-b\n")
    assert found == [f"params/authorities/la-b.yml: {why}"]


def test_a_new_la_code_of_the_wrong_shape_is_refused(project):
    found = authority_problems(project, 'name: "Authority B"\ndata_dir: data/la-b\nnew_la_code: X123\n')
    assert found == ["params/authorities/la-b.yml: key 'new_la_code' must be an English local-authority code, E and "
                     "8 digits (e.g. E09000001), found 'X123'"]


def test_a_new_la_code_not_in_the_dfe_files_is_refused_with_the_closest_by_name(project):
    dfe = project / "dfe"
    write(dfe / "cin.csv", "time_period,geographic_level,new_la_code,la_name,x\n"
                           "2021,Local authority,E08000025,Birmingham,1\n2021,Local authority,E09000003,Barnet,2\n")
    report_with(project, f"national: {{dir: {dfe}, children_in_need: cin.csv}}\n")
    found = authority_problems(project, 'name: "Birmingam"\ndata_dir: data/la-b\nnew_la_code: E0800025\n')
    assert found == ["params/authorities/la-b.yml: key 'new_la_code' must be an English local-authority code, E and "
                     "8 digits (e.g. E09000001), found 'E0800025' (closest by name in the DfE files: Birmingham "
                     "E08000025)"]
    found = authority_problems(project, 'name: "Birmingam"\ndata_dir: data/la-b\nnew_la_code: E08000026\n')
    assert found == ["params/authorities/la-b.yml: key 'new_la_code' 'E08000026' is not a local authority in cin.csv "
                     "(closest by name in the DfE files: Birmingham E08000025)"]
    write(project / "params/authorities/la-b.yml", 'name: "Birmingham"\ndata_dir: data/la-b\nnew_la_code: E08000025\n')
    assert load_authorities(project / "params", root=project)[1].new_la_code == "E08000025"


def test_a_hidden_params_file_is_named(project):
    write(project / "params/authorities/.la-c.yml", 'name: "Authority C"\ndata_dir: data/la-a\n')
    with pytest.raises(ParamsError) as exc:
        load_authorities(project / "params", root=project)
    assert problems(exc, project) == ["params/authorities/.la-c.yml: not read: a hidden file (its name starts with "
                                      "'.'); rename it to la-c.yml to use it, or remove it"]


def test_a_yaml_alias_bomb_gives_a_short_error(project):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    bomb = "\n".join(lines).replace("a: &a", "title: &a", 1)
    write(project / "params/report.yml", "period_start: 2020-04-01\nperiod_end: 2021-03-31\n" + bomb + "\n")
    found = report_problems(project)
    assert found == ["params/report.yml: YAML anchors and aliases ('&a' at line 3) are not allowed in params files: "
                     "write each value out"]
    write(project / "params/report.yml", "period_start: 2020-04-01\nperiod_end: 2021-03-31\n")
    found = authority_problems(project, 'name: &n "Authority B"\ndata_dir: data/la-b\nregion: *n\n')
    assert found == ["params/authorities/la-b.yml: YAML anchors and aliases ('&n' at line 1) are not allowed in "
                     "params files: write each value out"]


def test_a_long_value_is_cut_in_the_message(project):
    found = authority_problems(project, f'name: "Authority B"\ndata_dir: data/la-b\nregion: "{"x" * 5000}"\n')
    assert len(found) == 1 and len(found[0]) < 400 and "(5,002 characters)" in found[0]
