"""Measures of one authority's coded data: pure functions of the validated, typed tables.

Each ``*_counts`` function returns a :class:`pandas.Series` of counts indexed by a category label,
in a fixed category order (so outputs are deterministic and comparable across authorities).
:func:`authority_metrics` gathers everything the report needs into one JSON-ready mapping.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cinreport.data.codebook import Codebook

AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("Under 1", 0, 0), ("1 to 4", 1, 4), ("5 to 9", 5, 9), ("10 to 15", 10, 15), ("16 and over", 16, 17))
NOT_RECORDED = "Not recorded"
MENTAL_HEALTH_SERVICES = ("camhs", "adult_mental_health")
ADVICE_SERVICES = ("advice_guidance", "coordination")


def _ordered(counts: pd.Series, order: list[str]) -> pd.Series:
    """Counts reindexed to ``order`` (missing categories are 0), as plain ints."""
    out = counts.reindex(order, fill_value=0).astype(int)
    out.index.name = None
    return out


def age_band(age: int) -> str:
    for label, lo, hi in AGE_BANDS:
        if lo <= age <= hi:
            return label
    raise ValueError(f"age {age} is outside 0-17")


def age_band_counts(frame: pd.DataFrame) -> pd.Series:
    bands = frame["age_at_plan_start"].dropna().astype(int).map(age_band)
    return _ordered(bands.value_counts(), [b[0] for b in AGE_BANDS])


def code_counts(frame: pd.DataFrame, column: str, codebook: Codebook, list_name: str,
                missing: str | None = NOT_RECORDED) -> pd.Series:
    """Counts of each code's label, in codebook order; blanks counted as ``missing``."""
    cl = codebook.codes(list_name)
    values = frame[column].map(lambda v: cl.label(v) if isinstance(v, str) else missing)
    # dict.fromkeys: a code labelled like ``missing`` (gender "0" is "Not recorded") shares its row
    order = list(dict.fromkeys(list(cl.labels.values()) + ([missing] if missing else [])))
    return _ordered(values.value_counts(), order)


def group_counts(frame: pd.DataFrame, column: str, codebook: Codebook, list_name: str) -> pd.Series:
    """Counts by the code list's reporting group; blanks as 'Not recorded'."""
    cl = codebook.codes(list_name)
    groups = frame[column].map(lambda v: (cl.group_of(v) or "Other") if isinstance(v, str) else NOT_RECORDED)
    return _ordered(groups.value_counts(), list(dict.fromkeys(list(cl.groups) + [NOT_RECORDED])))


def disability_counts(frame: pd.DataFrame) -> pd.Series:
    def status(v: Any) -> str:
        if not isinstance(v, str) or v == "":
            return NOT_RECORDED
        return "No disability" if v == "NONE" else "One or more disabilities"
    return _ordered(frame["disability"].map(status).value_counts(),
                    ["One or more disabilities", "No disability", NOT_RECORDED])


def explode_codes(series: pd.Series) -> pd.Series:
    """One row per code of a ';'-separated code-list column, keeping the original index."""
    return series.fillna("").str.split(";").explode().loc[lambda s: s != ""]


def _once_per_row(values: pd.Series) -> pd.Series:
    """``values`` (several per row, indexed by row) with each value kept once per row."""
    pairs = pd.DataFrame({"row": values.index, "value": values.to_numpy()}).drop_duplicates()
    return pd.Series(pairs["value"].to_numpy(), index=pairs["row"].to_numpy(), name=values.name)


def factor_group_counts(frame: pd.DataFrame, codebook: Codebook) -> pd.Series:
    """Number of children with at least one factor in each factor group."""
    cl = codebook.codes("assessment_factor")
    codes = explode_codes(frame["assessment_factors"])
    groups = codes.map(lambda c: cl.group_of(c) or "Other")
    return _ordered(_once_per_row(groups).value_counts(), list(cl.groups))


def factor_code_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Children with each factor code (keyed by CIN census code), and ``_with_factors``: children
    with at least one factor other than "21" (no factors identified), the denominator DfE uses."""
    codes = explode_codes(frame["assessment_factors"])
    codes = codes[codes != "21"]
    counts = {str(k): int(v) for k, v in sorted(_once_per_row(codes).value_counts().items())}
    return {"_with_factors": int(codes.index.nunique()), **counts}


def plan_days(frame: pd.DataFrame) -> pd.Series:
    """Length in days of plans that ended (open plans have no length yet)."""
    ended = frame.dropna(subset=["plan_end_date"])
    return (ended["plan_end_date"] - ended["plan_start_date"]).dt.days.astype(int)


def plan_months(frame: pd.DataFrame, period_end: pd.Timestamp) -> pd.Series:
    """Months each plan ran for (to its end, or to the period end when open); at least half a month."""
    end = frame["plan_end_date"].fillna(period_end)
    return ((end - frame["plan_start_date"]).dt.days / 30.4375).clip(lower=0.5)


def quantiles(values: pd.Series | np.ndarray) -> dict[str, float | int | None]:
    """n, median, lower and upper quartile of ``values`` (None when empty)."""
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return {"n": 0, "median": None, "q1": None, "q3": None}
    q1, med, q3 = np.percentile(arr, [25, 50, 75])
    return {"n": int(arr.size), "median": round(float(med), 2), "q1": round(float(q1), 2), "q3": round(float(q3), 2)}


def service_waits(support: pd.DataFrame) -> pd.Series:
    """Days from referral to start, for services that started."""
    started = support.dropna(subset=["start_date"])
    return (started["start_date"] - started["referral_date"]).dt.days.astype(int)


def mental_health_access(support: pd.DataFrame, period_end: pd.Timestamp, wait_days: float) -> dict[str, Any]:
    """Referrals to child and adult mental-health services and how many were not met in time.

    A referral is *not timely* when the service was not available, or it started more than
    ``wait_days`` days after referral (*started late*), or it was still waiting at the end of the
    period having already waited more than ``wait_days`` days (*waiting too long*). A referral
    still waiting for less than that is not (yet) late, and one the family declined is not a gap
    in provision; neither counts.
    """
    mh = support[support["service"].isin(MENTAL_HEALTH_SERVICES)]
    waits = service_waits(mh)
    waiting_days = (pd.Timestamp(period_end) - mh.loc[mh["status"] == "waiting", "referral_date"]).dt.days
    late_started = int((waits > wait_days).sum())
    waiting_too_long = int((waiting_days > wait_days).sum())
    not_available = int((mh["status"] == "not_available").sum())
    return {
        "referrals": int(len(mh)),
        "started": int(len(waits)),
        "waiting": int((mh["status"] == "waiting").sum()),
        "waiting_too_long": waiting_too_long,
        "not_available": not_available,
        "declined": int((mh["status"] == "declined").sum()),
        "started_late": late_started,
        "not_timely": late_started + waiting_too_long + not_available,
        "timely_within_days": wait_days,
        "wait_days": quantiles(waits),
        "longest_current_wait_days": int(waiting_days.max()) if len(waiting_days) else None,
        "by_service": {s: int((mh["service"] == s).sum()) for s in MENTAL_HEALTH_SERVICES},
    }


def completeness(frame: pd.DataFrame, columns: list[str]) -> dict[str, float]:
    """Share of rows with a usable value in each column (NOBT/REFU and blanks count as missing)."""
    out = {}
    for col in columns:
        s = frame[col]
        usable = s.notna() & (s != "") & ~s.isin(["NOBT", "REFU", "10"])
        out[col] = round(float(usable.mean()), 4) if len(s) else 0.0
    return out


def theme_segments(themes: pd.DataFrame) -> pd.DataFrame:
    """Coded segments per theme and source type, plus how many sources raised each theme."""
    g = themes.groupby(["theme", "source_type"], observed=True)
    out = pd.DataFrame({"segments": g["segments"].sum(), "sources": g["source_id"].nunique()}).reset_index()
    return out.sort_values(["theme", "source_type"]).reset_index(drop=True)


def involvement(cases: pd.DataFrame, themes: pd.DataFrame) -> dict[str, Any]:
    """Practitioners' record of parental involvement against parents' own accounts.

    Practitioner account: share of case files recording parents as involved in making the plan.
    Parents' account: share of parent interviews in which the parent did *not* describe feeling
    left out of the plan (no segment coded ``parent_not_involved``).
    """
    recorded = cases["parents_involved"]
    known = recorded[recorded.isin(["yes", "no"])]
    interviews = themes.loc[themes["source_type"] == "parent_interview", "source_id"].unique()
    not_involved = themes.loc[(themes["source_type"] == "parent_interview")
                              & (themes["theme"] == "parent_not_involved"), "source_id"].nunique()
    unaware = themes.loc[(themes["source_type"] == "parent_interview")
                         & (themes["theme"] == "parent_unaware_of_goals"), "source_id"].nunique()
    return {
        "case_files_with_record": int(len(known)),
        "case_files_parents_involved": int((known == "yes").sum()),
        "parent_interviews": int(len(interviews)),
        "parents_not_involved": int(not_involved),
        "parents_unaware_of_goals": int(unaware),
        "goals_recorded": int((cases["goals_recorded"] == "yes").sum()),
        "goals_shared": int((cases["goals_shared"] == "yes").sum()),
    }


def case_measures(cases: pd.DataFrame, period_end: pd.Timestamp) -> pd.DataFrame:
    """Per-case values used in cross-authority tests, without identifiers (never published)."""
    months = plan_months(cases, period_end)
    days = (cases["plan_end_date"] - cases["plan_start_date"]).dt.days
    out = pd.DataFrame({
        "plan_days": days.astype("Int64"),
        "visits_per_month": (cases["visits"].astype(float) / months).round(4),
        "direct_work_per_month": (cases["direct_work_sessions"].astype(float) / months).round(4),
        "primary_need": cases["primary_need"],
        "plan_outcome": cases["plan_outcome"],
        "safeguarding_concern": cases["safeguarding_concern"],
    })
    return out.sort_values(list(out.columns), na_position="last").reset_index(drop=True)


def series_dict(s: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in s.items()}


SOURCE_TYPES = ("focus_group", "case_discussion", "parent_interview", "roundtable")


def source_summary(sources: pd.DataFrame | None, themes: pd.DataFrame) -> dict[str, Any]:
    """Sources of each type and their participants, from the list of sources (``sources.csv``) when
    there is one (``listed``: true), else the sources coded in ``themes.csv`` with participants unknown
    (None). Validation makes every coded source a listed one, so with a list the counts include
    sources that were listed but coded no theme."""
    out: dict[str, Any] = {"listed": sources is not None, "by_type": {}}
    for kind in SOURCE_TYPES:
        coded = set(themes.loc[themes["source_type"] == kind, "source_id"])
        if sources is None:
            out["by_type"][kind] = {"sources": len(coded), "participants": None}
        else:
            rows = sources[sources["source_type"] == kind]
            out["by_type"][kind] = {"sources": int(len(set(rows["source_id"]) | coded)),
                                    "participants": int(rows["participants"].sum())}
    return out


def authority_metrics(tables: dict[str, pd.DataFrame], codebook: Codebook, period_end,
                      mental_health_wait_days: float) -> dict[str, Any]:
    """Everything the report needs from one authority, JSON-ready and deterministic."""
    cases, support, admin, themes = (tables[k] for k in ("case_files", "support", "admin", "themes"))
    end = pd.Timestamp(period_end)
    services = code_counts(support, "service", codebook, "service", missing=None)
    per_case = support.groupby("case_id")["service"].nunique().reindex(cases["case_id"], fill_value=0)
    months = plan_months(cases, end)
    return {
        "counts": {
            "case_files": int(len(cases)),
            "admin_children": int(len(admin)),
            "services": int(len(support)),
            "focus_groups": int(themes.loc[themes["source_type"] == "focus_group", "source_id"].nunique()),
            "parent_interviews": int(themes.loc[themes["source_type"] == "parent_interview", "source_id"].nunique()),
            "case_discussions": int(themes.loc[themes["source_type"] == "case_discussion", "source_id"].nunique()),
            "open_plans": int(cases["plan_end_date"].isna().sum()),
        },
        "sources": source_summary(tables.get("sources"), themes),
        "characteristics": {
            "age_band": series_dict(age_band_counts(cases)),
            "gender": series_dict(code_counts(cases, "gender", codebook, "gender")),
            "ethnicity_group": series_dict(group_counts(cases, "ethnicity", codebook, "ethnicity")),
            "disability": series_dict(disability_counts(cases)),
            "admin_age_band": series_dict(age_band_counts(admin)),
            "admin_gender": series_dict(code_counts(admin, "gender", codebook, "gender")),
            "admin_ethnicity_group": series_dict(group_counts(admin, "ethnicity", codebook, "ethnicity")),
            "admin_disability": series_dict(disability_counts(admin)),
        },
        "completeness": {
            "case_files": completeness(cases, ["ethnicity", "disability", "referral_source"]),
            "admin": completeness(admin, ["ethnicity", "disability", "referral_source"]),
        },
        "reasons": {
            "primary_need": series_dict(code_counts(cases, "primary_need", codebook, "primary_need", missing=None)),
            "admin_primary_need": series_dict(code_counts(admin, "primary_need", codebook, "primary_need",
                                                          missing=None)),
            "factor_groups": series_dict(factor_group_counts(cases, codebook)),
            "admin_factor_groups": series_dict(factor_group_counts(admin, codebook)),
            "admin_factor_codes": factor_code_counts(admin),
            "safeguarding_concern": series_dict(code_counts(cases, "safeguarding_concern", codebook,
                                                            "concern_level", missing=None)),
            "referral_source": series_dict(group_counts(cases, "referral_source", codebook, "referral_source")),
        },
        "plans": {
            "length_days": quantiles(plan_days(cases)),
            "admin_length_days": quantiles(plan_days(admin)),
            "outcome": series_dict(code_counts(cases, "plan_outcome", codebook, "plan_outcome", missing=None)),
            "visits_per_month": quantiles(cases["visits"].astype(float) / months),
            "direct_work_per_month": quantiles(cases["direct_work_sessions"].astype(float) / months),
            "no_direct_work": int((cases["direct_work_sessions"] == 0).sum()),
        },
        "support": {
            "service": series_dict(services),
            "service_group": series_dict(group_counts(support, "service", codebook, "service").drop(NOT_RECORDED)),
            "provider": series_dict(code_counts(support, "provider", codebook, "provider", missing=None)),
            "status": series_dict(code_counts(support, "status", codebook, "support_status", missing=None)),
            "advice_or_coordination": int(support["service"].isin(ADVICE_SERVICES).sum()),
            "services_per_case": quantiles(per_case),
            "distinct_services": int(support["service"].nunique()),
            "wait_days": quantiles(service_waits(support)),
        },
        "needs": {
            "mental_health": mental_health_access(support, end, mental_health_wait_days),
            "factor_met": needs_met(cases, support),
        },
        "involvement": involvement(cases, themes),
        "themes": {f"{r.theme}|{r.source_type}": {"segments": int(r.segments), "sources": int(r.sources)}
                   for r in theme_segments(themes).itertuples()},
    }


# Factors whose need the study coded a matching service for.
NEED_SERVICES: dict[str, tuple[str, ...]] = {
    "Mental health (child)": ("camhs",),
    "Mental health (parent or household)": ("adult_mental_health",),
    "Domestic abuse": ("domestic_abuse",),
    "Alcohol or drug misuse": ("substance_misuse",),
    "Disability or illness": ("disability_service",),
}
NEED_FACTORS: dict[str, tuple[str, ...]] = {
    "Mental health (child)": ("4A", "15A"),
    "Mental health (parent or household)": ("4B", "4C"),
    "Domestic abuse": ("3A", "3B", "3C"),
    "Alcohol or drug misuse": ("1A", "1B", "1C", "2A", "2B", "2C"),
    "Disability or illness": ("5A", "6A"),
}


def needs_met(cases: pd.DataFrame, support: pd.DataFrame) -> dict[str, dict[str, int]]:
    """For each need with a specialist service: children with the need, referred, and receiving it.

    *Referred*: a matching service appears for the case at all. *Received*: a matching service
    started (status completed or ongoing).
    """
    out = {}
    for need, factors in NEED_FACTORS.items():
        has = cases["assessment_factors"].fillna("").map(lambda v, f=set(factors): bool(set(v.split(";")) & f))
        ids = set(cases.loc[has, "case_id"])
        matching = support[support["case_id"].isin(ids) & support["service"].isin(NEED_SERVICES[need])]
        received = matching[matching["status"].isin(["completed", "ongoing"])]
        out[need] = {"children": len(ids), "referred": int(matching["case_id"].nunique()),
                     "received": int(received["case_id"].nunique())}
    return out


# -- atoms: the finest counts every published number is a sum of ---------------------------------------
# Each *variable* splits one population of one authority (its case files, administrative children,
# services, mental-health referrals, parent interviews, coded segments) into categories along one or
# more *views* (e.g. ethnicity: its reporting group and whether it was recorded). An atom is one
# combination of view categories, keyed "category|category" in view order; its value is a count. Every
# number the report publishes is a sum of atoms (see cinreport.disclosure.publication), so one disclosure pass and
# one attacker can see how published numbers overlap.
UNUSABLE = ("NOBT", "REFU", "10")
RECORDED = {True: "Recorded", False: "Not recorded"}
YES_NO = {True: "yes", False: "no"}
MH_TIMELY = ("Met in time", "Not met in time")
NOT_MENTAL_HEALTH = "Not a mental-health service"
NEED_STATUS = ("No such need", "Need, not referred", "Referred, not received", "Received")


def _recorded(s: pd.Series) -> pd.Series:
    return (s.notna() & (s != "") & ~s.isin(UNUSABLE)).map(RECORDED)


def _atoms(*views: pd.Series) -> dict[str, int]:
    """Counts of each combination of view categories (rows aligned), keys 'a|b', sorted."""
    if not views or len(views[0]) == 0:
        return {}
    key = views[0].astype(str)
    for v in views[1:]:
        key = key + "|" + v.astype(str).to_numpy()
    return {str(k): int(v) for k, v in sorted(key.value_counts().items())}


def _status(v: Any) -> str:
    if not isinstance(v, str) or v == "":
        return NOT_RECORDED
    return "No disability" if v == "NONE" else "One or more disabilities"


def _label(frame: pd.DataFrame, column: str, cl, missing: str = NOT_RECORDED) -> pd.Series:
    return frame[column].map(lambda v: cl.label(v) if isinstance(v, str) and v else missing)


def _group(frame: pd.DataFrame, column: str, cl) -> pd.Series:
    return frame[column].map(lambda v: (cl.group_of(v) or "Other") if isinstance(v, str) and v else NOT_RECORDED)


def _children_atoms(frame: pd.DataFrame, codebook: Codebook, prefix: str) -> dict[str, dict[str, int]]:
    """Variables shared by case files and the administrative extract (``prefix`` '' or 'admin_')."""
    fl = codebook.codes("assessment_factor")
    has_group = _rows_with(explode_codes(frame["assessment_factors"]).map(lambda c: fl.group_of(c) or "Other"),
                           frame.index)
    out = {
        f"{prefix}age": _atoms(frame["age_at_plan_start"].astype(int).map(age_band)),
        f"{prefix}gender": _atoms(_label(frame, "gender", codebook.codes("gender"))),
        f"{prefix}ethnicity": _atoms(_group(frame, "ethnicity", codebook.codes("ethnicity")),
                                     _recorded(frame["ethnicity"])),
        f"{prefix}disability": _atoms(frame["disability"].map(_status), _recorded(frame["disability"])),
        f"{prefix}referral": _atoms(_recorded(frame["referral_source"])),
        f"{prefix}primary_need": _atoms(_label(frame, "primary_need", codebook.codes("primary_need"))),
    }
    for group in fl.groups:
        has = has_group[group] if group in has_group else pd.Series(False, index=frame.index)
        out[f"{prefix}factor_group:{group}"] = _atoms(has.map(YES_NO))
    return out


def _rows_with(values: pd.Series, index: pd.Index) -> pd.DataFrame:
    """Rows (``index``) × distinct values: True where the row has that value at least once
    (``values`` indexed by row, several per row)."""
    if values.empty:
        return pd.DataFrame(index=index)
    codes, uniques = pd.factorize(values, sort=True)  # a column per distinct value, in sorted order
    rows = index.get_indexer(values.index)
    keep = (codes >= 0) & (rows >= 0)  # no column for a missing value; rows outside ``index`` dropped
    marks = np.zeros((len(index), len(uniques)), dtype=bool)
    marks[rows[keep], codes[keep]] = True
    return pd.DataFrame(marks, index=index, columns=pd.Index(uniques, name=values.name))


def authority_atoms(tables: dict[str, pd.DataFrame], codebook: Codebook, period_end,
                    mental_health_wait_days: float) -> dict[str, dict[str, int]]:
    """Every variable's atoms for one authority (see the comment above), JSON-ready and sorted."""
    cases, support, admin, themes = (tables[k] for k in ("case_files", "support", "admin", "themes"))
    end = pd.Timestamp(period_end)
    out = _children_atoms(cases, codebook, "")
    out.update(_children_atoms(admin, codebook, "admin_"))
    out["concern"] = _atoms(_label(cases, "safeguarding_concern", codebook.codes("concern_level")))
    out["outcome"] = _atoms(_label(cases, "plan_outcome", codebook.codes("plan_outcome")),
                            cases["plan_end_date"].notna().map(YES_NO))
    out["parents_involved"] = _atoms(cases["parents_involved"].map(
        {"yes": "Involved", "no": "Not involved"}).fillna(NOT_RECORDED))
    for need, factors in NEED_FACTORS.items():
        has = cases["assessment_factors"].fillna("").map(lambda v, f=set(factors): bool(set(v.split(";")) & f))
        matching = support[support["service"].isin(NEED_SERVICES[need])]
        referred = cases["case_id"].isin(matching["case_id"])
        received = cases["case_id"].isin(matching.loc[matching["status"].isin(["completed", "ongoing"]), "case_id"])
        status = np.select([~has, ~referred, ~received], NEED_STATUS[:3], NEED_STATUS[3])
        out[f"need:{need}"] = _atoms(pd.Series(status, index=cases.index))
    # administrative children with each factor code, among those with any factor (DfE's denominator)
    codes = explode_codes(admin["assessment_factors"])
    codes = codes[codes != "21"]
    has_code = _rows_with(codes, admin.index)
    any_factor = pd.Series(admin.index.isin(codes.index), index=admin.index)
    out["admin_factor:_any"] = _atoms(any_factor.map({True: "yes", False: "no factors"}))
    for code in sorted(set(codes)):
        status = pd.Series(np.where(has_code[code], "yes", np.where(any_factor, "no", "no factors")),
                           index=admin.index)
        out[f"admin_factor:{code}"] = _atoms(status)
    # A mental-health referral is a service (CAMHS or adult mental health): its timeliness is a view of
    # the service variable, so the attacker sees that referrals and those services are the same rows.
    waits = (support["start_date"] - support["referral_date"]).dt.days
    waiting = (end - support["referral_date"]).dt.days
    late = (support["status"] == "not_available") | (support["start_date"].notna() & (waits > mental_health_wait_days)) \
        | ((support["status"] == "waiting") & (waiting > mental_health_wait_days))
    is_mh = support["service"].isin(MENTAL_HEALTH_SERVICES)
    timely = pd.Series(np.where(~is_mh, NOT_MENTAL_HEALTH, np.where(late, MH_TIMELY[1], MH_TIMELY[0])),
                       index=support.index)
    sl = codebook.codes("service")
    # Who provided a service is a view of the same rows: the provider table and the kind-of-service
    # table are sums of the same atoms, and only the combinations that occur are atoms (a reader who
    # knows that advice comes from the social worker knows no more than the attacker).
    out["service"] = _atoms(_label(support, "service", sl), _group(support, "service", sl),
                            support["service"].isin(ADVICE_SERVICES).map(YES_NO), timely,
                            support["start_date"].notna().map(YES_NO),
                            _label(support, "provider", codebook.codes("provider")))
    parents = themes[themes["source_type"] == "parent_interview"]
    listed = tables.get("sources")
    listed = set() if listed is None else set(listed.loc[listed["source_type"] == "parent_interview", "source_id"])
    ids = pd.Series(sorted(set(parents["source_id"]) | listed), dtype=object)  # an interview coded no theme too
    not_involved = set(parents.loc[parents["theme"] == "parent_not_involved", "source_id"])
    unaware = set(parents.loc[parents["theme"] == "parent_unaware_of_goals", "source_id"])
    out["interview"] = _atoms(ids.map(lambda s: "no" if s in not_involved else "yes"),
                              ids.map(lambda s: "no" if s in unaware else "yes"))
    seg = themes.groupby(["theme", "source_type"])["segments"].sum()
    out["segments"] = {f"{t}|{s}": int(v) for (t, s), v in sorted(seg.items()) if v}
    return {k: v for k, v in sorted(out.items())}
