"""Import an English Children in Need census XML return as an authority's ``admin.csv``.

``cinreport import cin-census RETURN.xml --authority CODE`` reads the return an authority submits
to DfE each year (2023-24 and 2024-25 specifications) and writes ``data/CODE/admin.csv`` (the
``data_dir`` of ``params/authorities/CODE.yml`` when that file exists; ``--out`` names another file).

Reading
    The file is streamed (``lxml.etree.iterparse``; each ``<Child>`` is cleared once read), so
    memory stays bounded however many children the return holds. The root must be ``<Message>``
    with no namespace; the header's ``<Year>`` is the collection year, whose census year runs from
    1 April of the year before to 31 March (``ReferenceDate``). Years 2024 (2023-24) and 2025
    (2024-25) are read; another year is refused unless ``--census-year`` names it, and a return
    whose year differs from ``--census-year`` is refused.
Two forms of the same field are accepted, and the summary says which were met
    - gender: ``<GenderCurrent>`` 1/2/0/9 (the XSD, up to 2023-24) or ``<Sex>`` M/F/U (2024-25).
      ``Sex`` is written in the codebook's GenderCurrent codes: M -> 1, F -> 2, U -> 0 (DfE uses U,
      as it used 0, for "not recorded or unborn": rules 8750 of both years).
    - yes/no (``ReferralNFA``, ``ICPCnotRequired``): 0/1 (the XSD) or false/true (some software's
      output, e.g. the shared sample).
Validation on the way in
    Each child is checked against the XSD (``--schema``; default the shared
    ``CIN_schema_2024.xsd``) after the accepted variants above are put in the XSD's form, and
    against the DfE census rules that bear on the report's measures, numbered as the community
    validator (data-to-insight/csc-validator-be-cin) numbers them; see :data:`RULES`. Every
    problem names the file, the line, the child (its LAchildID: shown on the terminal only, never
    written), the element and the value.
What is fatal (nothing written; the old ``admin.csv``, if any, is left as it was)
    a file that is not well-formed XML (e.g. truncated), a wrong root element or namespace, a
    missing or wrong collection year, any XSD violation (invalid code, impossible date, missing
    element, wrong order), no pseudonymisation key, a UPN-shaped value or raw id in the output,
    no CIN plan in the study period at all. With ``--strict`` the rule errors below are fatal too.
Plans left out (counted per reason, each problem printed)
    - DfE rule errors that make a row wrong: 8790 (NONE with another disability) and 8794 (a
      disability twice) leave out the child's plans; 8869 (factor 21 with another factor), 8898
      (a factor twice in one assessment), 8610 (no primary need on a referral that went on to
      further action) and 4000 (a plan on a referral with no further action) leave out the
      episode's plans; 4011 (plan ends before it starts) and 4015 (plan starts before the
      referral) leave out the plan; 8510 (a second record with the same LAchildID) leaves out
      that record.
    - Plans outside the study period (``period_start``/``period_end`` of the params file, or
      ``--period-start``/``--period-end``): one row per plan that *starts* in the period, because
      ``admin.csv`` describes plans by their start (age at plan start, length) and the project's
      validation requires the start inside the period. A plan started before the period (even if
      still open at its start) or after it is left out and counted.
    - Unborn children: a child with only an ``ExpectedPersonBirthDate`` (no ``PersonBirthDate``),
      or a plan starting before the birth date (a pre-birth plan), is left out and counted: an age
      at plan start cannot be given, and writing 0 would merge pre-birth plans with infants.
    - A child aged 18 or over at plan start (the codebook's ages are 0-17).
Warnings (row kept, problem printed): rules 100, 1103, 1570, 1580, 2990, 4004, 4008, 4010, 4013,
    4014, 8520, 8525Q, 8600, 8608, 8630, 8805, 8810 (see :data:`RULES`), and a gender form that
    differs from the return's specification.
Rows
    One row per CIN plan (``<CINPlanDates>``) kept. Referrals with no further action and episodes
    without a plan give no row (counted). ``child_id`` is a keyed hash of the LAchildID
    (:mod:`cinreport.data.pseudonym`): ``CIN-`` + 12 hex digits for the child's first plan in the
    period, ``-P2``, ``-P3`` ... appended for later ones (the codebook's key is unique per row;
    the shared stem keeps a child's plans linkable). Rows are sorted by ``child_id`` (the LA's
    record order is not kept). ``age_at_plan_start``: whole years from ``PersonBirthDate`` to the
    plan start. ``disability``: the child's codes joined with ';' (blank when none recorded).
    ``assessment_factors``: the factors of all the episode's assessments, in order of first
    appearance, joined with ';'; ``21`` (no factors) is dropped when another assessment of the
    episode found a factor. ``plan_end_date``: blank when the plan ends after the period end (it
    was open at the end of the period; counted). ``closure_reason``: the episode's
    ``ReasonForClosure`` when the episode closed on or before the period end, else blank.
Never written: LAchildID, UPN, FormerUPN, UPNunknown, birth and death dates, expected birth date
    (only ages), the header's LEA and software details.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from lxml import etree

from cinreport.common.atomic import write_text
from cinreport.data.pseudonym import Pseudonymiser, refuse_identifiers

DEFAULT_SCHEMA = Path("..") / "shared" / "data" / "cin-census-xml" / "CIN_schema_2024.xsd"
SPECS = {2024: "2023-24", 2025: "2024-25"}
GENDER_FORM = {2024: "GenderCurrent", 2025: "Sex"}
SEX_TO_GENDER = {"M": "1", "F": "2", "U": "0"}
YES_NO = {"0": "0", "1": "1", "false": "0", "true": "1"}
YES_NO_ELEMENTS = ("ReferralNFA", "ICPCnotRequired")
ADMIN_COLUMNS = ("child_id", "age_at_plan_start", "gender", "ethnicity", "disability", "referral_source",
                 "primary_need", "assessment_factors", "plan_start_date", "plan_end_date", "closure_reason")
LA_CHILD_ID = re.compile(r"[A-Za-z0-9]+")

# DfE rule numbers and wording as data-to-insight/csc-validator-be-cin has them (cin2022_23 and
# cin2024_25 rule sets), for the rules this importer applies.
RULES = {
    "100": "Reference Date is incorrect",
    "1103": "The assessment start date cannot be before the referral date",
    "1570": "LA Child ID must not be longer than 20 characters",
    "1580": "LA Child ID must not contain any non-alphanumeric characters",
    "2990": "Activity is recorded against a case marked as 'Case closed after assessment, no further action' "
            "or 'case closed after assessment, referred to early help'",
    "4000": "CIN Plan details provided for a referral with no further action",
    "4004": "This child is showing more than one open CIN Plan, i.e. with no End Date",
    "4008": "CIN Plan shown as starting after the child's Date of Death",
    "4010": "CIN Plan start date is missing or out of data collection period",
    "4011": "CIN Plan End Date earlier than Start Date",
    "4013": "CIN Plan end date must fall within the census year",
    "4014": "CIN Plan data contains overlapping dates",
    "4015": "The CIN Plan start date cannot be before the referral date",
    "4180": "Gender is missing / Sex must be provided and equal M, F, or U",
    "4220": "Ethnicity is missing or invalid (see Ethnicity table)",
    "8500": "LA Child ID missing",
    "8510": "More than one child record with the same LA Child ID",
    "8520": "Date of Birth is after data collection period (must be on or before the end of the census period)",
    "8525Q": "Either Date of Birth or Expected Date of Birth must be provided (but not both)",
    "8540": "Child's disability is missing or invalid (see Disability table)",
    "8568": "RNFA flag is missing or invalid",
    "8600": "Child referral date missing or after data collection period",
    "8608": "Assessment Start Date cannot be later than its End Date",
    "8610": "Primary Need code is missing for a referral which led to further action",
    "8630": "CIN Closure Date is before CIN Referral Date for the same CIN episode",
    "8640": "CIN Reason for closure code invalid (see Reason for Closure table in CIN Census code set)",
    "8650": "Primary Need Code invalid (see Primary Need table in CIN census code set)",
    "8790": "Disability information includes both None and other values",
    "8794": "Child has two or more disabilities with the same code",
    "8805": "A CIN case cannot have a CIN closure date without a Reason for Closure",
    "8810": "A CIN case cannot have a Reason for Closure without a CIN Closure Date",
    "8866": "Source of Referral is missing or an invalid code",
    "8869": "The assessment factors code \"21\" cannot be used in conjunction with any other assessment factors",
    "8898": "The assessment has more than one parental or child factors with the same code",
}
# An XSD failure on these elements is also the named DfE rule (the message quotes both).
SCHEMA_RULES = {"GenderCurrent": "4180", "Sex": "4180", "Ethnicity": "4220", "Disability": "8540",
                "ReferralSource": "8866", "PrimaryNeedCode": "8650", "ReasonForClosure": "8640",
                "ReferralNFA": "8568"}

FATAL, LEAVE_OUT, WARNING = "error", "plan left out", "warning"


class CensusImportError(ValueError):
    """The return cannot be imported; nothing was written. ``result`` holds what was read."""

    def __init__(self, message: str, result: "Result | None" = None):
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class Issue:
    """One problem in the return, precise enough to find it in the file."""

    file: str
    line: int
    child: str  # the raw LAchildID: printed on the terminal, never written to a file
    element: str
    value: str
    rule: str  # a DfE rule number, "schema" or "" (the importer's own)
    message: str
    severity: str = WARNING
    scope: tuple = ()  # () the child, (e,) its episode e, (e, p) plan p of episode e

    def __str__(self) -> str:
        where = f"{self.file}, line {self.line}" if self.line else self.file
        who = f", child '{self.child}'" if self.child else ""
        what = f", element <{self.element}>" if self.element else ""
        val = f", value '{self.value}'" if self.value != "" else ""
        rule = f" [rule {self.rule}]" if self.rule and self.rule != "schema" else (
            " [XSD]" if self.rule == "schema" else "")
        return f"{self.severity}: {where}{who}{what}{val}: {self.message}{rule}"


class Val(NamedTuple):
    text: str
    line: int

    @property
    def date(self) -> dt.date:
        return dt.date.fromisoformat(self.text[:10])


@dataclass
class Assessment:
    line: int
    start: Val | None
    authorised: Val | None
    factors: list[Val]


@dataclass
class Plan:
    line: int
    start: Val
    end: Val | None


@dataclass
class Episode:
    line: int
    referral: Val
    source: Val | None
    need: Val | None
    closure: Val | None
    reason: Val | None
    nfa: Val | None
    assessments: list[Assessment]
    plans: list[Plan]

    @property
    def is_nfa(self) -> bool:
        return self.nfa is not None and YES_NO.get(self.nfa.text.lower()) == "1"


@dataclass
class Child:
    line: int
    id: Val
    upns: list[str]
    birth: Val | None
    expected_birth: Val | None
    death: Val | None
    gender: Val | None
    gender_form: str
    ethnicity: Val | None
    disabilities: list[Val]
    episodes: list[Episode]


@dataclass(frozen=True)
class Census:
    """The return's collection year and its census year (1 April to 31 March)."""

    year: int
    start: dt.date
    end: dt.date
    reference: Val | None

    @classmethod
    def of(cls, year: int, reference: Val | None = None) -> "Census":
        return cls(year, dt.date(year - 1, 4, 1), dt.date(year, 3, 31), reference)

    @property
    def spec(self) -> str:
        return SPECS.get(self.year, f"{self.year - 1}-{str(self.year)[2:]}")


@dataclass
class Result:
    """What an import read, wrote and left out."""

    path: Path
    census: Census | None = None
    children: int = 0
    episodes: int = 0
    nfa_episodes: int = 0
    episodes_without_plan: int = 0
    plans: int = 0
    rows: list[dict[str, str]] = field(default_factory=list)
    left_out: Counter = field(default_factory=Counter)  # reason -> plans
    notes: Counter = field(default_factory=Counter)  # rows written with a change, reason -> rows
    forms: Counter = field(default_factory=Counter)  # "gender: Sex (M/F/U)" -> children, ...
    issues: list[Issue] = field(default_factory=list)
    raw_ids: set[str] = field(default_factory=set)
    written: Path | None = None

    @property
    def fatal(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == FATAL]

    @property
    def children_written(self) -> int:
        return len({r["child_id"].split("-P")[0] for r in self.rows})


# --- reading the XML ------------------------------------------------------------------------------

def _val(parent, tag: str) -> Val | None:
    el = parent.find(tag) if parent is not None else None
    if el is None:
        return None
    return Val((el.text or "").strip(), el.sourceline or 0)


def _fields(parent) -> dict[str, Val]:
    """The leaf children of ``parent`` by tag (the first of each), in one pass (faster than find)."""
    out: dict[str, Val] = {}
    if parent is not None:
        for el in parent:
            if el.tag not in out and len(el) == 0:
                out[el.tag] = Val((el.text or "").strip(), el.sourceline or 0)
    return out


def _list(parent, tag: str) -> list[Val]:
    return [Val((el.text or "").strip(), el.sourceline or 0) for el in parent if el.tag == tag] \
        if parent is not None else []


def read_child(el) -> Child:
    """The fields of one ``<Child>`` (already valid against the XSD)."""
    parts = {c.tag: c for c in el if c.tag != "CINdetails"}
    ids = _fields(parts.get("ChildIdentifiers"))
    chars = parts.get("ChildCharacteristics")
    gender, form = ids.get("GenderCurrent"), "GenderCurrent"
    if gender is None:
        sex = ids.get("Sex")
        gender, form = (Val(SEX_TO_GENDER.get(sex.text.upper(), sex.text), sex.line), "Sex") if sex else (None, "")
    disabilities = next((_list(c, "Disability") for c in chars if c.tag == "Disabilities"), []) \
        if chars is not None else []
    episodes = []
    for d in el:
        if d.tag != "CINdetails":
            continue
        f = _fields(d)
        assessments, plans = [], []
        for sub in d:
            if sub.tag == "Assessments":
                a = _fields(sub)
                factors = next((_list(c, "AssessmentFactors") for c in sub
                                if c.tag == "FactorsIdentifiedAtAssessment"), [])
                assessments.append(Assessment(sub.sourceline, a.get("AssessmentActualStartDate"),
                                              a.get("AssessmentAuthorisationDate"), factors))
            elif sub.tag == "CINPlanDates":
                p = _fields(sub)
                plans.append(Plan(sub.sourceline, p["CINPlanStartDate"], p.get("CINPlanEndDate")))
        episodes.append(Episode(d.sourceline, f["CINreferralDate"], f.get("ReferralSource"), f.get("PrimaryNeedCode"),
                                f.get("CINclosureDate"), f.get("ReasonForClosure"), f.get("ReferralNFA"),
                                assessments, plans))
    upns = [v.text for v in (ids.get("UPN"), ids.get("FormerUPN")) if v and v.text]
    return Child(el.sourceline, ids.get("LAchildID") or Val("", el.sourceline), upns, ids.get("PersonBirthDate"),
                 ids.get("ExpectedPersonBirthDate"), ids.get("PersonDeathDate"), gender, form,
                 _fields(chars).get("Ethnicity"), disabilities, episodes)


def _schema_message(message: str) -> str:
    """libxml2's wording, shortened to what a user needs."""
    message = re.sub(r"^Element '[^']*': ", "", message).strip()
    m = re.search(r"\[facet 'enumeration'\] The value '[^']*' is not an element of the set \{(.*)\}", message)
    if m:
        return "not a valid code (allowed: " + ", ".join(c.strip(" '") for c in m.group(1).split(",")) + ")"
    if "atomic type 'xs:date'" in message:
        return "not a real date in the form YYYY-MM-DD"
    if "atomic type 'xs:gYear'" in message:
        return "not a year (YYYY)"
    return message


def schema_check(el, schema: etree.XMLSchema, file: str, child_id: str, forms: Counter) -> list[Issue]:
    """Validate one ``<Child>`` against the XSD, after putting ``Sex`` and true/false in the XSD's form.

    The check runs on a copy wrapped in ``<Message><Children>``; lxml keeps the copy's line numbers.
    """
    issues: list[Issue] = []
    c = copy.deepcopy(el)
    renamed: dict[int, str] = {}
    for sex in c.iter("Sex"):
        text = (sex.text or "").strip()
        forms["gender: Sex (M/F/U)"] += 1
        if text.upper() not in SEX_TO_GENDER:
            issues.append(Issue(file, sex.sourceline, child_id, "Sex", text, "4180",
                                f"not a valid code (allowed: M, F, U) ({RULES['4180']})", FATAL))
            text = "U"
        sex.tag, sex.text = "GenderCurrent", SEX_TO_GENDER[text.upper()]
        renamed[sex.sourceline] = "Sex"
    if not renamed and c.find("ChildIdentifiers/GenderCurrent") is not None:
        forms["gender: GenderCurrent (1/2/0/9)"] += 1
    for tag in YES_NO_ELEMENTS:
        for yn in c.iter(tag):
            text = (yn.text or "").strip()
            if text.lower() in ("true", "false"):
                forms["yes/no: true/false"] += 1
                yn.text = YES_NO[text.lower()]
            elif text in ("0", "1"):
                forms["yes/no: 0/1"] += 1
    message = etree.Element("Message")
    etree.SubElement(message, "Children").append(c)
    if not schema.validate(message):
        for err in schema.error_log:
            tag = err.path.rsplit("/", 1)[-1].split("[")[0] if err.path else ""
            found = next((e for e in c.iter(tag) if e.sourceline == err.line), None) if tag else None
            value = (found.text or "").strip() if found is not None and len(found) == 0 else ""
            tag = renamed.get(err.line, tag) if tag == "GenderCurrent" else tag
            rule = SCHEMA_RULES.get(tag, "schema")
            text = _schema_message(err.message)
            if rule != "schema":
                text += f" ({RULES[rule]})"
            issues.append(Issue(file, err.line, child_id, tag, value, rule, text, FATAL))
    return issues


# --- DfE rules ----------------------------------------------------------------------------------

def _issue(file: str, child: Child, v: Val | None, element: str, rule: str, severity: str,
           scope: tuple = (), detail: str = "", line: int = 0) -> Issue:
    message = RULES[rule] + (f" ({detail})" if detail else "")
    return Issue(file, v.line if v else line or child.line, child.id.text, element, v.text if v else "",
                 rule, message, severity, scope)


def check_child(child: Child, census: Census, file: str) -> list[Issue]:
    """Rules on the child's identifiers, dates and disabilities."""
    out: list[Issue] = []
    cid = child.id
    if not cid.text:
        out.append(_issue(file, child, cid, "LAchildID", "8500", LEAVE_OUT))
    else:
        if len(cid.text) > 20:
            out.append(_issue(file, child, cid, "LAchildID", "1570", WARNING, detail=f"{len(cid.text)} characters"))
        if not LA_CHILD_ID.fullmatch(cid.text):
            out.append(_issue(file, child, cid, "LAchildID", "1580", WARNING))
    if child.birth and child.birth.date > census.end:
        out.append(_issue(file, child, child.birth, "PersonBirthDate", "8520", WARNING,
                          detail=f"census year ends {census.end}"))
    if (child.birth is None) == (child.expected_birth is None):
        out.append(_issue(file, child, child.birth or child.expected_birth, "PersonBirthDate", "8525Q", WARNING))
    codes = [d.text.upper() for d in child.disabilities]
    if "NONE" in codes and len(codes) > 1:
        none = child.disabilities[codes.index("NONE")]
        out.append(_issue(file, child, none, "Disability", "8790", LEAVE_OUT,
                          detail="recorded with " + ", ".join(c for c in codes if c != "NONE")))
    seen: set[str] = set()
    for d, code in zip(child.disabilities, codes):
        if code in seen:
            out.append(_issue(file, child, d, "Disability", "8794", LEAVE_OUT))
        seen.add(code)
    return out


def check_episode(child: Child, e: int, ep: Episode, census: Census, file: str) -> list[Issue]:
    """Rules on one CIN episode, its assessments and its plans."""
    out: list[Issue] = []
    ref = ep.referral.date
    if ref > census.end:
        out.append(_issue(file, child, ep.referral, "CINreferralDate", "8600", WARNING, (e,),
                          f"census year ends {census.end}"))
    if ep.closure and ep.closure.date < ref:
        out.append(_issue(file, child, ep.closure, "CINclosureDate", "8630", WARNING, (e,),
                          f"referral {ep.referral.text}"))
    if ep.closure and not ep.reason:
        out.append(_issue(file, child, ep.closure, "CINclosureDate", "8805", WARNING, (e,)))
    if ep.reason and not ep.closure:
        out.append(_issue(file, child, ep.reason, "ReasonForClosure", "8810", WARNING, (e,)))
    if ep.plans:
        if ep.is_nfa:
            out.append(_issue(file, child, ep.nfa, "ReferralNFA", "4000", LEAVE_OUT, (e,)))
        elif ep.need is None or not ep.need.text:
            out.append(_issue(file, child, ep.need, "PrimaryNeedCode", "8610", LEAVE_OUT, (e,), line=ep.line))
        if ep.reason and ep.reason.text.upper() in ("RC8", "RC9"):
            out.append(_issue(file, child, ep.reason, "ReasonForClosure", "2990", WARNING, (e,),
                              "the episode has a CIN plan"))
    for a in ep.assessments:
        if a.start and a.start.date < ref:
            out.append(_issue(file, child, a.start, "AssessmentActualStartDate", "1103", WARNING, (e,),
                              f"referral {ep.referral.text}"))
        if a.start and a.authorised and a.start.date > a.authorised.date:
            out.append(_issue(file, child, a.start, "AssessmentActualStartDate", "8608", WARNING, (e,),
                              f"authorised {a.authorised.text}"))
        codes = [f.text.upper() for f in a.factors]
        if "21" in codes and len(codes) > 1:
            out.append(_issue(file, child, a.factors[codes.index("21")], "AssessmentFactors", "8869", LEAVE_OUT,
                              (e,), "recorded with " + ", ".join(c for c in codes if c != "21")))
        seen: set[str] = set()
        for f, code in zip(a.factors, codes):
            if code in seen:
                out.append(_issue(file, child, f, "AssessmentFactors", "8898", LEAVE_OUT, (e,)))
            seen.add(code)
    for p, plan in enumerate(ep.plans):
        start, end = plan.start.date, plan.end.date if plan.end else None
        if end is not None and end < start:
            out.append(_issue(file, child, plan.end, "CINPlanEndDate", "4011", LEAVE_OUT, (e, p),
                              f"start {plan.start.text}"))
        if start < ref:
            out.append(_issue(file, child, plan.start, "CINPlanStartDate", "4015", LEAVE_OUT, (e, p),
                              f"referral {ep.referral.text}"))
        if start > census.end:
            out.append(_issue(file, child, plan.start, "CINPlanStartDate", "4010", WARNING, (e, p),
                              f"census year {census.start} to {census.end}"))
        if end is not None and not census.start <= end <= census.end:
            out.append(_issue(file, child, plan.end, "CINPlanEndDate", "4013", WARNING, (e, p),
                              f"census year {census.start} to {census.end}"))
        if child.death and start > child.death.date:
            out.append(_issue(file, child, plan.start, "CINPlanStartDate", "4008", WARNING, (e, p),
                              f"date of death {child.death.text}"))
    return out


def check_plans_together(child: Child, file: str) -> list[Issue]:
    """Rules across all the child's plans: 4004 (two open plans) and 4014 (overlapping plans)."""
    out: list[Issue] = []
    plans = sorted(((pl.start.date, pl.end.date if pl.end else dt.date.max, pl, (e, p))
                    for e, ep in enumerate(child.episodes) for p, pl in enumerate(ep.plans)),
                   key=lambda t: (t[0], t[1]))
    open_plans = [t for t in plans if t[2].end is None]
    for t in open_plans[1:]:
        out.append(_issue(file, child, t[2].start, "CINPlanStartDate", "4004", WARNING, t[3]))
    for before, after in zip(plans, plans[1:]):
        if after[0] < before[1]:  # starts before the earlier plan ended (or while it is open)
            out.append(_issue(file, child, after[2].start, "CINPlanStartDate", "4014", WARNING, after[3],
                              f"the plan from {before[2].start.text} "
                              + (f"ends {before[2].end.text}" if before[2].end else "is open")))
    return out


# --- rows ---------------------------------------------------------------------------------------

def age_in_years(birth: dt.date, on: dt.date) -> int:
    """Whole years from ``birth`` to ``on`` (a 29 February birthday counts on 1 March)."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _factors(ep: Episode) -> str:
    codes: list[str] = []
    for a in ep.assessments:
        for f in a.factors:
            if f.text.upper() not in codes:
                codes.append(f.text.upper())
    if "21" in codes and len(codes) > 1:
        codes.remove("21")
    return ";".join(codes)


def plan_rows(child: Child, issues: list[Issue], period: tuple[dt.date, dt.date],
              result: Result) -> list[dict[str, str]]:
    """The child's rows (``child_id`` still to be filled); every plan left out is counted."""
    start_p, end_p = period
    leave = [i for i in issues if i.severity == LEAVE_OUT]
    rows = []
    for e, ep in enumerate(child.episodes):
        for p, plan in enumerate(ep.plans):
            result.plans += 1
            hit = next((i for i in leave if i.scope in ((), (e,), (e, p))), None)
            start, end = plan.start.date, plan.end.date if plan.end else None
            reason = None
            if hit is not None:
                reason = f"rule {hit.rule}: {RULES[hit.rule]}"
            elif start < start_p:
                reason = ("started before the study period, still open at its start"
                          if end is None or end >= start_p else "started and ended before the study period")
            elif start > end_p:
                reason = "started after the study period"
            elif child.birth is None:
                reason = "unborn child (expected birth date, no date of birth)"
            elif child.birth.date > start:
                reason = "plan started before the child's birth (pre-birth plan)"
            elif age_in_years(child.birth.date, start) > 17:
                reason = "child aged 18 or over at plan start"
            if reason:
                result.left_out[reason] += 1
                continue
            closure = ""
            if ep.closure and ep.closure.date <= end_p and ep.reason:
                closure = ep.reason.text.upper()
            end_text = plan.end.text[:10] if plan.end is not None else ""
            if end is not None and end > end_p:
                end_text = ""
                result.notes["plan ended after the study period: written as open (end date blank)"] += 1
            assert child.birth is not None  # an unborn child's plans are left out above
            rows.append({
                "child_id": "",
                "age_at_plan_start": str(age_in_years(child.birth.date, start)),
                "gender": child.gender.text if child.gender else "",
                "ethnicity": child.ethnicity.text.upper() if child.ethnicity else "",
                "disability": ";".join(d.text.upper() for d in child.disabilities),
                "referral_source": ep.source.text.upper() if ep.source else "",
                "primary_need": ep.need.text.upper() if ep.need else "",
                "assessment_factors": _factors(ep),
                "plan_start_date": plan.start.text[:10],
                "plan_end_date": end_text,
                "closure_reason": closure,
            })
    return rows


# --- the whole file ----------------------------------------------------------------------------

def _root_tag(path: Path) -> tuple[str, int]:
    for _, el in etree.iterparse(str(path), events=("start",)):
        return el.tag, el.sourceline or 1
    return "", 0


def read_header(el, file: str, census_year: int | None) -> tuple[Census | None, list[Issue]]:
    """The collection year from ``<Header>``; a missing, unsupported or unexpected year is fatal."""
    details = el.find("CollectionDetails")
    collection, year, ref = _val(details, "Collection"), _val(details, "Year"), _val(details, "ReferenceDate")
    issues = []
    if collection is not None and collection.text != "CIN":
        issues.append(Issue(file, collection.line, "", "Collection", collection.text, "",
                            "not a CIN census return (Collection must be CIN)", FATAL))
    if year is None or not re.fullmatch(r"[0-9]{4}", year.text):
        issues.append(Issue(file, year.line if year else el.sourceline, "", "Year", year.text if year else "", "",
                            "the header must give the collection year (YYYY, e.g. 2025 for the 2024-25 census)",
                            FATAL))
        return None, issues
    n = int(year.text)
    supported = ", ".join(f"{y} ({s})" for y, s in SPECS.items())
    if census_year is not None and n != census_year:
        issues.append(Issue(file, year.line, "", "Year", year.text, "",
                            f"wrong collection year: this return is for {n - 1}-{str(n)[2:]} but --census-year "
                            f"{census_year} was given", FATAL))
    elif census_year is None and n not in SPECS:
        issues.append(Issue(file, year.line, "", "Year", year.text, "",
                            f"collection year {n} is not a specification this importer reads ({supported}); "
                            f"if its layout matches the XSD, pass --census-year {n}", FATAL))
    census = Census.of(n, ref)
    if ref is None or ref.text[:10] != census.end.isoformat():
        issues.append(Issue(file, ref.line if ref else year.line, "", "ReferenceDate", ref.text if ref else "",
                            "100", f"{RULES['100']} (expected {census.end}; the census year is taken from <Year>)",
                            WARNING))
    return census, issues


def read_return(path: Path | str, schema_path: Path | str, period: tuple[dt.date, dt.date],
                pseudonymise, census_year: int | None = None) -> Result:
    """Stream the return: check it, and collect the ``admin.csv`` rows and every count and problem.

    Never raises for a problem in the data: fatal problems are in ``result.fatal``.
    """
    path = Path(path)
    file = str(path)
    result = Result(path)
    try:
        schema = etree.XMLSchema(etree.parse(str(schema_path)))
    except OSError:
        raise CensusImportError(f"XSD not found: {schema_path} (give its path with --schema)") from None
    except (etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
        raise CensusImportError(f"{schema_path} is not a usable XSD: {exc}") from None
    if not path.is_file():
        raise CensusImportError(f"{file}: no such file")

    def fatal(line: int, element: str, value: str, message: str) -> Result:
        result.issues.append(Issue(file, line, "", element, value, "", message, FATAL))
        return result

    try:
        root, line = _root_tag(path)
    except etree.XMLSyntaxError as exc:
        return fatal(exc.lineno or 0, "", "", f"not well-formed XML: {exc.msg}")
    if root != "Message":
        ns, _, local = root.rpartition("}")
        why = (f"root element <{local}> is in namespace '{ns.lstrip('{')}'; a CIN census return's root is "
               "<Message> with no namespace") if ns else (
            f"root element is <{local}>; a CIN census return's root is <Message>")
        return fatal(line, local or root, "", why)
    census: Census | None = None  # set by the <Header>
    seen_ids: set[str] = set()
    per_child: list[tuple[str, list[dict[str, str]]]] = []
    try:
        for _, el in etree.iterparse(str(path), events=("end",), tag=("Header", "Child"),
                                     remove_blank_text=True, huge_tree=True):
            parent = el.getparent()
            if el.tag == "Header" and parent is not None and parent.tag == "Message":
                census, found = read_header(el, file, census_year)
                result.issues += found
                result.census = census
                if census is None or any(i.severity == FATAL for i in found):
                    return result
                continue
            if el.tag != "Child" or parent is None or parent.tag != "Children":
                continue
            if census is None:
                return fatal(el.sourceline, "Header", "", "no <Header> before the children: the collection "
                                                         "year is unknown")
            result.children += 1
            raw_id = (el.findtext("ChildIdentifiers/LAchildID") or "").strip()
            problems = schema_check(el, schema, file, raw_id, result.forms)
            if problems:
                result.issues += problems
            else:
                child = read_child(el)
                per_child.append(_import_child(child, census, period, file, seen_ids, result))
            el.clear(keep_tail=False)
            while el.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError as exc:
        return fatal(exc.lineno or 0, "", "", f"not well-formed XML ({exc.msg}): is the file truncated?")
    if census is None:
        return fatal(0, "Header", "", "no <Header> with the collection year")
    if result.children == 0:
        return fatal(0, "Children", "", "the return holds no <Child>")
    if result.fatal:
        return result
    expected = GENDER_FORM.get(census.year)
    other = {"GenderCurrent": "Sex (M/F/U)", "Sex": "GenderCurrent (1/2/0/9)"}.get(expected or "")
    if other and result.forms[f"gender: {other}"]:
        result.issues.append(Issue(file, 0, "", other.split()[0], "", "",
                                   f"the {census.spec} specification uses <{expected}>, but "
                                   f"{result.forms['gender: ' + other]} children have <{other.split()[0]}> "
                                   "(accepted)", WARNING))
    for raw_id, rows in per_child:
        stem = pseudonymise(raw_id)
        for n, row in enumerate(sorted(rows, key=lambda r: (r["plan_start_date"], r["plan_end_date"] or "9")),
                                start=1):
            row["child_id"] = stem if n == 1 else f"{stem}-P{n}"
            result.rows.append(row)
    result.rows.sort(key=lambda r: r["child_id"])
    if not result.rows:
        result.issues.append(Issue(file, 0, "", "", "", "",
                                   f"no CIN plan in the study period {period[0]} to {period[1]} could be written "
                                   f"({result.plans} plans read): nothing to import", FATAL))
    return result


def _import_child(child: Child, census: Census, period, file: str, seen_ids: set[str],
                  result: Result) -> tuple[str, list[dict[str, str]]]:
    result.episodes += len(child.episodes)
    result.nfa_episodes += sum(ep.is_nfa for ep in child.episodes)
    result.episodes_without_plan += sum(not ep.plans for ep in child.episodes)
    result.raw_ids.update([child.id.text, *child.upns])
    issues = check_child(child, census, file)
    if child.id.text and child.id.text in seen_ids:
        issues.append(_issue(file, child, child.id, "LAchildID", "8510", LEAVE_OUT))
    seen_ids.add(child.id.text)
    for e, ep in enumerate(child.episodes):
        issues += check_episode(child, e, ep, census, file)
    issues += check_plans_together(child, file)
    result.issues += issues
    return child.id.text, plan_rows(child, issues, period, result)


def admin_csv(rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=ADMIN_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def import_return(path: Path | str, out: Path | str, key: bytes, authority: str,
                  period: tuple[dt.date, dt.date], schema: Path | str = DEFAULT_SCHEMA,
                  census_year: int | None = None, strict: bool = False) -> Result:
    """Read, check and pseudonymise a return; write ``out`` atomically unless a problem is fatal.

    Raises :class:`CensusImportError` (listing every fatal problem) when nothing was written.
    """
    pseudonymise = Pseudonymiser(key, f"cin-census:{authority}")
    result = read_return(path, schema, period, pseudonymise, census_year)
    if strict:
        result.issues = [Issue(**{**i.__dict__, "severity": FATAL}) if i.severity == LEAVE_OUT else i
                         for i in result.issues]
    fatal = result.fatal
    if fatal:
        raise CensusImportError(_fatal_message(result, fatal), result)
    refuse_identifiers(result.rows, result.raw_ids, what=str(out))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result.written = write_text(out, admin_csv(result.rows))
    return result


def _fatal_message(result: Result, fatal: list[Issue]) -> str:
    lines = [f"{result.path}: {len(fatal)} problem(s) stop the import; nothing was written:"]
    lines += [f"  {i}" for i in fatal]
    return "\n".join(lines)


def summary(result: Result) -> str:
    """What was read, written and left out, and why: printed after every import."""
    c = result.census
    lines = [f"read {result.path}: {c.spec} specification (collection year {c.year}, census year {c.start} to "
             f"{c.end})" if c else f"read {result.path}"]
    lines.append(f"  {result.children} children, {result.episodes} CIN episodes ({result.nfa_episodes} referrals "
                 f"with no further action; {result.episodes_without_plan} episodes without a CIN plan, which give "
                 f"no row), {result.plans} CIN plans")
    if result.forms:
        lines.append("  forms met: " + "; ".join(f"{k} x{v}" for k, v in sorted(result.forms.items())))
    if result.written:
        lines.append(f"wrote {result.written}: {len(result.rows)} rows, one per CIN plan, for "
                     f"{result.children_written} children")
    for reason, n in sorted(result.notes.items()):
        lines.append(f"  {n:6d}  {reason}")
    left = sum(result.left_out.values())
    lines.append(f"left out {left} of {result.plans} CIN plans" + (":" if left else ""))
    for reason, n in sorted(result.left_out.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {n:6d}  {reason}")
    warnings = Counter(i.rule or "import" for i in result.issues if i.severity == WARNING)
    if warnings:
        lines.append(f"{sum(warnings.values())} warning(s) (rows kept): "
                     + ", ".join(f"rule {r} x{n}" if r != "import" else f"other x{n}"
                                 for r, n in sorted(warnings.items())))
    return "\n".join(lines)


# --- command line -------------------------------------------------------------------------------

def _resolve(args) -> tuple[Path, tuple[dt.date, dt.date], Path]:
    """Output file, study period and project folder from the command line and the params files."""
    from cinreport.data.config import AUTHORITY_CODE, ParamsError, load_authority, load_report

    if not AUTHORITY_CODE.fullmatch(args.authority):
        raise ParamsError([f"{args.authority!r} is not a valid authority code (lower-case letters, digits and "
                           "single hyphens, e.g. la-a)"])
    params = Path(args.params)
    project = params.resolve().parent
    params_file = params / "authorities" / f"{args.authority}.yml"
    authority = None
    if params_file.is_file():
        try:
            report = load_report(params)
        except ParamsError:
            report = None
        authority = load_authority(params_file, report, root=project, check_data=False)
    bounds = []
    for flag, given, fallback in (("--period-start", args.period_start, authority and authority.period_start),
                                  ("--period-end", args.period_end, authority and authority.period_end)):
        if given:
            try:
                bounds.append(dt.date.fromisoformat(given))
            except ValueError:
                raise CensusImportError(f"{flag} {given!r} is not a date YYYY-MM-DD") from None
        elif fallback:
            bounds.append(fallback)
        else:
            raise CensusImportError(f"no study period: {params_file} does not exist, so give --period-start and "
                                    "--period-end")
    if bounds[1] < bounds[0]:
        raise CensusImportError(f"the study period ends ({bounds[1]}) before it starts ({bounds[0]})")
    if args.out:
        out = Path(args.out)
    elif authority is not None:
        out = authority.data_dir / "admin.csv"
    else:
        out = project / "data" / args.authority / "admin.csv"
    return out, (bounds[0], bounds[1]), project


MESSAGES_PER_RULE = 20


def bounded(issues: list[Issue], per_rule: int = MESSAGES_PER_RULE) -> list[str]:
    """Each issue as a line, at most ``per_rule`` of each rule and severity, then one line counting
    the rest ("… and 3,120 more like this: rule 8610 (plan left out)"), so a messy return of a large
    authority prints a readable report."""
    seen: Counter = Counter()
    out: list[str] = []
    for issue in issues:
        key = (issue.rule or "import", issue.severity)
        seen[key] += 1
        if seen[key] <= per_rule:
            out.append(f"  {issue}")
    out += [f"  … and {n - per_rule:,} more like this: rule {rule} ({severity})"
            for (rule, severity), n in sorted(seen.items()) if n > per_rule]
    return out


def run_cli(args) -> int:
    """``cinreport import cin-census``: import, print every problem and the counts."""
    import sys

    from cinreport.data.pseudonym import load_key

    out, period, project = _resolve(args)
    key = load_key(args.key_file, project)
    schema = Path(args.schema) if args.schema else project / DEFAULT_SCHEMA
    try:
        result = import_return(args.xml, out, key, args.authority, period, schema, args.census_year, args.strict)
    except CensusImportError as exc:
        if exc.result is not None:
            for line in bounded([i for i in exc.result.issues if i.severity != FATAL]):
                print(line, file=sys.stderr)
            print(summary(exc.result), file=sys.stderr)
        print(f"cinreport import cin-census: {exc}", file=sys.stderr)
        return 1
    for line in bounded(result.issues):
        print(line, file=sys.stderr)
    print(summary(result))
    return 0
