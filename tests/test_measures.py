"""Unit tests of cinreport.analysis.measures on tiny hand-made typed tables (as validate.to_typed makes them)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cinreport.analysis import measures
from cinreport.data.codebook import load_codebook
from scenarios import CODEBOOK_PATH

PERIOD_END = pd.Timestamp("2021-03-31")


@pytest.fixture(scope="module")
def codebook():
    return load_codebook(CODEBOOK_PATH)


def codes(*values) -> pd.Series:
    """A code column as validation types it: pandas string dtype, blanks as <NA>."""
    return pd.Series([pd.NA if v is None else v for v in values], dtype="string")


def dates(*values) -> pd.Series:
    return pd.to_datetime(pd.Series(values, dtype="object"))


def ints(*values) -> pd.Series:
    return pd.Series(values, dtype="Int64")


def case_files(**columns) -> pd.DataFrame:
    """Case files with sensible defaults for every column not given (length from the first given)."""
    n = len(next(iter(columns.values()))) if columns else 1
    base = {
        "case_id": codes(*[f"C{i}" for i in range(n)]),
        "age_at_plan_start": ints(*[5] * n),
        "gender": codes(*["1"] * n),
        "ethnicity": codes(*["WBRI"] * n),
        "disability": codes(*["NONE"] * n),
        "referral_source": codes(*["2A"] * n),
        "primary_need": codes(*["N1"] * n),
        "assessment_factors": codes(*["20"] * n),
        "plan_start_date": dates(*["2020-05-01"] * n),
        "plan_end_date": dates(*["2020-07-30"] * n),
        "plan_outcome": codes(*["closed"] * n),
        "prior_episodes": ints(*[0] * n),
        "safeguarding_concern": codes(*["low"] * n),
        "visits": ints(*[3] * n),
        "direct_work_sessions": ints(*[2] * n),
        "parents_involved": codes(*["yes"] * n),
        "goals_recorded": codes(*["yes"] * n),
        "goals_shared": codes(*["yes"] * n),
    }
    base.update(columns)
    return pd.DataFrame(base)


def support_rows(*rows: tuple) -> pd.DataFrame:
    """Support rows from (case_id, service, referral_date, start_date or None, status)."""
    frame = pd.DataFrame(rows, columns=["case_id", "service", "referral_date", "start_date", "status"])
    return pd.DataFrame({
        "support_id": codes(*[f"S{i}" for i in range(len(rows))]),
        "case_id": codes(*frame["case_id"]),
        "service": codes(*frame["service"]),
        "provider": codes(*["external_agency"] * len(rows)),
        "need_addressed": codes(*[None] * len(rows)),
        "referral_date": dates(*frame["referral_date"]),
        "start_date": dates(*frame["start_date"]),
        "status": codes(*frame["status"]),
    })


def themes_rows(*rows: tuple) -> pd.DataFrame:
    """Themes from (source_id, source_type, theme, segments)."""
    frame = pd.DataFrame(rows, columns=["source_id", "source_type", "theme", "segments"])
    return pd.DataFrame({"source_id": codes(*frame["source_id"]), "source_type": codes(*frame["source_type"]),
                         "theme": codes(*frame["theme"]), "segments": ints(*frame["segments"])})


# --- characteristics ---------------------------------------------------------------------------

@pytest.mark.parametrize("age, band", [(0, "Under 1"), (1, "1 to 4"), (4, "1 to 4"), (5, "5 to 9"), (9, "5 to 9"),
                                       (10, "10 to 15"), (15, "10 to 15"), (16, "16 and over"),
                                       (17, "16 and over")])
def test_age_band_boundaries_fall_in_the_right_band(age, band):
    assert measures.age_band(age) == band


@pytest.mark.parametrize("age", [-1, 18])
def test_age_band_outside_0_to_17_raises(age):
    with pytest.raises(ValueError, match="outside 0-17"):
        measures.age_band(age)


def test_age_band_counts_in_band_order_with_zeros_and_missing_dropped():
    frame = case_files(age_at_plan_start=ints(0, 3, 4, 17, 12, pd.NA))
    counts = measures.age_band_counts(frame)
    assert list(counts.index) == ["Under 1", "1 to 4", "5 to 9", "10 to 15", "16 and over"]
    assert counts.tolist() == [1, 2, 0, 1, 1]
    assert counts.dtype == int


def test_code_counts_codebook_order_with_not_recorded_last(codebook):
    frame = case_files(primary_need=codes("N2", None, "N1", "N2"))
    counts = measures.code_counts(frame, "primary_need", codebook, "primary_need")
    assert list(counts.index) == list(codebook.codes("primary_need").labels.values()) + [measures.NOT_RECORDED]
    assert counts["Child's disability or illness"] == 2 and counts["Abuse or neglect"] == 1
    assert counts[measures.NOT_RECORDED] == 1
    assert counts.sum() == 4


def test_code_counts_code_labelled_not_recorded_shares_the_not_recorded_row(codebook):
    # gender code "0" is labelled "Not recorded": one row for it and the blanks, no duplicate label
    frame = case_files(gender=codes("2", "1", "2", None, "0", "9"))
    counts = measures.code_counts(frame, "gender", codebook, "gender")
    assert counts.index.is_unique
    assert list(counts.index) == ["Male", "Female", "Not recorded", "Indeterminate"]
    assert counts.tolist() == [1, 2, 2, 1]
    assert counts.sum() == len(frame)


def test_code_counts_without_missing_label_drops_blanks(codebook):
    frame = case_files(primary_need=codes("N2", None, "N2", "N0"))
    counts = measures.code_counts(frame, "primary_need", codebook, "primary_need", missing=None)
    labels = list(codebook.codes("primary_need").labels.values())
    assert list(counts.index) == labels
    assert counts["Child's disability or illness"] == 2
    assert counts["Not stated"] == 1
    assert counts.sum() == 3


def test_group_counts_groups_codes_and_counts_blanks_as_not_recorded(codebook):
    frame = case_files(ethnicity=codes("WBRI", "WIRI", "APKN", None, "NOBT"))
    counts = measures.group_counts(frame, "ethnicity", codebook, "ethnicity")
    assert list(counts.index) == ["White", "Mixed", "Asian", "Black", "Other", "Not known", "Not recorded"]
    assert counts.to_dict() == {"White": 2, "Mixed": 0, "Asian": 1, "Black": 0, "Other": 0, "Not known": 1,
                                "Not recorded": 1}


def test_disability_counts_none_one_or_more_and_blank():
    frame = case_files(disability=codes("NONE", "AUT;LD", "MOB", "", None))
    counts = measures.disability_counts(frame)
    assert counts.to_dict() == {"One or more disabilities": 2, "No disability": 1, "Not recorded": 2}


def test_factor_group_counts_counts_a_child_once_per_group(codebook):
    frame = case_files(assessment_factors=codes("3A;3B;3C", "3B;4A", "", None, "4A;15A;16A"))
    counts = measures.factor_group_counts(frame, codebook)
    assert list(counts.index) == list(codebook.codes("assessment_factor").groups)
    assert counts["Domestic abuse"] == 2          # child 0 has three domestic-abuse codes: counted once
    assert counts["Mental health (child)"] == 2   # child 4 has 4A and 15A: counted once
    assert counts["Abuse or neglect"] == 1
    assert counts["Behaviour"] == 0


# --- plans -------------------------------------------------------------------------------------

def test_plan_days_ignores_open_plans():
    frame = case_files(plan_start_date=dates("2020-04-01", "2020-05-01", "2020-06-01"),
                       plan_end_date=dates("2020-04-11", None, "2021-01-01"))
    days = measures.plan_days(frame)
    assert days.tolist() == [10, 214]


def test_plan_months_open_plans_run_to_period_end_and_at_least_half_a_month():
    frame = case_files(plan_start_date=dates("2020-03-31", "2021-03-30"),
                       plan_end_date=dates(None, "2021-03-31"))
    months = measures.plan_months(frame, PERIOD_END)
    assert months.iloc[0] == pytest.approx(365 / 30.4375)
    assert months.iloc[1] == 0.5


def test_quantiles_of_empty_values_are_none():
    assert measures.quantiles(pd.Series([], dtype=float)) == {"n": 0, "median": None, "q1": None, "q3": None}
    assert measures.quantiles([1, 2, 3, float("nan")]) == {"n": 3, "median": 2.0, "q1": 1.5, "q3": 2.5}


def test_case_measures_has_no_identifiers_and_blank_length_for_open_plans():
    frame = case_files(plan_start_date=dates("2020-04-01", "2020-04-01"), plan_end_date=dates("2020-05-01", None),
                       plan_outcome=codes("closed", "open"), direct_work_sessions=ints(0, 6))
    out = measures.case_measures(frame, PERIOD_END)
    assert "case_id" not in out.columns
    assert out["plan_days"].tolist()[0] == 30
    assert out["plan_days"].isna().sum() == 1
    open_row = out.loc[out["plan_outcome"] == "open"].iloc[0]
    assert open_row["direct_work_per_month"] == pytest.approx(round(6 / (364 / 30.4375), 4))


# --- mental-health access ----------------------------------------------------------------------

@pytest.fixture
def mh_support() -> pd.DataFrame:
    return support_rows(
        ("C1", "camhs", "2020-06-01", "2020-06-11", "completed"),              # started in 10 days: timely
        ("C1", "adult_mental_health", "2020-06-01", "2020-07-13", "ongoing"),  # exactly 42 days: timely
        ("C2", "camhs", "2020-06-01", "2020-07-14", "ongoing"),                # 43 days: started late
        ("C3", "camhs", "2020-12-01", None, "waiting"),                        # 120 days waiting: too long
        ("C4", "adult_mental_health", "2021-03-21", None, "waiting"),          # 10 days waiting: not yet late
        ("C5", "camhs", "2020-06-01", None, "not_available"),                  # not available: a gap
        ("C6", "camhs", "2020-06-01", None, "declined"),                       # declined: not a provision gap
        ("C7", "family_support_worker", "2020-06-01", "2020-12-01", "completed"),  # not mental health
    )


def test_mental_health_access_counts_each_status(mh_support):
    mh = measures.mental_health_access(mh_support, PERIOD_END, 42)
    assert mh["referrals"] == 7
    assert mh["started"] == 3
    assert mh["waiting"] == 2
    assert mh["not_available"] == 1
    assert mh["declined"] == 1
    assert mh["by_service"] == {"camhs": 5, "adult_mental_health": 2}


def test_mental_health_access_started_late_means_more_than_wait_days(mh_support):
    mh = measures.mental_health_access(mh_support, PERIOD_END, 42)
    assert mh["started_late"] == 1
    assert mh["wait_days"] == {"n": 3, "median": 42.0, "q1": 26.0, "q3": 42.5}


def test_mental_health_access_waiting_counts_as_late_only_beyond_wait_days(mh_support):
    mh = measures.mental_health_access(mh_support, PERIOD_END, 42)
    assert mh["waiting_too_long"] == 1
    assert mh["longest_current_wait_days"] == 120


def test_mental_health_access_not_timely_is_late_plus_waiting_too_long_plus_not_available(mh_support):
    mh = measures.mental_health_access(mh_support, PERIOD_END, 42)
    assert mh["not_timely"] == 3
    assert mh["timely_within_days"] == 42
    # a longer allowed wait makes the late start timely but not the 120-day wait
    assert measures.mental_health_access(mh_support, PERIOD_END, 60)["not_timely"] == 2


def test_mental_health_access_without_referrals_is_all_zero():
    support = support_rows(("C1", "advice_guidance", "2020-06-01", "2020-06-01", "completed"))
    mh = measures.mental_health_access(support, PERIOD_END, 42)
    assert (mh["referrals"], mh["not_timely"], mh["longest_current_wait_days"]) == (0, 0, None)
    assert mh["wait_days"]["n"] == 0


# --- completeness, involvement, needs met -----------------------------------------------------

def test_completeness_treats_nobt_refu_unknown_and_blank_as_missing():
    frame = case_files(ethnicity=codes("WBRI", "NOBT", "REFU", "", None, "APKN", "AIND", "WBRI"),
                       disability=codes("NONE", "AUT", "", None, "NONE", "LD", "NONE", "NONE"),
                       referral_source=codes("10", "2A", "6", "10", "3A", "8", "9", "1A"))
    out = measures.completeness(frame, ["ethnicity", "disability", "referral_source"])
    assert out == {"ethnicity": 0.5, "disability": 0.75, "referral_source": 0.75}


def test_completeness_all_recorded_is_one():
    assert measures.completeness(case_files(ethnicity=codes("WBRI", "BAFR")), ["ethnicity"]) == {"ethnicity": 1.0}


def test_involvement_compares_case_files_with_parent_interviews():
    cases = case_files(parents_involved=codes("yes", "yes", "no", "not_recorded"),
                       goals_recorded=codes("yes", "yes", "no", "yes"), goals_shared=codes("yes", "no", "no", "no"))
    themes = themes_rows(
        ("PI1", "parent_interview", "parent_not_involved", 3),
        ("PI1", "parent_interview", "parent_unaware_of_goals", 1),
        ("PI2", "parent_interview", "service_gaps", 1),
        ("PI3", "parent_interview", "parent_unaware_of_goals", 2),
        ("FG1", "focus_group", "parent_not_involved", 4),  # practitioners' view: not a parent's account
    )
    out = measures.involvement(cases, themes)
    assert out == {"case_files_with_record": 3, "case_files_parents_involved": 2, "parent_interviews": 3,
                   "parents_not_involved": 1, "parents_unaware_of_goals": 2, "goals_recorded": 3,
                   "goals_shared": 1}


def test_needs_met_counts_children_referred_and_receiving_a_matching_service():
    cases = case_files(case_id=codes("C1", "C2", "C3", "C4", "C5"),
                       assessment_factors=codes("4A", "4B;3B", "3A", "4A;15A", None))
    support = support_rows(
        ("C1", "camhs", "2020-06-01", None, "waiting"),                          # referred, not received
        ("C2", "adult_mental_health", "2020-06-01", "2020-06-20", "completed"),  # received
        ("C2", "domestic_abuse", "2020-06-01", None, "declined"),                # referred, declined
        ("C4", "adult_mental_health", "2020-06-01", "2020-06-20", "ongoing"),    # not the matching service
        ("C4", "camhs", "2020-06-01", "2020-06-20", "ongoing"),
        ("C4", "camhs", "2020-09-01", "2020-09-20", "completed"),                # second camhs: same child
    )
    out = measures.needs_met(cases, support)
    assert out["Mental health (child)"] == {"children": 2, "referred": 2, "received": 1}
    assert out["Mental health (parent or household)"] == {"children": 1, "referred": 1, "received": 1}
    assert out["Domestic abuse"] == {"children": 2, "referred": 1, "received": 0}
    assert out["Alcohol or drug misuse"] == {"children": 0, "referred": 0, "received": 0}


# --- the whole authority -------------------------------------------------------------------------

def test_authority_metrics_is_json_ready_and_consistent(codebook, mh_support):
    cases = case_files(case_id=codes(*[f"C{i}" for i in range(1, 8)]))
    admin = case_files(age_at_plan_start=ints(2, 7)).rename(columns={"case_id": "child_id"})
    themes = themes_rows(("FG1", "focus_group", "service_gaps", 2), ("PI1", "parent_interview", "service_gaps", 1))
    m = measures.authority_metrics({"case_files": cases, "support": mh_support, "admin": admin, "themes": themes},
                                   codebook, "2021-03-31", 42)
    json.dumps(m, allow_nan=False)
    assert m["counts"]["case_files"] == 7 and m["counts"]["services"] == 8
    assert m["needs"]["mental_health"]["not_timely"] == 3
    assert m["support"]["advice_or_coordination"] == 0
    assert m["themes"] == {"service_gaps|focus_group": {"segments": 2, "sources": 1},
                           "service_gaps|parent_interview": {"segments": 1, "sources": 1}}
