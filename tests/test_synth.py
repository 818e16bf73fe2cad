"""The synthetic demo data: reproducible, equal to what is committed, and shaped as documented."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cinreport.data import synth
from cinreport.data.codebook import load_codebook
from cinreport.data.config import load_report

ROOT = Path(__file__).resolve().parents[1]
CODEBOOK = load_codebook(ROOT / "data" / "codebook.yml")
REPORT = load_report(ROOT / "params")
PERIOD = (REPORT.period_start, REPORT.period_end)
CLI = Path(sys.executable).with_name("cinreport")


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.csv"))}


def _committed() -> dict[str, bytes]:
    return {k: v for k, v in _files(ROOT / "data").items() if not k.startswith("codebook")}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    synth.generate(out, REPORT.seed, PERIOD, codebook=CODEBOOK)
    return out


def test_same_seed_gives_byte_identical_files(generated, tmp_path):
    synth.generate(tmp_path, REPORT.seed, PERIOD, codebook=CODEBOOK)
    first, second = _files(generated), _files(tmp_path)
    assert len(first) == 21  # five files for each of four authorities, and the study-wide sources.csv
    assert first == second


def test_other_seed_gives_other_data(generated, tmp_path):
    synth.generate(tmp_path, REPORT.seed + 1, PERIOD, codebook=CODEBOOK)
    other = _files(tmp_path)
    assert other.keys() == _files(generated).keys()
    assert all(other[k] != v for k, v in _files(generated).items() if "case_files" in k)


def test_committed_data_is_what_the_generator_makes(generated):
    """data/ cannot drift from `cinreport synth` with the seed and period in params/report.yml."""
    committed = _committed()
    made = _files(generated)
    assert sorted(committed) == sorted(made), "data/ must hold exactly the demo authorities' files"
    drifted = [name for name in made if committed[name] != made[name]]
    assert not drifted, f"data/ differs from `cinreport synth` output in {drifted}: run `cinreport synth`"


def test_cli_synth_writes_the_committed_data(tmp_path):
    proc = subprocess.run([str(CLI), "synth", "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert _files(tmp_path) == _committed()


def test_demo_sizes_match_the_study():
    """82 reviewed case files across four authorities (as in the study); hundreds of admin rows each."""
    cases = {code: pd.read_csv(ROOT / "data" / code / "case_files.csv", dtype=str) for code in synth.DEMO_PROFILES}
    admin = {code: pd.read_csv(ROOT / "data" / code / "admin.csv", dtype=str) for code in synth.DEMO_PROFILES}
    assert sorted(synth.DEMO_PROFILES) == ["la-a", "la-b", "la-c", "la-d"]
    assert sum(len(t) for t in cases.values()) == 82
    assert all(len(t) >= 200 for t in admin.values()), {k: len(t) for k, t in admin.items()}
    for code, profile in synth.DEMO_PROFILES.items():
        assert len(cases[code]) == profile.n_cases
        assert len(admin[code]) == profile.n_admin


def test_ids_are_pseudonymous_and_unique(generated):
    for code in synth.DEMO_PROFILES:
        prefix = code.upper().replace("-", "")
        cases = pd.read_csv(generated / code / "case_files.csv", dtype=str)
        admin = pd.read_csv(generated / code / "admin.csv", dtype=str)
        support = pd.read_csv(generated / code / "support.csv", dtype=str)
        assert cases["case_id"].str.fullmatch(rf"{prefix}-C\d{{3}}").all()
        assert admin["child_id"].str.fullmatch(rf"{prefix}-A\d{{5}}").all()
        assert cases["case_id"].is_unique and admin["child_id"].is_unique and support["support_id"].is_unique


def test_files_follow_the_codebook_column_order(generated):
    for code in synth.DEMO_PROFILES:
        for spec in CODEBOOK.files.values():
            header = (generated / code / spec.filename).read_text(encoding="utf-8").splitlines()[0]
            assert header == ",".join(c.name for c in spec.columns)


# --- calibration and profiles ---------------------------------------------------------------------

def test_national_shares_are_proportions():
    assert sum(synth.NATIONAL_PRIMARY_NEED.values()) == pytest.approx(1.0, abs=1e-9)
    assert set(synth.NATIONAL_PRIMARY_NEED) == set(CODEBOOK.codes("primary_need").labels)
    assert set(synth.NATIONAL_FACTOR_SHARES) <= set(CODEBOOK.codes("assessment_factor").labels)
    assert all(0 < p < 1 for p in synth.NATIONAL_FACTOR_SHARES.values())


@pytest.fixture(scope="module")
def large_default() -> dict[str, pd.DataFrame]:
    """A large authority with the default (national) profile, to check calibration."""
    profile = dataclasses.replace(synth.Profile(), n_cases=50, n_admin=6000)
    return synth.generate_authority("la-x", profile, 7, PERIOD)


def test_default_profile_is_calibrated_to_national_shares(large_default):
    admin = large_default["admin"]
    assert (admin["gender"] == "1").mean() == pytest.approx(0.54, abs=0.02)
    recorded = admin["disability"][admin["disability"] != ""]
    assert (recorded != "NONE").mean() == pytest.approx(0.12, abs=0.02)
    need = admin["primary_need"].value_counts(normalize=True)
    for code, share in synth.NATIONAL_PRIMARY_NEED.items():
        assert need.get(code, 0.0) == pytest.approx(share, abs=0.02), code


@pytest.fixture(scope="module")
def large_demo() -> dict[str, dict[str, pd.DataFrame]]:
    """Each demo profile with many cases: the profile differences must show, not be noise."""
    return {code: synth.generate_authority(code, dataclasses.replace(p, n_cases=300, n_admin=1500), 11, PERIOD)
            for code, p in synth.DEMO_PROFILES.items()}


def _days(frame: pd.DataFrame, start: str, end: str) -> pd.Series:
    ended = frame[frame[end] != ""]
    return (pd.to_datetime(ended[end]) - pd.to_datetime(ended[start])).dt.days


def test_profiles_differ_as_documented(large_demo):
    plan_days = {c: _days(t["admin"], "plan_start_date", "plan_end_date").median() for c, t in large_demo.items()}
    # la-a: low threshold, short plans; la-b and la-d: long plans.
    assert plan_days["la-a"] == min(plan_days.values())
    assert plan_days["la-a"] < plan_days["la-c"] < min(plan_days["la-b"], plan_days["la-d"])
    # la-c: the longest waits for mental-health support; la-d the shortest.
    waits = {}
    for code, t in large_demo.items():
        s = t["support"]
        mh = s[s["service"].isin(synth.MENTAL_HEALTH_SERVICES)]
        waits[code] = _days(mh, "referral_date", "start_date").median()
    assert max(waits, key=waits.get) == "la-c"
    assert min(waits, key=waits.get) == "la-d"
    # la-c: disability-led.
    disabled = {c: (t["admin"]["disability"].isin(["", "NONE"]) == False).mean()  # noqa: E712
                for c, t in large_demo.items()}
    assert max(disabled, key=disabled.get) == "la-c"
    # la-b: the highest safeguarding concern; la-a the lowest.
    high = {c: t["case_files"]["safeguarding_concern"].isin(["medium", "high"]).mean() for c, t in large_demo.items()}
    assert max(high, key=high.get) == "la-b" and min(high, key=high.get) == "la-a"
    # la-a: advice-led support.
    advice = {c: t["support"]["service"].isin(["advice_guidance", "coordination"]).mean()
              for c, t in large_demo.items()}
    assert max(advice, key=advice.get) == "la-a"


def test_generated_dates_stay_inside_the_period(large_demo):
    lo, hi = (np.datetime64(d) for d in PERIOD)
    for t in large_demo.values():
        for name, cols in (("case_files", ["plan_start_date", "plan_end_date"]),
                           ("admin", ["plan_start_date", "plan_end_date"]),
                           ("support", ["referral_date", "start_date"])):
            for col in cols:
                values = pd.to_datetime(t[name][col][t[name][col] != ""]).to_numpy()
                assert (values >= lo).all() and (values <= hi).all(), (name, col)


def test_scenario_and_identical_helpers():
    same = synth.identical(3)
    assert list(same) == ["la-a", "la-b", "la-c"] and len({id(p) for p in same.values()}) == 1
    longer = synth.scenario(plan_median_days=999)
    assert all(p.plan_median_days == 999 for p in longer.values())
    assert longer["la-c"].disability_share == synth.DEMO_PROFILES["la-c"].disability_share


def test_period_is_respected_for_another_period(tmp_path):
    period = (dt.date(2022, 1, 1), dt.date(2022, 12, 31))
    tables = synth.generate_authority("la-a", synth.DEMO_PROFILES["la-a"], 3, period)
    starts = pd.to_datetime(tables["case_files"]["plan_start_date"])
    assert starts.min() >= pd.Timestamp(period[0]) and starts.max() <= pd.Timestamp(period[1])


def test_data_readme_matches_the_profiles():
    """data/README.md's table of the four authorities is checked against DEMO_PROFILES."""
    text = (ROOT / "data" / "README.md").read_text(encoding="utf-8")
    assert "SYNTHETIC" in text
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in text.splitlines() if line.startswith("| ") and line.count("|") == 6}
    codes = ["la-a", "la-b", "la-c", "la-d"]
    assert rows[""] == codes
    p = [synth.DEMO_PROFILES[c] for c in codes]
    assert rows["Case files / admin children"] == [f"{x.n_cases} / {x.n_admin}" for x in p]
    assert rows["Focus groups / parent interviews"] == [f"{x.focus_groups} / {x.parent_interviews}" for x in p]
    assert rows["Median plan length (days)"] == [f"{x.plan_median_days:g}" for x in p]
    assert rows["Services per case"] == [f"{x.services_per_case:.1f}" for x in p]
    assert rows["Weight on advice and co-ordination"] == [f"{x.advice_weight:g}" for x in p]
    assert rows["Median mental-health wait (days)"] == [f"{x.mh_median_wait_days:g}" for x in p]
    assert rows["Mental-health service not available"] == [f"{x.mh_not_available:.0%}" for x in p]
    assert rows["Disability among recorded"] == [f"{x.disability_share:.0%}" for x in p]
    assert rows["Disability recorded"] == [f"{x.disability_recorded:.0%}" for x in p]
    assert rows["Parents recorded as involved / parents who feel involved"] == [
        f"{x.parents_involved:.0%} / {x.parent_feels_involved:.0%}" for x in p]
    assert rows["Safeguarding concern medium or high"] == [
        f"{x.concern_mix['medium'] + x.concern_mix['high']:.0%}" for x in p]
    assert sum(x.n_cases for x in p) == 82
    assert sum(x.focus_groups for x in p) == 7 and sum(x.parent_interviews for x in p) == 11
    assert f"{sum(x.n_admin for x in p):,} children" in text


def test_demo_sources_match_the_study_and_the_themes():
    """The lists of sources: 7 focus groups with 29 staff, 11 parent interviews (the study's numbers),
    the case discussions that themes.csv codes, and four study-wide roundtables; every coded source is
    listed with its type (what validation checks), drawn from its own stream so themes.csv is unchanged."""
    sources = pd.concat([pd.read_csv(ROOT / "data" / code / "sources.csv", dtype={"participants": int})
                         for code in synth.DEMO_PROFILES])
    themes = pd.concat([pd.read_csv(ROOT / "data" / code / "themes.csv") for code in synth.DEMO_PROFILES])
    by_type = sources.groupby("source_type")
    assert by_type.size().to_dict() == {"case_discussion": 8, "focus_group": 7, "parent_interview": 11}
    assert by_type["participants"].sum()["focus_group"] == 29
    coded = themes.drop_duplicates("source_id").set_index("source_id")["source_type"]
    listed = sources.set_index("source_id")["source_type"]
    assert (listed.reindex(coded.index) == coded).all()
    study = pd.read_csv(ROOT / "data" / "sources.csv")
    assert list(study["source_type"]) == ["roundtable"] * 4 and (study["participants"] >= 1).all()
