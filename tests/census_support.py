"""Synthetic CIN census XML returns WITH CIN plan modules, for the importer's tests and timings.

Everything here is obviously synthetic: LA child ids are ``SYN`` + digits, UPNs are ``Z`` + digits
(UPN-shaped, so the importer's guards have something to catch), no names or postcodes exist in a
CIN return. :func:`child_xml` writes one ``<Child>`` from explicit fields (for tests of single
rules); :func:`generate_return` writes a whole return of ``n`` children, seeded, streamed to disk.

    python tests/census_support.py 10000 /tmp/cin10k.xml     # a large authority's return
"""

from __future__ import annotations

import datetime as dt
import random
import sys
from pathlib import Path
from xml.sax.saxutils import escape

SEX = {"1": "M", "2": "F", "0": "U", "9": "U"}
YES = {"01": {True: "1", False: "0"}, "truefalse": {True: "true", False: "false"}}
NEEDS = ["N1", "N1", "N1", "N2", "N3", "N4", "N5", "N5", "N6", "N7", "N8", "N0"]
SOURCES = ["1A", "2A", "2A", "3A", "3B", "3F", "4", "5A", "5D", "6", "6", "6", "8", "10"]
FACTORS = ["3A", "3B", "4B", "16A", "17A", "1B", "2B", "4A", "18C", "11A", "24A", "10A", "6B", "20"]
ETHNICITIES = ["WBRI"] * 6 + ["WOTH", "MWBC", "AIND", "APKN", "BAFR", "BCRB", "CHNE", "OOTH", "NOBT"]
DISABILITIES = ["AUT", "LD", "COMM", "BEH", "MOB", "HEAR", "VIS"]


def _el(tag: str, value, indent: str) -> str:
    return "" if value is None else f"{indent}<{tag}>{escape(str(value))}</{tag}>\n"


def child_xml(la_id: str, *, birth: str | None = "2015-06-01", expected_birth: str | None = None,
              gender: str = "1", form: str = "Sex", yes_no: str = "truefalse", upn: str | None = None,
              death: str | None = None, ethnicity: str = "WBRI", disabilities: tuple[str, ...] = (),
              episodes: list[dict] | None = None) -> str:
    """One ``<Child>``. ``gender`` is a GenderCurrent code; with ``form='Sex'`` it is written as M/F/U.

    Each episode is a dict: referral, source, need, closure, reason, nfa (bool), assessments (list
    of dicts: start, authorised, factors), plans (list of (start, end-or-None)).
    """
    i4, i6, i8, i10 = " " * 4, " " * 6, " " * 8, " " * 10
    out = ["  <Child>\n", f"{i4}<ChildIdentifiers>\n", _el("LAchildID", la_id, i6), _el("UPN", upn, i6),
           _el("PersonBirthDate", birth, i6), _el("ExpectedPersonBirthDate", expected_birth, i6)]
    out.append(_el("Sex", SEX.get(gender, gender), i6) if form == "Sex" else _el("GenderCurrent", gender, i6))
    out += [_el("PersonDeathDate", death, i6), f"{i4}</ChildIdentifiers>\n", f"{i4}<ChildCharacteristics>\n",
            _el("Ethnicity", ethnicity, i6)]
    if disabilities:
        out.append(f"{i6}<Disabilities>\n" + "".join(_el("Disability", d, i8) for d in disabilities)
                   + f"{i6}</Disabilities>\n")
    out.append(f"{i4}</ChildCharacteristics>\n")
    for ep in episodes if episodes is not None else [default_episode()]:
        out += [f"{i4}<CINdetails>\n", _el("CINreferralDate", ep["referral"], i6),
                _el("ReferralSource", ep.get("source", "6"), i6), _el("PrimaryNeedCode", ep.get("need", "N1"), i6),
                _el("CINclosureDate", ep.get("closure"), i6), _el("ReasonForClosure", ep.get("reason"), i6)]
        for a in ep.get("assessments", []):
            out += [f"{i6}<Assessments>\n", _el("AssessmentActualStartDate", a["start"], i8),
                    _el("AssessmentAuthorisationDate", a.get("authorised"), i8)]
            if a.get("factors"):
                out.append(f"{i8}<FactorsIdentifiedAtAssessment>\n"
                           + "".join(_el("AssessmentFactors", f, i10) for f in a["factors"])
                           + f"{i8}</FactorsIdentifiedAtAssessment>\n")
            out.append(f"{i6}</Assessments>\n")
        for start, end in ep.get("plans", []):
            out += [f"{i6}<CINPlanDates>\n", _el("CINPlanStartDate", start, i8), _el("CINPlanEndDate", end, i8),
                    f"{i6}</CINPlanDates>\n"]
        out += [_el("ReferralNFA", YES[yes_no][bool(ep.get("nfa", False))], i6), f"{i4}</CINdetails>\n"]
    out.append("  </Child>\n")
    return "".join(out)


def default_episode() -> dict:
    return {"referral": "2024-05-01", "source": "2A", "need": "N1", "closure": "2024-12-20", "reason": "RC7",
            "assessments": [{"start": "2024-05-02", "authorised": "2024-06-01", "factors": ["3A", "4B"]}],
            "plans": [("2024-06-10", "2024-12-20")]}


def header_xml(year: int = 2025, reference: str | None = None, collection: str = "CIN") -> str:
    reference = reference or f"{year}-03-31"
    return (f"  <Header>\n    <CollectionDetails>\n      <Collection>{collection}</Collection>\n"
            f"      <Year>{year}</Year>\n      <ReferenceDate>{reference}</ReferenceDate>\n"
            "    </CollectionDetails>\n    <Source>\n      <SourceLevel>L</SourceLevel>\n      <LEA>999</LEA>\n"
            "      <SoftwareCode>cinreport tests (synthetic)</SoftwareCode>\n    </Source>\n  </Header>\n")


def return_xml(children: list[str], year: int = 2025, reference: str | None = None,
               root: str = '<Message>') -> str:
    """A whole return around ``children`` (``root`` lets a test give a namespace or another root)."""
    close = "</" + root[1:].split()[0].rstrip(">") + ">"
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + root + "\n" + header_xml(year, reference)
            + "<Children>\n" + "".join(children) + "</Children>\n" + close + "\n")


def _date(d: dt.date) -> str:
    return d.isoformat()


def random_child(rng: random.Random, n: int, year: int, form: str, yes_no: str) -> str:
    """A plausible child of a return for census year ``year``: 1-3 episodes, most with a plan."""
    census_start, census_end = dt.date(year - 1, 4, 1), dt.date(year, 3, 31)
    unborn = rng.random() < 0.01
    age_days = rng.randint(0, 17 * 365 + 300)
    birth = census_end - dt.timedelta(days=age_days + 200)
    episodes = []
    cursor = max(birth + dt.timedelta(days=30), census_start - dt.timedelta(days=rng.randint(0, 500)))
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
        if cursor >= census_end - dt.timedelta(days=20):
            break
        referral = cursor + dt.timedelta(days=rng.randint(0, 60))
        if referral >= census_end - dt.timedelta(days=15):
            break
        nfa = rng.random() < 0.25
        ep = {"referral": _date(referral), "source": rng.choice(SOURCES), "need": rng.choice(NEEDS), "nfa": nfa}
        if nfa:
            close = referral + dt.timedelta(days=rng.randint(0, 3))
            ep.update(closure=_date(close), reason="RC8" if rng.random() < 0.5 else "RC9")
        else:
            a_start = referral + dt.timedelta(days=rng.randint(0, 5))
            a_end = a_start + dt.timedelta(days=rng.randint(5, 45))
            factors = rng.sample(FACTORS, rng.randint(1, 4))
            ep["assessments"] = [{"start": _date(a_start), "authorised": _date(a_end), "factors": factors}]
            plan_start = a_end + dt.timedelta(days=rng.randint(0, 10))
            plans, close = [], None
            for _ in range(rng.choice([1, 1, 1, 2])):
                if plan_start > census_end:
                    break
                length = rng.randint(30, 400)
                plan_end = plan_start + dt.timedelta(days=length)
                if plan_end > census_end:
                    plans.append((_date(plan_start), None))
                    break
                plans.append((_date(plan_start), _date(plan_end)))
                close = plan_end
                plan_start = plan_end + dt.timedelta(days=rng.randint(1, 60))
                if plan_start > census_end:
                    break
            if plans and plans[-1][1] is not None:
                ep.update(closure=_date(close), reason=rng.choice(["RC7"] * 8 + ["RC5", "RC3", "RC4"]))
            # a return holds what was open in the census year: plans that ended before it are not sent
            ep["plans"] = [p for p in plans if p[1] is None or p[1] >= _date(census_start)]
        if ep.get("closure") and ep["closure"] < _date(census_start):
            cursor = dt.date.fromisoformat(ep["closure"]) + dt.timedelta(days=rng.randint(20, 200))
            continue
        episodes.append(ep)
        cursor = dt.date.fromisoformat(ep.get("closure") or _date(census_end)) + dt.timedelta(days=rng.randint(20, 200))
        if ep.get("closure") is None:
            break
    if not episodes:
        episodes = [{"referral": _date(census_end - dt.timedelta(days=10)), "source": "6", "need": "N1",
                     "nfa": True, "closure": _date(census_end - dt.timedelta(days=9)), "reason": "RC8"}]
    disabilities: tuple[str, ...] = ()
    r = rng.random()
    if r < 0.12:
        disabilities = tuple(rng.sample(DISABILITIES, rng.randint(1, 2)))
    elif r < 0.8:
        disabilities = ("NONE",)
    gender = rng.choice(["1", "1", "2", "2", "0"]) if not unborn else "0"
    return child_xml(f"SYN{n:07d}", birth=None if unborn else _date(birth),
                     expected_birth=_date(census_end + dt.timedelta(days=60)) if unborn else None,
                     gender=gender, form=form, yes_no=yes_no, upn=None if unborn else f"Z{n:012d}",
                     ethnicity=rng.choice(ETHNICITIES), disabilities=disabilities, episodes=episodes)


def generate_return(path: Path | str, n: int, seed: int = 1, year: int = 2025, form: str | None = None,
                    yes_no: str = "01") -> Path:
    """Write a seeded synthetic return of ``n`` children (``form``: 'Sex' or 'GenderCurrent';
    default the year's own: GenderCurrent up to 2024, Sex from 2025)."""
    form = form or ("Sex" if year >= 2025 else "GenderCurrent")
    rng = random.Random(seed)
    path = Path(path)
    with path.open("w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<Message>\n' + header_xml(year) + "<Children>\n")
        for i in range(1, n + 1):
            f.write(random_child(rng, i, year, form, yes_no))
        f.write("</Children>\n</Message>\n")
    return path


if __name__ == "__main__":
    generate_return(sys.argv[2], int(sys.argv[1]))
