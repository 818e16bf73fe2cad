"""`cinreport import cin-census`: CIN census XML return -> pseudonymised, validated admin.csv.

Runs the command in-process on the shared synthetic sample (beside the project; skipped when
absent), on generated returns with CIN plans (tests/census_support.py) in both specifications, and
on broken returns; checks every DfE rule the importer applies, and that no identifier of the input
reaches the written file.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from lxml import etree

from census_support import child_xml, default_episode, generate_return, return_xml
from cinreport.cli import main
from cinreport.data import cin_census
from cinreport.data.codebook import load_codebook
from cinreport.data.config import load_authority
from cinreport.data.pseudonym import (
    KEY_ENV,
    UPN_SHAPE,
    PseudonymKeyError,
    load_key,
    pseudonym,
    refuse_identifiers,
)
from cinreport.data.validate import validate_authority

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "cin-census-xml"
XSD = SHARED / "CIN_schema_2024.xsd"
SAMPLE = SHARED / "fake_CIN_data.xml"
KEY = "0123456789abcdef" * 4

pytestmark = pytest.mark.skipif(not XSD.is_file(), reason=f"shared CIN census XSD not found at {XSD}")


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder with params for la-x (period = census year 2024-25) and the key in the env."""
    (tmp_path / "params" / "authorities").mkdir(parents=True)
    (tmp_path / "params" / "report.yml").write_text("period_start: 2024-04-01\nperiod_end: 2025-03-31\n")
    (tmp_path / "params" / "authorities" / "la-x.yml").write_text(
        'name: "Authority X"\ndata_dir: data/la-x\nperiod_start: 2024-04-01\nperiod_end: 2025-03-31\n')
    monkeypatch.setenv(KEY_ENV, KEY)
    return tmp_path


def run(project: Path, xml: Path, *extra: str, capsys=None) -> tuple[int, str, str]:
    code = main(["--params", str(project / "params"), "import", "cin-census", str(xml), "--authority", "la-x",
                 "--schema", str(XSD), *extra])
    out, err = capsys.readouterr() if capsys else ("", "")
    return code, out, err


def write(tmp: Path, text: str, name: str = "return.xml") -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def admin_of(project: Path) -> Path:
    return project / "data" / "la-x" / "admin.csv"


def admin_problems(project: Path) -> list[str]:
    """What the project's validation says about the written admin.csv (other files are absent)."""
    authority = load_authority(project / "params" / "authorities" / "la-x.yml", root=project)
    _, problems = validate_authority(authority, load_codebook(ROOT / "data" / "codebook.yml"))
    return [str(p) for p in problems if p.file.endswith("admin.csv")]


def rows_of(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


# --- the shared synthetic sample -----------------------------------------------------------------

needs_sample = pytest.mark.skipif(not SAMPLE.is_file(), reason=f"shared sample return not found at {SAMPLE}")


@needs_sample
def test_shared_sample_is_read_but_has_no_plans(project, capsys):
    """332 children, 402 episodes, all referrals with no further action: nothing to write, said so."""
    code, out, err = run(project, SAMPLE, "--census-year", "2022", capsys=capsys)
    assert code == 1
    assert "332 children, 402 CIN episodes (402 referrals with no further action" in err
    assert "gender: GenderCurrent (1/2/0/9) x332" in err and "yes/no: true/false x402" in err
    assert "no CIN plan in the study period" in err and "nothing was written" in err
    assert "[rule 100]" in err  # its ReferenceDate is 2022-07-21, not 31 March
    assert not admin_of(project).exists()


@needs_sample
def test_shared_sample_year_is_refused_without_census_year(project, capsys):
    code, _, err = run(project, SAMPLE, capsys=capsys)
    assert code == 1
    assert "element <Year>, value '2022': collection year 2022 is not a specification this importer reads" in err


@needs_sample
def test_shared_sample_with_plans_added_imports_and_validates(project, capsys):
    """The shared sample with a CIN plan added to every episode referred in 2021-22 and turned into a
    referral with further action: one row per plan, valid admin.csv, no identifier in it."""
    tree = etree.parse(str(SAMPLE))
    added = 0
    for d in tree.iter("CINdetails"):
        referral = dt.date.fromisoformat(d.findtext("CINreferralDate"))
        if not dt.date(2021, 4, 1) <= referral <= dt.date(2022, 2, 1):
            continue
        nfa = d.find("ReferralNFA")
        nfa.text = "false"
        plan = etree.Element("CINPlanDates")
        etree.SubElement(plan, "CINPlanStartDate").text = (referral + dt.timedelta(days=20)).isoformat()
        nfa.addprevious(plan)
        added += 1
    xml = project / "sample_with_plans.xml"
    tree.write(str(xml), xml_declaration=True, encoding="UTF-8")
    (project / "params" / "authorities" / "la-x.yml").write_text(
        'name: "X"\ndata_dir: data/la-x\nperiod_start: 2021-04-01\nperiod_end: 2022-03-31\n')
    code, out, err = run(project, xml, "--census-year", "2022", capsys=capsys)
    assert code == 0, err
    rows = rows_of(admin_of(project))
    left = sum(int(n) for n in re.findall(r"^ +(\d+)  ", out, re.M)[-10:]) if "left out 0 " not in out else 0
    assert added > 20 and f"{added} CIN plans" in out
    assert len(rows) + left >= added  # every plan is a row or counted as left out
    assert admin_problems(project) == []
    assert_no_identifiers(admin_of(project), xml)


def assert_no_identifiers(written: Path, source: Path) -> None:
    """No LAchildID, UPN, former UPN, birth or expected birth date of the input is in the file."""
    text = written.read_text(encoding="utf-8")
    tree = etree.parse(str(source))
    for tag in ("LAchildID", "UPN", "FormerUPN", "PersonBirthDate", "ExpectedPersonBirthDate", "PersonDeathDate"):
        values = {(e.text or "").strip() for e in tree.iter(tag)} - {""}
        if tag.endswith("Date"):  # a birth date may equal some plan date by chance: compare whole cells
            cells = {c for line in text.splitlines() for c in line.split(",")[:8]}
            assert not values & cells, f"a {tag} reached {written}"
        else:
            assert not [v for v in values if v in text], f"a {tag} reached {written}"
    assert not [v for v in text.split() if UPN_SHAPE.search(v)]


# --- generated returns, both specifications -----------------------------------------------------

@pytest.mark.parametrize("year,form,yes_no", [(2024, "GenderCurrent", "01"), (2025, "Sex", "truefalse"),
                                              (2025, "Sex", "01"), (2024, "GenderCurrent", "truefalse")])
def test_generated_return_imports_validates_and_hides_identifiers(project, capsys, year, form, yes_no):
    xml = generate_return(project / "r.xml", 300, seed=year, year=year, form=form, yes_no=yes_no)
    start, end = f"{year - 1}-04-01", f"{year}-03-31"
    (project / "params" / "authorities" / "la-x.yml").write_text(
        f'name: "X"\ndata_dir: data/la-x\nperiod_start: {start}\nperiod_end: {end}\n')
    code, out, err = run(project, xml, capsys=capsys)
    assert code == 0, err
    gender = "Sex (M/F/U) x300" if form == "Sex" else "GenderCurrent (1/2/0/9) x300"
    assert f"gender: {gender}" in out
    assert ("yes/no: true/false" if yes_no == "truefalse" else "yes/no: 0/1") in out
    assert f"{cin_census.SPECS[year]} specification" in out
    rows = rows_of(admin_of(project))
    assert rows and list(rows[0]) == list(cin_census.ADMIN_COLUMNS)
    assert {r["gender"] for r in rows} <= {"0", "1", "2", "9"}
    assert all(re.fullmatch(r"CIN-[0-9a-f]{12}(-P\d+)?", r["child_id"]) for r in rows)
    m = re.search(r"wrote .*: (\d+) rows.*\nleft out (\d+) of (\d+) CIN plans", out, re.S)
    assert int(m.group(1)) == len(rows) and int(m.group(1)) + int(m.group(2)) == int(m.group(3))
    assert admin_problems(project) == []
    assert_no_identifiers(admin_of(project), xml)


def test_same_key_same_ids_other_key_other_ids(project, capsys, monkeypatch):
    xml = generate_return(project / "r.xml", 60, seed=3)
    assert run(project, xml, capsys=capsys)[0] == 0
    first = admin_of(project).read_text()
    assert run(project, xml, capsys=capsys)[0] == 0
    assert admin_of(project).read_text() == first
    monkeypatch.setenv(KEY_ENV, "f" * 64)
    assert run(project, xml, capsys=capsys)[0] == 0
    other = admin_of(project).read_text()
    assert other != first and {r["child_id"] for r in rows_of(admin_of(project))}.isdisjoint(
        {r.split(",")[0] for r in first.splitlines()})


# --- rows: the documented choices ------------------------------------------------------------------

def one_child(project: Path, **kw) -> Path:
    return write(project, return_xml([child_xml("SYN0000001", upn="Z000000000001", **kw)]))


def test_row_fields_are_mapped_from_the_return(project, capsys):
    ep = default_episode()
    ep["assessments"] = [{"start": "2024-05-02", "authorised": "2024-06-01", "factors": ["21"]},
                         {"start": "2024-07-01", "authorised": "2024-07-20", "factors": ["3A", "4B"]}]
    xml = one_child(project, birth="2015-06-11", gender="2", ethnicity="APKN", disabilities=("AUT", "LD"),
                    episodes=[ep])
    assert run(project, xml, capsys=capsys)[0] == 0
    [row] = rows_of(admin_of(project))
    assert row == {"child_id": pseudonym(KEY.encode(), "cin-census:la-x", "SYN0000001"),
                   "age_at_plan_start": "8", "gender": "2", "ethnicity": "APKN", "disability": "AUT;LD",
                   "referral_source": "2A", "primary_need": "N1", "assessment_factors": "3A;4B",
                   "plan_start_date": "2024-06-10", "plan_end_date": "2024-12-20", "closure_reason": "RC7"}


def test_several_plans_one_row_each_with_distinct_ids(project, capsys):
    ep = default_episode()
    ep["plans"] = [("2024-09-01", None), ("2024-06-10", "2024-08-20")]
    ep["closure"], ep["reason"] = None, None
    assert run(project, one_child(project, episodes=[ep]), capsys=capsys)[0] == 0
    rows = rows_of(admin_of(project))
    stem = pseudonym(KEY.encode(), "cin-census:la-x", "SYN0000001")
    assert [(r["child_id"], r["plan_start_date"]) for r in rows] == [(stem, "2024-06-10"),
                                                                      (f"{stem}-P2", "2024-09-01")]
    assert all(len(r["child_id"]) <= 20 for r in rows)


def test_plan_ending_after_the_period_is_written_open(project, capsys):
    ep = default_episode()
    ep["plans"], ep["closure"] = [("2025-01-10", "2025-05-01")], "2025-05-01"
    code, out, _ = run(project, one_child(project, episodes=[ep]), capsys=capsys)
    assert code == 0
    [row] = rows_of(admin_of(project))
    assert row["plan_end_date"] == "" and row["closure_reason"] == ""
    assert "1  plan ended after the study period: written as open (end date blank)" in out


@pytest.mark.parametrize("kw,plans,reason", [
    ({"birth": None, "expected_birth": "2025-05-01", "gender": "0"}, [("2024-06-10", None)],
     "unborn child (expected birth date, no date of birth)"),
    ({"birth": "2024-08-01"}, [("2024-06-10", None)], "plan started before the child's birth (pre-birth plan)"),
    ({"birth": "2006-01-01"}, [("2024-06-10", None)], "child aged 18 or over at plan start"),
    ({}, [("2024-03-01", None)], "started before the study period, still open at its start"),
])
def test_plans_left_out_are_counted(project, capsys, kw, plans, reason):
    ep = default_episode()
    ep["referral"], ep["plans"], ep["closure"], ep["reason"] = "2024-02-01", plans, None, None
    ep["assessments"] = [{"start": "2024-02-02", "authorised": "2024-02-20", "factors": ["3A"]}]
    ep2 = {"referral": "2024-09-01", "source": "6", "need": "N4", "plans": [("2024-10-01", None)],
           "assessments": [{"start": "2024-09-02", "authorised": "2024-09-25", "factors": ["20"]}]}
    extra = child_xml("SYN0000002", episodes=[ep2])
    xml = write(project, return_xml([child_xml("SYN0000001", episodes=[ep], **kw), extra]))
    code, out, err = run(project, xml, capsys=capsys)
    assert code == 0, err
    assert f"left out 1 of 2 CIN plans:\n       1  {reason}" in out
    assert len(rows_of(admin_of(project))) == 1


def test_nfa_referrals_and_episodes_without_plans_give_no_row(project, capsys):
    nfa = {"referral": "2024-04-10", "source": "6", "need": "N1", "nfa": True, "closure": "2024-04-11",
           "reason": "RC8"}
    xml = write(project, return_xml([child_xml("SYN0000001", episodes=[nfa, default_episode()])]))
    code, out, _ = run(project, xml, capsys=capsys)
    assert code == 0
    assert "2 CIN episodes (1 referrals with no further action; 1 episodes without a CIN plan" in out
    assert len(rows_of(admin_of(project))) == 1


# --- DfE rules ------------------------------------------------------------------------------------

def _ep(**changes) -> dict:
    ep = default_episode()
    ep.update(changes)
    return ep


RULE_CASES = [
    # (rule, child fields, element, value, severity)
    ("8790", {"disabilities": ("NONE", "AUT")}, "Disability", "NONE", "plan left out"),
    ("8794", {"disabilities": ("AUT", "LD", "AUT")}, "Disability", "AUT", "plan left out"),
    ("8869", {"episodes": [_ep(assessments=[{"start": "2024-05-02", "authorised": "2024-06-01",
                                              "factors": ["21", "3A"]}])]}, "AssessmentFactors", "21",
     "plan left out"),
    ("8898", {"episodes": [_ep(assessments=[{"start": "2024-05-02", "authorised": "2024-06-01",
                                              "factors": ["3A", "4B", "3A"]}])]}, "AssessmentFactors", "3A",
     "plan left out"),
    ("4011", {"episodes": [_ep(plans=[("2024-06-10", "2024-06-01")], closure="2024-06-01")]}, "CINPlanEndDate",
     "2024-06-01", "plan left out"),
    ("4015", {"episodes": [_ep(plans=[("2024-04-20", "2024-12-20")])]}, "CINPlanStartDate", "2024-04-20",
     "plan left out"),
    ("4000", {"episodes": [_ep(nfa=True)]}, "ReferralNFA", "true", "plan left out"),
    ("8610", {"episodes": [_ep(need=None)]}, "PrimaryNeedCode", "", "plan left out"),
    ("1103", {"episodes": [_ep(assessments=[{"start": "2024-04-20", "authorised": "2024-06-01",
                                              "factors": ["3A"]}])]}, "AssessmentActualStartDate", "2024-04-20",
     "warning"),
    ("8608", {"episodes": [_ep(assessments=[{"start": "2024-06-05", "authorised": "2024-06-01",
                                              "factors": ["3A"]}])]}, "AssessmentActualStartDate", "2024-06-05",
     "warning"),
    ("4010", {"episodes": [_ep(plans=[("2025-03-20", None)], closure=None, reason=None)]}, None, None, None),
    ("4013", {"episodes": [_ep(plans=[("2024-06-10", "2025-04-20")], closure=None, reason=None)]},
     "CINPlanEndDate", "2025-04-20", "warning"),
    ("8630", {"episodes": [_ep(closure="2024-04-01", plans=[])]}, "CINclosureDate", "2024-04-01", "warning"),
    ("8805", {"episodes": [_ep(reason=None)]}, "CINclosureDate", "2024-12-20", "warning"),
    ("2990", {"episodes": [_ep(reason="RC9")]}, "ReasonForClosure", "RC9", "warning"),
    ("8525Q", {"birth": None}, "PersonBirthDate", "", "warning"),
    ("4004", {"episodes": [_ep(plans=[("2024-06-10", None), ("2024-09-10", None)], closure=None, reason=None)]},
     "CINPlanStartDate", "2024-09-10", "warning"),
]


@pytest.mark.parametrize("rule,fields,element,value,severity", RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_dfe_rule(project, capsys, rule, fields, element, value, severity):
    xml = one_child(project, **fields)
    code, out, err = run(project, xml, capsys=capsys)
    if element is None:  # 4010 needs a plan after the census year: not possible inside it, see below
        return
    lines = [n for n, text in enumerate(xml.read_text().splitlines(), start=1)
             if (f"<{element}>{value}</" in text if value else f"<{element}" in text)]
    found = re.search(rf"{severity}: {re.escape(str(xml))}, line (\d+), child 'SYN0000001', element <{element}>"
                      + (re.escape(f", value '{value}'") if value else ""), err)
    assert found, err
    if lines:  # the line of the element (or, for a missing element, of its episode)
        assert int(found.group(1)) in lines
    assert f"[rule {rule}]" in err and cin_census.RULES[rule] in err
    if severity == "plan left out":
        assert f"rule {rule}: {cin_census.RULES[rule]}" in err + out  # counted under its rule
        if code == 0:
            assert "left out 1 of" in out


def test_rule_4010_plan_after_the_census_year(project, capsys):
    ep = _ep(referral="2025-03-01", plans=[("2025-04-05", None)], closure=None, reason=None,
             assessments=[{"start": "2025-03-02", "authorised": "2025-03-20", "factors": ["3A"]}])
    xml = write(project, return_xml([child_xml("SYN0000001", episodes=[ep]),
                                     child_xml("SYN0000002")]))
    code, out, err = run(project, xml, "--period-end", "2025-06-30", capsys=capsys)
    assert code == 0
    assert "element <CINPlanStartDate>, value '2025-04-05': CIN Plan start date is missing or out of data " \
           "collection period" in err and "[rule 4010]" in err


def test_rules_1570_1580_8510_on_ids(project, capsys):
    long_id = "SYN" + "0" * 20
    xml = write(project, return_xml([child_xml(long_id), child_xml("SYN-0001"), child_xml("SYN0000003"),
                                     child_xml("SYN0000003")]))
    code, out, err = run(project, xml, capsys=capsys)
    assert code == 0
    assert f"child '{long_id}', element <LAchildID>, value '{long_id}': LA Child ID must not be longer than 20 " \
           "characters (23 characters) [rule 1570]" in err
    assert "child 'SYN-0001', element <LAchildID>, value 'SYN-0001': LA Child ID must not contain any " \
           "non-alphanumeric characters [rule 1580]" in err
    assert "rule 8510: More than one child record with the same LA Child ID" in out
    assert len(rows_of(admin_of(project))) == 3
    # the raw ids appear on the terminal only
    assert long_id not in admin_of(project).read_text()


def test_strict_makes_rule_errors_fatal(project, capsys):
    xml = one_child(project, disabilities=("NONE", "AUT"))
    code, out, err = run(project, xml, "--strict", capsys=capsys)
    assert code == 1 and "error: " in err and "[rule 8790]" in err and "nothing was written" in err
    assert not admin_of(project).exists()


def test_rule_8869_in_census_and_21_alone_is_kept(project, capsys):
    ep = _ep(assessments=[{"start": "2024-05-02", "authorised": "2024-06-01", "factors": ["21"]}])
    assert run(project, one_child(project, episodes=[ep]), capsys=capsys)[0] == 0
    assert rows_of(admin_of(project))[0]["assessment_factors"] == "21"


# --- broken returns: fatal, nothing written ----------------------------------------------------------

def good_children() -> list[str]:
    return [child_xml(f"SYN{i:07d}") for i in range(1, 4)]


def assert_fatal(project, capsys, xml: Path, *expected: str, extra: tuple[str, ...] = ()) -> str:
    admin = admin_of(project)
    admin.parent.mkdir(parents=True, exist_ok=True)
    admin.write_text("previous content\n")
    code, out, err = run(project, xml, *extra, capsys=capsys)
    assert code == 1
    for text in expected:
        assert text in err, err
    assert "nothing was written" in err or "cinreport import" in err
    assert admin.read_text() == "previous content\n"  # untouched
    assert [p.name for p in admin.parent.iterdir()] == ["admin.csv"]  # no temporary file left
    return err


def test_truncated_return(project, capsys):
    text = return_xml(good_children())
    xml = write(project, text[: len(text) * 2 // 3])
    assert_fatal(project, capsys, xml, "not well-formed XML", "is the file truncated?", f"{xml}, line ")


def test_wrong_namespace(project, capsys):
    xml = write(project, return_xml(good_children(), root='<Message xmlns="http://example.org/not-cin">'))
    assert_fatal(project, capsys, xml, f"{xml}, line 2, element <Message>: root element <Message> is in namespace "
                                       "'http://example.org/not-cin'")


def test_wrong_root(project, capsys):
    xml = write(project, return_xml(good_children(), root="<Return>"))
    assert_fatal(project, capsys, xml, "root element is <Return>; a CIN census return's root is <Message>")


def test_unsupported_year(project, capsys):
    xml = write(project, return_xml(good_children(), year=2021))
    assert_fatal(project, capsys, xml, "element <Year>, value '2021': collection year 2021 is not a specification")


def test_year_other_than_expected(project, capsys):
    xml = write(project, return_xml(good_children(), year=2024))
    assert_fatal(project, capsys, xml, "value '2024': wrong collection year: this return is for 2023-24 but "
                                       "--census-year 2025 was given", extra=("--census-year", "2025"))


def test_impossible_date(project, capsys):
    xml = write(project, return_xml([child_xml("SYN0000001", birth="2015-02-30"), *good_children()[1:]]))
    line = next(n for n, t in enumerate(xml.read_text().splitlines(), 1) if "2015-02-30" in t)
    assert_fatal(project, capsys, xml, f"error: {xml}, line {line}, child 'SYN0000001', element <PersonBirthDate>, "
                                       "value '2015-02-30': not a real date in the form YYYY-MM-DD [XSD]")


@pytest.mark.parametrize("fields,element,value,message", [
    ({"episodes": [_ep(source="5E")]}, "ReferralSource", "5E", "not a valid code (allowed: 1A, "),
    ({"episodes": [_ep(assessments=[{"start": "2024-05-02", "authorised": "2024-06-01", "factors": ["99Z"]}])]},
     "AssessmentFactors", "99Z", "not a valid code (allowed: 1A, 1B"),
    ({"gender": "X"}, "Sex", "X", "not a valid code (allowed: M, F, U)"),
    ({"gender": "7", "form": "GenderCurrent"}, "GenderCurrent", "7", "not a valid code (allowed: 1, 2, 0, 9)"),
    ({"episodes": [_ep(reason="RC10")]}, "ReasonForClosure", "RC10", "not a valid code (allowed: RC1, RC2"),
    ({"disabilities": ("WINGS",)}, "Disability", "WINGS", "not a valid code (allowed: NONE, MOB"),
])
def test_invalid_codes(project, capsys, fields, element, value, message):
    xml = write(project, return_xml([child_xml("SYN0000001", **fields), *good_children()[1:]]))
    line = next(n for n, t in enumerate(xml.read_text().splitlines(), 1) if f">{value}<" in t)
    assert_fatal(project, capsys, xml, f"error: {xml}, line {line}, child 'SYN0000001', element <{element}>, "
                                       f"value '{value}': {message}")


def test_all_schema_errors_are_reported_not_only_the_first(project, capsys):
    xml = write(project, return_xml([child_xml("SYN0000001", ethnicity="XXXX"),
                                     child_xml("SYN0000002", birth="2015-13-01"), child_xml("SYN0000003")]))
    err = assert_fatal(project, capsys, xml, "child 'SYN0000001', element <Ethnicity>, value 'XXXX'",
                       "child 'SYN0000002', element <PersonBirthDate>, value '2015-13-01'")
    assert "2 problem(s) stop the import" in err


# --- the key --------------------------------------------------------------------------------------

def test_refuses_to_run_without_a_key(project, capsys, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    xml = write(project, return_xml(good_children()))
    code, _, err = run(project, xml, capsys=capsys)
    assert code == 1 and "no pseudonymisation key" in err and "secrets.token_hex(32)" in err
    assert not admin_of(project).exists()


def test_refuses_a_key_file_inside_the_project(project, capsys, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    (project / "my.key").write_text(KEY)
    xml = write(project, return_xml(good_children()))
    code, _, err = run(project, xml, "--key-file", str(project / "my.key"), capsys=capsys)
    assert code == 1 and "is inside the project folder" in err
    assert not admin_of(project).exists()


def test_key_file_outside_the_project(project, capsys, monkeypatch, tmp_path_factory):
    monkeypatch.delenv(KEY_ENV)
    key = tmp_path_factory.mktemp("secrets") / "cinreport.key"
    key.write_text(KEY + "\n")
    xml = write(project, return_xml(good_children()))
    assert run(project, xml, "--key-file", str(key), capsys=capsys)[0] == 0
    assert rows_of(admin_of(project))[0]["child_id"].startswith("CIN-")


def test_short_key_refused(tmp_path):
    with pytest.raises(PseudonymKeyError, match="at least 32"):
        load_key(None, tmp_path, environ={KEY_ENV: "short"})


def test_refuse_identifiers_finds_upn_shaped_values_and_raw_ids():
    with pytest.raises(ValueError, match="column 'note' holds a value shaped like a Unique Pupil Number"):
        refuse_identifiers([{"note": "see A123456789012 here"}])
    with pytest.raises(ValueError, match="holds an identifier read from the input"):
        refuse_identifiers([{"child_id": "SYN0000001"}], {"SYN0000001"})
    refuse_identifiers([{"child_id": "CIN-0123456789ab", "age": "7"}], {"7"})  # short ids not compared


def test_output_path_from_params_or_out(project, capsys):
    xml = write(project, return_xml(good_children()))
    other = project / "elsewhere" / "admin.csv"
    assert run(project, xml, "--out", str(other), capsys=capsys)[0] == 0
    assert other.is_file() and not admin_of(project).exists()


def test_age_in_years():
    assert cin_census.age_in_years(dt.date(2010, 6, 15), dt.date(2024, 6, 14)) == 13
    assert cin_census.age_in_years(dt.date(2010, 6, 15), dt.date(2024, 6, 15)) == 14
    assert cin_census.age_in_years(dt.date(2012, 2, 29), dt.date(2024, 2, 28)) == 11


def test_messages_are_bounded_per_rule():
    """A messy return of a large authority prints at most 20 messages of each rule, then a count."""
    many = [cin_census.Issue("r.xml", i, f"SYN{i:07d}", "CINreferralDate", "2020-01-01", "8610", "a problem",
                             cin_census.LEAVE_OUT) for i in range(2, 3_002)]
    few = [cin_census.Issue("r.xml", 1, "SYN0000001", "Sex", "X", "4180", "another", cin_census.WARNING)]
    lines = cin_census.bounded(many + few)
    assert len(lines) == 20 + 1 + 1
    assert sum("SYN" in line for line in lines) == 21
    assert lines[-1] == "  … and 2,980 more like this: rule 8610 (plan left out)"
