"""Seeded synthetic demo data for fictional authorities.

Real case files are confidential, so the project ships data made here. Every authority has a
:class:`Profile` of the ways the study found authorities differ (thresholds, plan lengths, service
mix, waits for mental-health support, recorded parental involvement). National shares (primary
need, assessment factors, gender, disability) are calibrated to the DfE Children in Need census;
``data/README.md`` documents the calibration. The same seed always gives byte-identical files.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cinreport.common.atomic import write_csv
from cinreport.data.codebook import Codebook, load_codebook

# Share of episodes with each factor among episodes with factor information, England 2022
# (DfE c3 file, national row; see ../shared/reference). Used as base propensities.
NATIONAL_FACTOR_SHARES: dict[str, float] = {
    "3B": 0.316, "4B": 0.311, "17A": 0.202, "20": 0.185, "4A": 0.172, "16A": 0.163, "1B": 0.138,
    "2B": 0.132, "3A": 0.113, "5A": 0.107, "18C": 0.094, "14A": 0.075, "15A": 0.055, "3C": 0.054,
    "2A": 0.050, "6B": 0.048, "6A": 0.047, "4C": 0.045, "19C": 0.037, "7A": 0.036, "2C": 0.032,
    "11A": 0.032, "10A": 0.031, "18B": 0.029, "5B": 0.026, "1A": 0.025, "13A": 0.023, "24A": 0.020,
}
# Primary need at 31 March 2024, England (DfE b3 file, national row), as shares.
NATIONAL_PRIMARY_NEED: dict[str, float] = {
    "N1": 0.581, "N2": 0.080, "N3": 0.021, "N4": 0.086, "N5": 0.120, "N6": 0.020, "N7": 0.003,
    "N8": 0.055, "N9": 0.008, "N0": 0.026,
}
ETHNICITY_GROUP_CODES: dict[str, tuple[str, ...]] = {
    "White": ("WBRI", "WBRI", "WBRI", "WBRI", "WOTH", "WIRI", "WROM"),
    "Mixed": ("MWBC", "MWBA", "MWAS", "MOTH"),
    "Asian": ("APKN", "AIND", "ABAN", "AOTH"),
    "Black": ("BAFR", "BCRB", "BOTH"),
    "Other": ("OOTH", "CHNE"),
}
SERVICE_FOR_FACTOR: dict[str, str] = {
    "4A": "camhs", "15A": "camhs", "4B": "adult_mental_health", "4C": "adult_mental_health",
    "3A": "domestic_abuse", "3B": "domestic_abuse", "3C": "domestic_abuse",
    "1B": "substance_misuse", "2B": "substance_misuse", "1A": "substance_misuse", "2A": "substance_misuse",
    "5A": "disability_service", "6A": "disability_service", "16A": "parenting_programme",
    "17A": "parenting_programme", "14A": "youth_service", "13A": "youth_service",
}
MENTAL_HEALTH_SERVICES = ("camhs", "adult_mental_health")
INTERNAL_SERVICES = {"advice_guidance": "social_worker", "coordination": "social_worker",
                     "family_support_worker": "internal_team", "parenting_programme": "internal_team",
                     "early_help": "internal_team"}


@dataclass(frozen=True)
class Profile:
    """How one fictional authority works. Every field is a knob the generator turns."""

    n_cases: int = 20
    n_admin: int = 400
    mean_age: float = 9.0
    male_share: float = 0.54
    ethnicity_mix: dict[str, float] = field(default_factory=lambda: {
        "White": 0.74, "Mixed": 0.09, "Asian": 0.09, "Black": 0.06, "Other": 0.02})
    ethnicity_recorded: float = 0.95
    disability_share: float = 0.12
    disability_recorded: float = 0.85
    primary_need: dict[str, float] = field(default_factory=lambda: dict(NATIONAL_PRIMARY_NEED))
    factor_scale: float = 1.0
    # Share of children with each factor among those with any (drawn from a real LA's published
    # profile by `profile_like`); None uses the national shares, inflated for children on plans.
    factor_shares: dict[str, float] | None = None
    concern_mix: dict[str, float] = field(default_factory=lambda: {
        "none": 0.2, "low": 0.35, "medium": 0.3, "high": 0.15})
    plan_median_days: float = 200.0
    plan_spread: float = 0.6
    outcome_mix: dict[str, float] = field(default_factory=lambda: {
        "closed": 0.45, "step_down": 0.3, "step_up": 0.12, "looked_after": 0.03, "transferred": 0.1})
    visits_per_month: float = 1.5
    direct_work_per_month: float = 0.8
    services_per_case: float = 3.0
    advice_weight: float = 1.0
    mh_median_wait_days: float = 30.0
    mh_not_available: float = 0.05
    mh_declined: float = 0.05
    parents_involved: float = 0.8
    parent_feels_involved: float = 0.6
    focus_groups: int = 2
    parent_interviews: int = 3
    case_discussions: int = 2
    focus_group_staff: int = 8      # staff taking part in the authority's focus groups, all groups together


# The four demo authorities differ the way the study found authorities differ.
DEMO_PROFILES: dict[str, Profile] = {
    # Low threshold: many short plans, little safeguarding concern, advice-led support.
    "la-a": Profile(n_cases=21, n_admin=420, mean_age=8.0,
                    primary_need={**NATIONAL_PRIMARY_NEED, "N1": 0.30, "N4": 0.25, "N5": 0.22},
                    concern_mix={"none": 0.45, "low": 0.35, "medium": 0.15, "high": 0.05},
                    plan_median_days=110, visits_per_month=1.0, direct_work_per_month=0.4,
                    services_per_case=2.5, advice_weight=2.5, mh_median_wait_days=70,
                    mh_not_available=0.2, parents_involved=0.85, parent_feels_involved=0.3,
                    disability_recorded=0.6, focus_groups=2, parent_interviews=3),
    # High threshold: longer plans for higher-risk families, more specialist support.
    "la-b": Profile(n_cases=20, n_admin=260, mean_age=9.5,
                    primary_need={**NATIONAL_PRIMARY_NEED, "N1": 0.75, "N4": 0.05, "N5": 0.06},
                    concern_mix={"none": 0.05, "low": 0.2, "medium": 0.4, "high": 0.35},
                    plan_median_days=330, visits_per_month=2.5, direct_work_per_month=1.5,
                    services_per_case=3.5, advice_weight=1.2, mh_median_wait_days=35,
                    mh_not_available=0.1, parents_involved=0.75, parent_feels_involved=0.4,
                    ethnicity_mix={"White": 0.55, "Mixed": 0.12, "Asian": 0.18, "Black": 0.12, "Other": 0.03},
                    focus_groups=2, parent_interviews=3),
    # Disability-led use of plans, long waits for child mental-health support.
    "la-c": Profile(n_cases=22, n_admin=610, mean_age=10.5,
                    primary_need={**NATIONAL_PRIMARY_NEED, "N1": 0.40, "N2": 0.30},
                    disability_share=0.3, disability_recorded=0.95, plan_median_days=240, focus_group_staff=9,
                    visits_per_month=1.2, direct_work_per_month=0.6, services_per_case=3.0,
                    advice_weight=1.5, mh_median_wait_days=110, mh_not_available=0.25,
                    parents_involved=0.9, parent_feels_involved=0.35, ethnicity_recorded=0.8,
                    focus_groups=2, parent_interviews=3),
    # Long plans with step-down to early help; good direct work, short waits.
    "la-d": Profile(n_cases=19, n_admin=350, mean_age=9.0,
                    plan_median_days=400, plan_spread=0.5,
                    outcome_mix={"closed": 0.3, "step_down": 0.5, "step_up": 0.1, "looked_after": 0.02,
                                 "transferred": 0.08},
                    visits_per_month=1.8, direct_work_per_month=1.6, services_per_case=3.2,
                    advice_weight=1.4, mh_median_wait_days=25, mh_not_available=0.05,
                    parents_involved=0.7, parent_feels_involved=0.5, focus_groups=1, parent_interviews=2,
                    focus_group_staff=4),
}


def _rng(seed: int, code: str, stream: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(code.encode()), zlib.crc32(stream.encode())])


def _choice(rng: np.random.Generator, weights: dict[str, float], size: int | None = None):
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return rng.choice(keys, size=size, p=p / p.sum())


def _age(rng: np.random.Generator, mean: float, size: int) -> np.ndarray:
    return np.clip(np.round(rng.normal(mean, 4.5, size)), 0, 17).astype(int)


def _ethnicity(rng, profile: Profile, size: int) -> list[str]:
    out = []
    for _ in range(size):
        if rng.random() > profile.ethnicity_recorded:
            out.append("" if rng.random() < 0.6 else "NOBT")
            continue
        group = str(_choice(rng, profile.ethnicity_mix))
        out.append(str(rng.choice(ETHNICITY_GROUP_CODES[group])))
    return out


def _disability(rng, profile: Profile, size: int) -> list[str]:
    codes = ["AUT", "LD", "COMM", "BEH", "MOB", "DDA"]
    out = []
    for _ in range(size):
        if rng.random() > profile.disability_recorded:
            out.append("")
        elif rng.random() < profile.disability_share:
            k = 1 + int(rng.random() < 0.3)
            out.append(";".join(sorted(rng.choice(codes, size=k, replace=False))))
        else:
            out.append("NONE")
    return out


def _factors(rng, profile: Profile, need: str) -> list[str]:
    if profile.factor_shares is not None:
        shares, scale = profile.factor_shares, profile.factor_scale
    else:
        shares, scale = NATIONAL_FACTOR_SHARES, profile.factor_scale * 1.4
    chosen = [f for f, p in shares.items() if rng.random() < min(0.95, p * scale)]
    if profile.factor_shares is not None:  # a published mix: keep it as it is
        return sorted(set(chosen or ["20"]), key=lambda c: (int("".join(ch for ch in c if ch.isdigit())), c))
    if need == "N2" and "5A" not in chosen and "6A" not in chosen:
        chosen.append(str(rng.choice(["5A", "6A"])))
    if need == "N1" and not {"16A", "17A", "18C"} & set(chosen):
        chosen.append(str(rng.choice(["16A", "17A"])))
    if not chosen:
        chosen = ["20"]
    return sorted(set(chosen), key=lambda c: (int("".join(ch for ch in c if ch.isdigit())), c))


def _plan_dates(rng, profile: Profile, start_lo: dt.date, end_hi: dt.date, size: int, window: float = 1.0):
    """Start dates uniform over the first ``window`` share of the period; lengths log-normal."""
    span = int(((end_hi - start_lo).days - 30) * window)
    starts = [start_lo + dt.timedelta(days=int(d)) for d in rng.integers(0, max(1, span), size)]
    lengths = np.maximum(14, np.round(rng.lognormal(np.log(profile.plan_median_days), profile.plan_spread, size)))
    ends = []
    for s, n in zip(starts, lengths):
        e = s + dt.timedelta(days=int(n))
        ends.append(e if e <= end_hi else None)
    return starts, ends


def _iso(d: dt.date | None) -> str:
    return d.isoformat() if d else ""


def generate_authority(code: str, profile: Profile, seed: int, period: tuple[dt.date, dt.date]
                       ) -> dict[str, pd.DataFrame]:
    """Make the four coded-data tables for one authority."""
    start_lo, end_hi = period
    rng = _rng(seed, code, "cases")
    n = profile.n_cases
    prefix = code.upper().replace("-", "")
    need = [str(x) for x in _choice(rng, profile.primary_need, n)]
    # Reviewed files were mostly of plans that had run their course: starts in the first half.
    starts, ends = _plan_dates(rng, profile, start_lo, end_hi, n, window=0.5)
    cases = pd.DataFrame({
        "case_id": [f"{prefix}-C{i + 1:03d}" for i in range(n)],
        "age_at_plan_start": _age(rng, profile.mean_age, n),
        "gender": ["1" if rng.random() < profile.male_share else "2" for _ in range(n)],
        "ethnicity": _ethnicity(rng, profile, n),
        "disability": _disability(rng, profile, n),
        "referral_source": [str(x) for x in _choice(rng, {"2A": 0.2, "6": 0.25, "3A": 0.08, "3B": 0.06,
                                                           "1A": 0.1, "5A": 0.08, "8": 0.08, "2B": 0.05,
                                                           "4": 0.03, "3E": 0.03, "9": 0.02, "10": 0.02}, n)],
        "primary_need": need,
        "assessment_factors": [";".join(_factors(rng, profile, nd)) for nd in need],
        "plan_start_date": [_iso(s) for s in starts],
        "plan_end_date": [_iso(e) for e in ends],
    })
    outcomes = [str(_choice(rng, profile.outcome_mix)) if e else "open" for e in ends]
    months = [max(0.5, ((e or end_hi) - s).days / 30.4) for s, e in zip(starts, ends)]
    cases["plan_outcome"] = outcomes
    cases["prior_episodes"] = rng.poisson(0.8, n)
    cases["safeguarding_concern"] = [str(x) for x in _choice(rng, profile.concern_mix, n)]
    cases["visits"] = [int(rng.poisson(profile.visits_per_month * m)) for m in months]
    cases["direct_work_sessions"] = [int(rng.poisson(profile.direct_work_per_month * m)) for m in months]
    cases["parents_involved"] = [("yes" if rng.random() < profile.parents_involved else "no")
                                 if rng.random() > 0.05 else "not_recorded" for _ in range(n)]
    cases["goals_recorded"] = ["yes" if rng.random() < 0.8 else "no" for _ in range(n)]
    cases["goals_shared"] = [("yes" if rng.random() < 0.6 else "no") if g == "yes" else "no"
                             for g in cases["goals_recorded"]]

    support = _support(_rng(seed, code, "support"), profile, cases, end_hi)
    admin = _admin(_rng(seed, code, "admin"), profile, prefix, start_lo, end_hi)
    themes = _themes(_rng(seed, code, "themes"), profile, prefix, list(cases["case_id"]))
    sources = _sources(_rng(seed, code, "sources"), profile, prefix, list(cases["case_id"]), period)
    return {"case_files": cases, "support": support, "admin": admin, "themes": themes, "sources": sources}


def _support(rng, profile: Profile, cases: pd.DataFrame, end_hi: dt.date) -> pd.DataFrame:
    rows = []
    base = {"advice_guidance": 1.0 * profile.advice_weight, "coordination": 0.7 * profile.advice_weight,
            "family_support_worker": 0.6, "parenting_programme": 0.3, "early_help": 0.25,
            "school_support": 0.35, "housing_financial": 0.2, "health_visiting": 0.15, "youth_service": 0.1}
    for case in cases.itertuples():
        factors = [f for f in case.assessment_factors.split(";") if f]
        weights = dict(base)
        for f in factors:
            svc = SERVICE_FOR_FACTOR.get(f)
            if svc:
                weights[svc] = weights.get(svc, 0) + 1.2
        k = max(1, min(len(weights), int(rng.poisson(profile.services_per_case))))
        keys = list(weights)
        p = np.array([weights[s] for s in keys])
        services = rng.choice(keys, size=k, replace=False, p=p / p.sum())
        start = dt.date.fromisoformat(case.plan_start_date)
        last = dt.date.fromisoformat(case.plan_end_date) if case.plan_end_date else end_hi
        for j, svc in enumerate(sorted(services)):
            svc = str(svc)
            referral = start + dt.timedelta(days=int(rng.integers(0, max(1, min(60, (last - start).days)))))
            provider = INTERNAL_SERVICES.get(svc, "external_agency")
            matching = [f for f in factors if SERVICE_FOR_FACTOR.get(f) == svc]
            if svc in MENTAL_HEALTH_SERVICES:
                wait = int(rng.lognormal(np.log(profile.mh_median_wait_days), 0.5))
                r = rng.random()
                status = ("not_available" if r < profile.mh_not_available else
                          "declined" if r < profile.mh_not_available + profile.mh_declined else None)
            else:
                wait = int(rng.integers(0, 21))
                status = "declined" if rng.random() < 0.04 else None
            begun = referral + dt.timedelta(days=wait)
            started: dt.date | None = begun  # None: the service has not started
            if status is None:
                if begun > end_hi:
                    status, started = "waiting", None
                elif case.plan_end_date and begun <= last:
                    status = "completed" if rng.random() < 0.8 else "ongoing"
                else:
                    status = "ongoing"
            else:
                started = None
            rows.append({"support_id": f"{case.case_id}-S{j + 1:02d}", "case_id": case.case_id,
                         "service": svc, "provider": provider,
                         "need_addressed": matching[0] if matching else "",
                         "referral_date": referral.isoformat(), "start_date": _iso(started), "status": status})
    return pd.DataFrame(rows, columns=["support_id", "case_id", "service", "provider", "need_addressed",
                                       "referral_date", "start_date", "status"])


def _admin(rng, profile: Profile, prefix: str, start_lo: dt.date, end_hi: dt.date) -> pd.DataFrame:
    n = profile.n_admin
    need = [str(x) for x in _choice(rng, profile.primary_need, n)]
    starts, ends = _plan_dates(rng, profile, start_lo, end_hi, n)
    closure = [str(_choice(rng, {"RC7": 0.8, "RC5": 0.08, "RC3": 0.04, "RC4": 0.03, "RC8": 0.05})) if e else ""
               for e in ends]
    return pd.DataFrame({
        "child_id": [f"{prefix}-A{i + 1:05d}" for i in range(n)],
        "age_at_plan_start": _age(rng, profile.mean_age, n),
        "gender": ["1" if rng.random() < profile.male_share else ("2" if rng.random() < 0.99 else "0")
                   for _ in range(n)],
        "ethnicity": _ethnicity(rng, profile, n),
        "disability": _disability(rng, profile, n),
        "referral_source": [str(x) for x in _choice(rng, {"2A": 0.2, "6": 0.25, "3A": 0.08, "1A": 0.1,
                                                           "5A": 0.1, "8": 0.1, "10": 0.17}, n)],
        "primary_need": need,
        "assessment_factors": [";".join(_factors(rng, profile, nd)) for nd in need],
        "plan_start_date": [_iso(s) for s in starts],
        "plan_end_date": [_iso(e) for e in ends],
        "closure_reason": closure,
    })


def _themes(rng, profile: Profile, prefix: str, case_ids: list[str]) -> pd.DataFrame:
    rows = []

    def add(source_id: str, source_type: str, theme: str, mean: float) -> None:
        k = int(rng.poisson(mean))
        if k > 0:
            rows.append({"source_id": source_id, "source_type": source_type, "theme": theme, "segments": k})

    mh_pressure = min(1.0, profile.mh_median_wait_days / 90 + profile.mh_not_available)
    for i in range(profile.focus_groups):
        sid = f"{prefix}-FG{i + 1}"
        add(sid, "focus_group", "collaboration_with_parents", 6 * profile.parents_involved)
        add(sid, "focus_group", "advice_and_coordination_role", 3 * profile.advice_weight)
        add(sid, "focus_group", "limited_time_direct_work", 4 / (0.5 + profile.direct_work_per_month))
        add(sid, "focus_group", "mental_health_waits", 6 * mh_pressure)
        add(sid, "focus_group", "service_gaps", 3 * mh_pressure + 1)
        add(sid, "focus_group", "decision_parental_engagement", 3)
        add(sid, "focus_group", "decision_family_support", 2)
        add(sid, "focus_group", "decision_historical_concerns", 2)
        add(sid, "focus_group", "threshold_inconsistency", 2)
        add(sid, "focus_group", "recording_gaps", 2 * (1.5 - profile.disability_recorded))
    for i in range(profile.parent_interviews):
        sid = f"{prefix}-PI{i + 1}"
        if rng.random() >= profile.parent_feels_involved:
            rows.append({"source_id": sid, "source_type": "parent_interview", "theme": "parent_not_involved",
                         "segments": 1 + int(rng.poisson(2))})
        if rng.random() >= profile.parent_feels_involved + 0.1:
            rows.append({"source_id": sid, "source_type": "parent_interview", "theme": "parent_unaware_of_goals",
                         "segments": 1 + int(rng.poisson(1))})
        add(sid, "parent_interview", "mental_health_waits", 2 * mh_pressure)
        rows.append({"source_id": sid, "source_type": "parent_interview", "theme": "service_gaps",
                     "segments": 1 + int(rng.poisson(1))})  # every interview is coded at least once
    for case_id in case_ids[: profile.case_discussions]:
        add(case_id, "case_discussion", "decision_parental_engagement", 2)
        add(case_id, "case_discussion", "decision_historical_concerns", 2)
        add(case_id, "case_discussion", "advice_and_coordination_role", 1.5 * profile.advice_weight)
    return pd.DataFrame(rows, columns=["source_id", "source_type", "theme", "segments"])


def _split(rng, total: int, parts: int, least: int) -> list[int]:
    """``total`` split into ``parts`` whole numbers of at least ``least`` each (seeded, near equal)."""
    if parts <= 0:
        return []
    sizes = [least] * parts
    for i in rng.choice(parts, size=max(0, total - least * parts)):
        sizes[int(i)] += 1
    return sizes


def _dates(rng, period: tuple[dt.date, dt.date], size: int) -> list[str]:
    """Sorted ISO dates inside the period (fieldwork in its second half, after the plans reviewed)."""
    start, end = period
    half = start + (end - start) / 2
    days = sorted(int(d) for d in rng.integers(0, max(1, (end - half).days), size))
    return [(half + dt.timedelta(days=d)).isoformat() for d in days]


def _sources(rng, profile: Profile, prefix: str, case_ids: list[str], period: tuple[dt.date, dt.date]
             ) -> pd.DataFrame:
    """The authority's list of sources (sources.csv), the same sources :func:`_themes` codes: its focus
    groups (``focus_group_staff`` split between them), case discussions (one per discussed case, with
    its social worker and sometimes the team manager) and parent interviews (one or both parents).
    Drawn from its own stream, so the other files do not change when this one does."""
    rows = []
    fg_sizes = _split(rng, profile.focus_group_staff, profile.focus_groups, 2)
    fg_dates = _dates(rng, period, profile.focus_groups)
    for i, (size, date) in enumerate(zip(fg_sizes, fg_dates)):
        roles = "social_worker;team_manager" if rng.random() < 0.6 else "social_worker;family_support_worker"
        rows.append({"source_id": f"{prefix}-FG{i + 1}", "source_type": "focus_group", "date": date,
                     "participants": size, "participant_role": roles})
    discussed = case_ids[: profile.case_discussions]
    for case_id, date in zip(discussed, _dates(rng, period, len(discussed))):
        manager = rng.random() < 0.4
        rows.append({"source_id": case_id, "source_type": "case_discussion", "date": date,
                     "participants": 2 if manager else 1,
                     "participant_role": "social_worker;team_manager" if manager else "social_worker"})
    for i, date in enumerate(_dates(rng, period, profile.parent_interviews)):
        rows.append({"source_id": f"{prefix}-PI{i + 1}", "source_type": "parent_interview", "date": date,
                     "participants": 2 if rng.random() < 0.25 else 1, "participant_role": "parent"})
    return pd.DataFrame(rows, columns=["source_id", "source_type", "date", "participants", "participant_role"])


STUDY_ROUNDTABLES = 4  # the study's roundtables, with attendees from a wider range of authorities


def study_sources(seed: int, period: tuple[dt.date, dt.date], roundtables: int = STUDY_ROUNDTABLES
                  ) -> pd.DataFrame:
    """The study-wide sources (``data/sources.csv``): the roundtables, held with managers and
    practitioners from authorities outside the study, so they belong to no one authority."""
    rng = _rng(seed, "study", "roundtables")
    rows = [{"source_id": f"RT{i + 1}", "source_type": "roundtable", "date": date,
             "participants": int(rng.integers(8, 16)), "participant_role": "team_manager;service_manager;other_practitioner"}
            for i, date in enumerate(_dates(rng, period, roundtables))]
    return pd.DataFrame(rows, columns=["source_id", "source_type", "date", "participants", "participant_role"])


def write_authority(out_dir: Path | str, tables: dict[str, pd.DataFrame], codebook: Codebook) -> list[Path]:
    """Write the tables as CSV in codebook column order (atomic writes); an optional file the
    tables do not hold (sources) is not written."""
    out_dir = Path(out_dir)
    written = []
    for name, spec in codebook.files.items():
        if name not in tables and spec.optional:
            continue
        frame = tables[name][[c.name for c in spec.columns]]
        written.append(write_csv(out_dir / spec.filename, frame))
    return written


def generate(out_root: Path | str, seed: int, period: tuple[dt.date, dt.date],
             profiles: dict[str, Profile] | None = None,
             codebook: Codebook | None = None) -> dict[str, list[Path]]:
    """Generate every authority in ``profiles`` (default: the four demo authorities) under ``out_root``."""
    profiles = DEMO_PROFILES if profiles is None else profiles
    codebook = codebook or load_codebook()
    written = {code: write_authority(Path(out_root) / code, generate_authority(code, p, seed, period), codebook)
               for code, p in sorted(profiles.items())}
    spec = codebook.files["sources"]
    write_csv(Path(out_root) / spec.filename, study_sources(seed, period)[[c.name for c in spec.columns]])
    return written


def profile_like(data, la_code: str, year: str | None = None, base: Profile | None = None,
                 admin_per_cin: float = 0.1) -> Profile:
    """A profile whose administrative data look like a real English LA's published figures.

    ``data`` is :class:`~cinreport.national.data.NationalData`. The factor mix is the LA's share of
    assessment episodes with each factor (DfE c3) in ``year`` (default: the latest); the number of
    children in the administrative extract is ``admin_per_cin`` times its children in need at 31
    March (DfE b1), so authorities with higher rates have larger extracts. Suppressed or missing
    shares fall back to England's.
    """
    base = base or Profile()
    la = data.la(la_code)
    if la is None:
        raise ValueError(f"{la_code!r} is not a local authority in the national data (use its new_la_code, "
                         f"e.g. E08000003)")
    year = year or data.latest("factor_episodes")
    shares = {}
    for code in NATIONAL_FACTOR_SHARES:
        v, status = data.area_value(f"factor:{code}", year, la_code)
        if status != "value":
            v, _ = data.area_value(f"factor:{code}", year, data.england_code())
        if v is not None:
            shares[code] = round(float(v), 4)
    cin, status = data.area_value("cin_at31", data.latest("cin_at31"), la_code)
    n_admin = base.n_admin if status != "value" else int(min(3000, max(100, round(admin_per_cin * cin))))
    return dataclasses.replace(base, factor_shares=shares, n_admin=n_admin)


def scenario(base: dict[str, Profile] | None = None, **changes) -> dict[str, Profile]:
    """Profiles with the same ``changes`` applied to every authority (for tests of known truths)."""
    base = DEMO_PROFILES if base is None else base
    return {code: dataclasses.replace(p, **changes) for code, p in base.items()}


def identical(n: int = 4, profile: Profile | None = None) -> dict[str, Profile]:
    """``n`` authorities sharing one profile: the truth is 'no variation between authorities'."""
    profile = profile or Profile()
    return {f"la-{chr(ord('a') + i)}": profile for i in range(n)}


# --------------------------------------------------------------------------------------------
# Many fictional authorities (benchmarks, scale tests)


def many_code(i: int) -> str:
    """Code of the ``i``-th (1-based) fictional authority made by :func:`many`: ``la-001``."""
    return f"la-{i:03d}"


def varied_profile(seed: int, code: str) -> Profile:
    """A seeded profile for a fictional authority, varied within the range the demo spans.

    Each knob is drawn independently (same seed and code, same profile), so authorities differ in
    threshold, plan length, service mix, waits and involvement the way the four demo ones do.
    """
    rng = _rng(seed, code, "profile")

    def between(lo: float, hi: float) -> float:
        return float(round(rng.uniform(lo, hi), 3))

    n1 = between(0.30, 0.75)
    n2, n4, n5 = between(0.04, 0.30), between(0.04, 0.25), between(0.05, 0.22)
    high = between(0.05, 0.35)
    return Profile(
        n_cases=int(rng.integers(18, 25)), n_admin=int(rng.integers(250, 620)),
        mean_age=between(8.0, 10.5),
        primary_need={**NATIONAL_PRIMARY_NEED, "N1": n1, "N2": n2, "N4": n4, "N5": n5},
        concern_mix={"none": between(0.05, 0.45), "low": between(0.2, 0.35), "medium": between(0.15, 0.4),
                     "high": high},
        disability_share=between(0.08, 0.3), disability_recorded=between(0.6, 0.95),
        ethnicity_recorded=between(0.8, 0.98),
        plan_median_days=between(110, 400), plan_spread=between(0.5, 0.6),
        visits_per_month=between(1.0, 2.5), direct_work_per_month=between(0.4, 1.6),
        services_per_case=between(2.5, 3.5), advice_weight=between(1.0, 2.5),
        mh_median_wait_days=between(25, 110), mh_not_available=between(0.05, 0.25),
        parents_involved=between(0.7, 0.9), parent_feels_involved=between(0.3, 0.6),
        focus_groups=int(rng.integers(1, 3)), parent_interviews=int(rng.integers(2, 4)),
    )


def many(n: int, seed: int, start: int = 1) -> dict[str, Profile]:
    """``n`` fictional authorities ``la-001``, ``la-002``, ... (from ``start``) with varied profiles."""
    if n < 0 or start < 1:
        raise ValueError("n must be 0 or more and start 1 or more")
    return {many_code(i): varied_profile(seed, many_code(i)) for i in range(start, start + n)}


def authority_params(code: str, data_dir: str) -> str:
    """Text of ``params/authorities/<code>.yml`` for a fictional authority made here."""
    number = code.split("-", 1)[-1].upper()
    return (f"# Fictional authority (synthetic data made by `cinreport synth`).\n"
            f'name: "Authority {number}"\n'
            f"data_dir: {data_dir}\n")


def write_many(project: Path | str, n: int, seed: int, period: tuple[dt.date, dt.date], start: int = 1,
               codebook: Codebook | None = None) -> list[str]:
    """Write data and params files for ``n`` fictional authorities into a project folder."""
    from cinreport.common.atomic import write_text

    project = Path(project)
    profiles = many(n, seed, start)
    generate(project / "data", seed, period, profiles, codebook)
    for code in profiles:
        write_text(project / "params" / "authorities" / f"{code}.yml", authority_params(code, f"data/{code}"))
    return sorted(profiles)
