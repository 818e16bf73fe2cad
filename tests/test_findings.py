"""Scenario tests of the findings engine: synthetic studies whose truth is known, run through the real
pipeline (write CSV → validate → measure → evaluate), and the rendered key-findings chapter.

Each scenario is checked with two seeds, so a result holds because of the data's design, not a lucky
draw. Authorities have 60-80 case files (the demo's ~20 would make many comparisons 'uncertain').
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from cinreport.chapters import findings
from cinreport.chapters.study import Study
from cinreport.common.atomic import dumps_json
from cinreport.data import synth
from cinreport.data.config import REPORT_DEFAULTS
from scenarios import study_from_profiles, write_study

SEEDS = (3, 7)
THRESHOLDS = {k: float(v) for k, v in REPORT_DEFAULTS["findings"].items()}
VARIATION_IDS = ("variation-reasons", "variation-use", "variation-length", "variation-services",
                 "variation-direct-work")
P = synth.Profile
SMALL_ADMIN = 60  # the administrative extract only feeds recording-gaps; keep it small for speed

SCENARIOS: dict[str, dict[str, synth.Profile]] = {
    # One profile for every authority: the truth is "no variation between authorities".
    "identical": synth.identical(4, P(n_cases=80, n_admin=SMALL_ADMIN)),
    # Authorities that differ hugely in primary need and plan length.
    "different": {
        "la-a": P(n_cases=70, n_admin=SMALL_ADMIN, primary_need={"N1": 0.9, "N4": 0.1}, plan_median_days=30,
                  plan_spread=0.3),
        "la-b": P(n_cases=70, n_admin=SMALL_ADMIN, primary_need={"N2": 0.9, "N5": 0.1}, plan_median_days=200,
                  plan_spread=0.3),
        "la-c": P(n_cases=70, n_admin=SMALL_ADMIN, primary_need={"N4": 0.9, "N1": 0.1}, plan_median_days=30,
                  plan_spread=0.3),
        "la-d": P(n_cases=70, n_admin=SMALL_ADMIN, primary_need={"N5": 0.9, "N2": 0.1}, plan_median_days=200,
                  plan_spread=0.3),
    },
    # Mental-health support starts within days, is always available and never declined.
    "no-mh-waits": synth.identical(4, P(n_cases=60, n_admin=SMALL_ADMIN, mh_median_wait_days=3,
                                        mh_not_available=0.0, mh_declined=0.0)),
    # Long waits and often not available.
    "mh-gap": synth.identical(4, P(n_cases=60, n_admin=SMALL_ADMIN, mh_median_wait_days=150,
                                   mh_not_available=0.4)),
    # Too few cases per authority (below min_cases_per_authority = 10) to call any variation.
    "small": synth.identical(4, P(n_cases=6, n_admin=SMALL_ADMIN)),
    # Case files say parents were involved; parents say they were not.
    "involvement-gap": synth.identical(4, P(n_cases=60, n_admin=SMALL_ADMIN, parents_involved=0.95,
                                            parent_feels_involved=0.1, parent_interviews=6)),
    # Parents feel at least as involved as the case files record.
    "involvement-agree": synth.identical(4, P(n_cases=60, n_admin=SMALL_ADMIN, parents_involved=0.9,
                                              parent_feels_involved=0.95, parent_interviews=6)),
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """``run(name, seed)`` → (metrics, cases, findings); each scenario and seed is built once."""
    cache: dict[tuple[str, int], tuple] = {}

    def _run(name: str, seed: int):
        if (name, seed) not in cache:
            workdir = tmp_path_factory.mktemp(f"{name}-{seed}")
            metrics, cases = study_from_profiles(SCENARIOS[name], seed, workdir=workdir)
            cache[name, seed] = (metrics, cases, findings.evaluate(metrics, cases, THRESHOLDS, seed=seed))
        return cache[name, seed]

    return _run


def by_id(found: list[findings.Finding]) -> dict[str, findings.Finding]:
    return {f.id: f for f in found}


def implication_ids(found: list[findings.Finding]) -> set[str]:
    return {i.id for i in findings.implications(found)}


# --- variation between authorities ---------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.slow
def test_identical_authorities_show_no_considerable_variation(run, seed):
    _, _, found = run("identical", seed)
    f = by_id(found)
    for fid in VARIATION_IDS:
        assert f[fid].outcome in ("none", "some"), (fid, f[fid].outcome, f[fid].sentence)
        assert not f[fid].holds
        assert ("no considerable variation" in f[fid].sentence
                or re.search(r"differed .* small", f[fid].sentence)), f[fid].sentence
    assert "consistency" not in implication_ids(found)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.slow
def test_strongly_different_authorities_show_considerable_variation(run, seed):
    _, _, found = run("different", seed)
    f = by_id(found)
    for fid in ("variation-reasons", "variation-length"):
        assert f[fid].outcome == "considerable", (fid, f[fid].sentence)
        assert f[fid].holds
        assert f[fid].sentence.startswith("There was considerable variation between authorities")
    consistency = next(i for i in findings.implications(found) if i.id == "consistency")
    assert {"variation-reasons", "variation-length"} <= set(consistency.supported_by)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.slow
def test_small_samples_make_variation_uncertain(run, seed):
    metrics, _, found = run("small", seed)
    assert all(m["counts"]["case_files"] < THRESHOLDS["min_cases_per_authority"] for m in metrics.values())
    f = by_id(found)
    for fid in VARIATION_IDS:
        assert f[fid].outcome == "uncertain", (fid, f[fid].outcome)
        assert not f[fid].holds
        assert "too uncertain to call" in f[fid].sentence
        assert "fewer than 10" in f[fid].sentence
    assert "consistency" not in implication_ids(found)


@pytest.mark.slow
def test_variation_finding_records_cases_per_authority(run):
    metrics, cases, found = run("different", SEEDS[0])
    f = by_id(found)
    assert f["variation-reasons"].measures["n_per_authority"] == {c: m["counts"]["case_files"]
                                                                  for c, m in metrics.items()}
    assert f["variation-length"].measures["n_per_authority"] == {c: int(df["plan_days"].notna().sum())
                                                                 for c, df in cases.items()}


@pytest.mark.slow
def test_variation_not_testable_with_one_authority_is_uncertain(run):
    metrics, cases, _ = run("identical", SEEDS[0])
    one = {"la-a": metrics["la-a"]}
    found = by_id(findings.evaluate(one, {"la-a": cases["la-a"]}, THRESHOLDS))
    for fid in VARIATION_IDS:
        assert found[fid].outcome == "uncertain"
        assert "could not be tested" in found[fid].sentence
        json.dumps(found[fid].to_dict(), allow_nan=False)


# --- mental-health support -------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.slow
def test_no_mental_health_waits_means_no_gap_and_no_access_implication(run, seed):
    _, _, found = run("no-mh-waits", seed)
    mh = by_id(found)["mental-health-gap"]
    assert mh.measures["referrals"] >= 20
    assert not mh.holds and mh.outcome == "no-gap"
    assert mh.measures["share"] < THRESHOLDS["mental_health_gap_share"]
    assert mh.sentence.startswith("Most mental-health referrals were met in time")
    assert "multi-agency-access" not in implication_ids(found)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.slow
def test_long_mental_health_waits_are_a_gap_with_the_access_implication(run, seed):
    _, _, found = run("mh-gap", seed)
    mh = by_id(found)["mental-health-gap"]
    assert mh.holds and mh.outcome == "gap"
    assert mh.sentence.startswith("There were gaps in provision, especially timely mental-health support")
    access = next(i for i in findings.implications(found) if i.id == "multi-agency-access")
    assert access.supported_by == ["mental-health-gap"]


@pytest.mark.parametrize("name", ["no-mh-waits", "mh-gap"])
@pytest.mark.slow
def test_mental_health_sentence_numbers_come_from_the_measures(run, name):
    metrics, _, found = run(name, SEEDS[0])
    mh = by_id(found)["mental-health-gap"]
    referrals = sum(m["needs"]["mental_health"]["referrals"] for m in metrics.values())
    not_timely = sum(m["needs"]["mental_health"]["not_timely"] for m in metrics.values())
    assert (mh.measures["referrals"], mh.measures["not_timely"]) == (referrals, not_timely)
    assert mh.measures["share"] == round(not_timely / referrals, 4)
    quoted = re.search(r"(\d+) of (\d+) referrals to child or adult mental-health services \((\d+)%\)", mh.sentence)
    assert int(quoted.group(1)) == not_timely
    assert int(quoted.group(3)) == round(100 * not_timely / referrals)
    assert abs(int(quoted.group(3)) - 100 * mh.measures["share"]) <= 0.5 + 1e-9
    assert int(quoted.group(2)) == referrals
    assert f"more than {THRESHOLDS['mental_health_wait_days']:.0f} days" in mh.sentence
    lo, hi = mh.measures["share_ci95"]
    assert lo <= mh.measures["share"] <= hi


@pytest.mark.slow
def test_mental_health_finding_refuses_metrics_measured_with_another_wait(run):
    metrics, cases, _ = run("mh-gap", SEEDS[0])
    with pytest.raises(ValueError, match="mental_health_wait_days"):
        findings.evaluate(metrics, cases, {**THRESHOLDS, "mental_health_wait_days": 60.0})


# --- involvement -------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.slow
def test_parents_not_feeling_involved_is_an_involvement_gap(run, seed):
    _, _, found = run("involvement-gap", seed)
    inv = by_id(found)["involvement-gap"]
    assert inv.holds and inv.outcome == "gap"
    assert inv.measures["gap_points"] >= THRESHOLDS["involvement_gap_points"]
    assert "collaboration" in implication_ids(found)
    m = inv.measures
    expected = [_published_share(m["case_files_parents_involved"], m["case_files_with_record"]),
                _published_share(m["parents_felt_involved"], m["parent_interviews"])]
    quoted = [int(x) for x in re.findall(r"(\d+)% of", inv.sentence)]
    assert set(quoted) <= {e for e in expected if e is not None}  # the store may suppress more, never less
    assert inv.sentence.count("`c` (suppressed) of") >= expected.count(None)


def _published_share(k: int, n: int, threshold: int = 5) -> int | None:
    """The whole percentage a sentence may quote, or None where the primary rule hides it."""
    if 0 < k < threshold or 0 < n - k < threshold:
        return None
    return round(100 * k / n)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.slow
def test_parents_feeling_involved_is_no_involvement_gap(run, seed):
    _, _, found = run("involvement-agree", seed)
    inv = by_id(found)["involvement-gap"]
    assert not inv.holds and inv.outcome in ("no-gap", "parents-higher")
    assert inv.measures["gap_points"] < THRESHOLDS["involvement_gap_points"]
    assert "collaboration" not in implication_ids(found)


def _with_involvement(metrics: dict, **values) -> dict:
    return {c: {**m, "involvement": {**m["involvement"], **values}} for c, m in metrics.items()}


def _involvement_pub(involved: int, with_record: int, felt: int, interviews: int, unaware: int):
    """The published store for one authority with these involvement counts (as the plan declares them)."""
    from cinreport.disclosure import plan
    from cinreport.disclosure.publication import ALL, Publication, Published, ref, size

    no_no = min(unaware, interviews - felt)
    yes_no = unaware - no_no
    atoms = {"la-x": {"parents_involved": {"Involved": involved, "Not involved": with_record - involved},
                      "interview": {"yes|yes": felt - yes_no, "yes|no": yes_no, "no|yes": interviews - felt - no_no,
                                    "no|no": no_no}}}
    atoms["la-x"] = {k: {a: v for a, v in d.items() if v} for k, d in atoms["la-x"].items()}
    pub = Publication(atoms, 5, "c")
    plan._share(pub, "study/involved-records", "key findings", "records",
                ref("parents_involved", ALL, label="Involved"),
                ref("parents_involved", ALL, label=("Involved", "Not involved")), None)
    plan._share(pub, "study/felt-involved", "key findings", "felt", ref("interview", ALL, felt_involved="yes"),
                size("parent_interviews", ALL), None)
    plan._share(pub, "study/unaware", "key findings", "unaware", ref("interview", ALL, aware="no"),
                size("parent_interviews", ALL), None)
    return Published.from_dict(pub.suppress().to_dict())


@pytest.mark.slow
def test_involvement_parents_higher_than_case_files_is_not_called_close(run):
    metrics, _, _ = run("identical", SEEDS[0])
    changed = _with_involvement({"la-x": metrics["la-a"]}, case_files_with_record=40, case_files_parents_involved=12,
                                parent_interviews=40, parents_not_involved=8, parents_unaware_of_goals=10)
    inv = findings.involvement_finding(changed, THRESHOLDS, _involvement_pub(12, 40, 32, 40, 10))
    assert inv.outcome == "parents-higher" and not inv.holds
    assert "close" not in inv.sentence
    assert "80% of 40 interviews" in inv.sentence and "30% of plans" in inv.sentence


@pytest.mark.slow
def test_involvement_sentence_suppresses_a_small_complement(run):
    """36 of 40 parents felt involved: quoting 90% of 40 would reveal that 4 did not."""
    metrics, _, _ = run("identical", SEEDS[0])
    changed = _with_involvement({"la-x": metrics["la-a"]}, case_files_with_record=40, case_files_parents_involved=12,
                                parent_interviews=40, parents_not_involved=4, parents_unaware_of_goals=10)
    inv = findings.involvement_finding(changed, THRESHOLDS, _involvement_pub(12, 40, 36, 40, 10))
    assert "90%" not in inv.sentence
    assert "`c` (suppressed) of 40 interviews" in inv.sentence


@pytest.mark.slow
def test_involvement_without_interviews_is_no_data_and_json_safe(run):
    metrics, _, _ = run("identical", SEEDS[0])
    inv = findings.involvement_finding(_with_involvement({"la-x": metrics["la-a"]}, parent_interviews=0,
                                                         parents_not_involved=0, parents_unaware_of_goals=0),
                                       THRESHOLDS, _involvement_pub(12, 40, 0, 0, 0))
    assert inv.outcome == "no-data" and not inv.holds
    json.dumps(inv.to_dict(), allow_nan=False)  # no NaN reaches findings.json
    assert inv.measures["parent_share"] is None and inv.measures["gap_points"] is None


# --- the findings document ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["identical", "different", "small"])
@pytest.mark.slow
def test_findings_document_round_trips_with_evidence_for_every_finding(run, name):
    metrics, _, found = run(name, SEEDS[0])
    imps = findings.implications(found)
    doc = findings.findings_document(found, imps, {"authorities": sorted(metrics)})
    text = dumps_json(doc)  # allow_nan=False: raises on NaN
    assert json.loads(text) == doc
    assert [f["id"] for f in doc["findings"]] == [f.id for f in found]
    assert len({f["id"] for f in doc["findings"]}) == len(found)
    for f in doc["findings"]:
        for key in ("id", "rule", "outcome", "sentence", "section"):
            assert isinstance(f[key], str) and f[key], (f["id"], key)
        assert isinstance(f["holds"], bool)
        assert "measures" not in f  # raw measures stay in the build; the document has what is published
        assert isinstance(f["evidence"], list) and all(isinstance(e, str) for e in f["evidence"])
        assert isinstance(f["thresholds"], dict)
        assert f["sentence"].endswith(".")
        assert "nan" not in f["sentence"].lower().split()
        assert all(isinstance(v, float) for v in f["thresholds"].values())
    holding = {f["id"] for f in doc["findings"] if f["holds"]}
    for i in doc["implications"]:
        assert i["supported_by"] and {s.split("@")[0] for s in i["supported_by"]} <= holding
    every = {iid for iid, _, _ in findings.IMPLICATIONS}
    dropped = every - {i["id"] for i in doc["implications"]}
    for iid, _, gate in findings.IMPLICATIONS:
        opened = all(any(findings._token_holds(tok, by_id(found)) for tok in group) for group in gate)
        assert (iid in dropped) == (not opened)
    for f in doc["findings"]:
        assert f["group"] in findings.GROUPS and f["summary"].endswith(".")
        assert f["robustness"]["label"] in ("robust", "fragile", "uncertain")
        assert set(f["sources"]) == set(findings.SOURCES)


@pytest.mark.parametrize("name", ["identical", "different"])
@pytest.mark.slow
def test_variation_sentence_numbers_come_from_the_test(run, name):
    _, _, found = run(name, SEEDS[0])
    for fid in VARIATION_IDS:
        f = by_id(found)[fid]
        test = f.measures["test"]
        if "the test's figures are not shown" in f.sentence:  # withheld: a suppressed cell would be narrowed
            assert not re.search(r"\d\.\d\d", f.sentence)
            continue
        if "exact figures are not shown" in f.sentence:  # banded: V against its threshold only
            side = "at or above" if test["effect_size"] >= f.thresholds["cramers_v_considerable"] else "below"
            assert f"{test['effect_name']} {side} {f.thresholds['cramers_v_considerable']:g}" in f.sentence
        else:
            assert f"{test['effect_name']} {test['effect_size']:.2f}" in f.sentence
        p = next((f"p < {b}" for b in (0.001, 0.01, 0.05) if test["p_value"] < b), "p ≥ 0.05")
        assert p in f.sentence  # a band: an exact p-value with the published margins can give cells back
        assert not re.search(r"p = \d", f.sentence)


@pytest.mark.slow
def test_evaluate_is_deterministic(run):
    metrics, cases, found = run("identical", SEEDS[0])
    again = findings.evaluate(metrics, cases, THRESHOLDS, seed=SEEDS[0])
    assert [f.to_dict() for f in again] == [f.to_dict() for f in found]


# --- rendered chapters ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Key-findings and implications Markdown of Study for the mental-health gap and no-wait scenarios."""
    out = {}
    for name in ("mh-gap", "no-mh-waits"):
        root = tmp_path_factory.mktemp(f"study-{name}")
        write_study(root, SCENARIOS[name], SEEDS[0])
        Study.load("findings", params_dir=str(root / "params"), build_dir=str(root / "build"), root=str(root)).publish()
        study = Study.load("key_findings", params_dir=str(root / "params"), build_dir=str(root / "build"),
                           out_dir=str(root / "build" / "study"), root=str(root))
        study.write_findings()
        out[name] = {"key_findings": "\n\n".join([study.triangulation_table(), study.key_findings_by_group()]),
                     "implications": study.implications_list(),
                     "mh": study.finding("mental-health-gap"),
                     "json": json.loads((Path(root) / "build" / "study" / "findings.json").read_text())}
    return out


ACCESS_TEXT = next(text for iid, text, _ in findings.IMPLICATIONS if iid == "multi-agency-access")


@pytest.mark.slow
def test_rendered_key_findings_state_the_mental_health_gap_only_when_it_holds(rendered):
    gap, none = rendered["mh-gap"], rendered["no-mh-waits"]
    assert gap["mh"].sentence in gap["key_findings"]
    assert "There were gaps in provision, especially timely mental-health support" in gap["key_findings"]
    assert "There were gaps in provision" not in none["key_findings"]
    assert none["mh"].sentence in none["key_findings"]
    assert "Most mental-health referrals were met in time" in none["key_findings"]


@pytest.mark.slow
def test_rendered_implications_drop_the_access_implication_without_a_gap(rendered):
    assert ACCESS_TEXT in rendered["mh-gap"]["implications"]
    assert ACCESS_TEXT not in rendered["no-mh-waits"]["implications"]
    assert "multi-agency-access" in {i["id"] for i in rendered["mh-gap"]["json"]["implications"]}
    assert "multi-agency-access" not in {i["id"] for i in rendered["no-mh-waits"]["json"]["implications"]}


@pytest.mark.slow
def test_rendered_findings_json_matches_the_findings(rendered):
    for case in rendered.values():
        mh = next(f for f in case["json"]["findings"] if f["id"] == "mental-health-gap")
        assert mh["sentence"] == case["mh"].sentence
        assert mh["holds"] == case["mh"].holds


def test_saved_evaluation_is_used_only_for_the_same_inputs(tmp_path):
    from cinreport.chapters.findings import Finding, evaluation_key, load_evaluation, save_evaluation

    metrics = {"la-a": {"counts": {"case_files": 20}}}
    cases = {"la-a": pd.DataFrame({"plan_days": [10, 20]})}
    key = evaluation_key(metrics, cases, {"alpha": 0.05}, 1)
    f = Finding("x", "theme", "Title", "present", True, "A sentence.", "rule", {"alpha": 0.05},
                {"v": 0.3, "by": [1, 2]}, "sec-x")
    save_evaluation(tmp_path / "e.json", key, [f])
    assert load_evaluation(tmp_path / "e.json", key) == [f]
    changed_case = {"la-a": pd.DataFrame({"plan_days": [10, 21]})}
    for other in (evaluation_key(metrics, changed_case, {"alpha": 0.05}, 1),
                  evaluation_key(metrics, cases, {"alpha": 0.01}, 1),
                  evaluation_key(metrics, cases, {"alpha": 0.05}, 2),
                  evaluation_key({"la-a": {"counts": {"case_files": 21}}}, cases, {"alpha": 0.05}, 1)):
        assert other != key and load_evaluation(tmp_path / "e.json", other) is None
    assert load_evaluation(tmp_path / "missing.json", key) is None


# --- groups, robustness, triangulation, implication gates (issue #14) ------------------------------------

@pytest.mark.slow
def test_each_finding_sits_in_the_studys_group(run):
    _, _, found = run("identical", SEEDS[0])
    plans = {"variation-reasons", "variation-use", "variation-length", "variation-services", "decision-influences",
             "involvement-gap", "recording-gaps"}
    support = {"range-and-advice", "variation-direct-work", "mental-health-gap"}
    assert {f.id for f in found if f.group == "plans"} == plans
    assert {f.id for f in found if f.group == "support"} == support
    assert list(findings.GROUPS.values()) == ["Child in Need plans", "Support offered to families"]
    groups = [f.group for f in found]
    assert groups == sorted(groups, key=list(findings.GROUPS).index)  # listed group by group


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.slow
def test_identical_authorities_are_not_considerable_under_the_bias_corrected_v(run, seed):
    _, _, found = run("identical", seed)
    for fid in ("variation-reasons", "variation-use", "variation-services"):
        f = by_id(found)[fid]
        assert f.measures["test"]["effect_name"] == "bias-corrected Cramér's V"
        assert f.outcome != "considerable"
        # what chance gives is recorded beside the effect, and the effect does not exceed both
        assert f.measures["null_95"] is not None and f.measures["null_95"] >= 0
        assert not (f.measures["test"]["effect_size"] >= THRESHOLDS["cramers_v_considerable"]
                    and f.measures["test"]["effect_size"] > f.measures["null_95"]
                    and f.measures["test"]["p_value"] < THRESHOLDS["alpha"])


def _advice(advice: int, total: int) -> dict:
    return {"range-and-advice": {"total": total, "advice": advice, "share": advice / total}}


def test_a_share_within_its_margin_of_the_threshold_is_fragile():
    t = dict(THRESHOLDS, advice_share_large=0.30)
    rob = findings.robustness({}, {}, t, _advice(30_500, 100_000))["range-and-advice"]
    assert rob["label"] == "fragile" and rob["uncertain"] is None  # interval narrow: only the margin flips it
    assert rob["flips"] == [{"kind": "threshold", "key": "advice_share_large", "at": 0.33, "holds": False}]
    far = findings.robustness({}, {}, t, _advice(45_000, 100_000))["range-and-advice"]
    assert far["label"] == "robust" and far["flips"] == []


def test_a_share_whose_interval_includes_the_threshold_is_uncertain():
    t = dict(THRESHOLDS, advice_share_large=0.30)
    rob = findings.robustness({}, {}, t, _advice(36, 100))["range-and-advice"]  # 36% (27% to 46%)
    assert rob == {"label": "uncertain", "flips": [], "uncertain": "interval", "left_out": False}


def test_a_variation_effect_within_its_margin_is_fragile_and_says_where():
    from cinreport.analysis.stats import TestResult

    test = TestResult(30.0, 0.0001, "Pearson's chi-squared test", 8, 0.26, "bias-corrected Cramér's V", 200)
    measured = {"variation-reasons": {"test": test, "null": 0.1, "fewest": 50, "n_per_authority": {}}}
    rob = findings.robustness({}, {}, THRESHOLDS, measured)["variation-reasons"]
    assert rob["label"] == "fragile"
    assert {"kind": "threshold", "key": "cramers_v_considerable", "at": 0.275, "holds": False} in rob["flips"]
    f = findings.Finding("variation-reasons", "variation", "T", "considerable", True, "S.", "r", {}, {}, "sec")

    class Pub:  # an exact test: its figures are published, so the move may be told
        objects = {"primary-need-cases": {"statistic": "exact"}}
    assert findings.robustness_text(f, rob, THRESHOLDS, Pub(), {}, "exact") == (
        "fragile", "Fragile: holds at an effect size of 0.25, not at an effect size of 0.275.")
    # banded: the move is not told, whichever way it goes, and the label cannot be robust
    label, text = findings.robustness_text(f, rob, THRESHOLDS, Pub(), {}, "banded")
    assert label == "uncertain" and "0.275" not in text and "not shown" in text


def test_effect_beyond_the_threshold_but_within_chance_is_not_considerable():
    from cinreport.analysis.stats import TestResult

    test = TestResult(30.0, 0.01, "Pearson's chi-squared test", 8, 0.30, "bias-corrected Cramér's V", 60)
    m = {"test": test, "null": 0.32, "fewest": 15, "n_per_authority": {}}
    assert findings.decide("variation-reasons", m, THRESHOLDS) == "uncertain"
    assert findings.decide("variation-reasons", {**m, "null": 0.2}, THRESHOLDS) == "considerable"


DRIVEN = {  # Authority A's mental-health referrals are late; the others' are met within days
    "la-a": P(n_cases=40, n_admin=SMALL_ADMIN, mh_median_wait_days=200, mh_not_available=0.6),
    **{c: P(n_cases=40, n_admin=SMALL_ADMIN, mh_median_wait_days=2, mh_not_available=0.0, mh_declined=0.0)
       for c in ("la-b", "la-c", "la-d")}}


@pytest.mark.slow
def test_leaving_out_the_authority_that_drives_a_pooled_share_is_said(tmp_path):
    metrics, cases = study_from_profiles(DRIVEN, SEEDS[0], workdir=tmp_path)
    t = dict(THRESHOLDS, mental_health_gap_share=0.10)
    f = by_id(findings.evaluate(metrics, cases, t, seed=SEEDS[0], n_permutations=200,
                                names={c: f"Authority {c[-1].upper()}" for c in metrics}))["mental-health-gap"]
    assert f.holds
    assert {"kind": "without", "authority": "la-a", "holds": False} in f.robustness["flips"]
    assert not any(x.get("authority") in ("la-b", "la-c", "la-d") for x in f.robustness["flips"])
    assert f.robustness["label"] == "fragile"
    assert "without Authority A it does not hold" in f.robustness["text"]


def test_every_coded_theme_feeds_a_finding():
    from cinreport.data.codebook import load_codebook

    themes = set(load_codebook(findings_codebook()).codes("theme").labels)
    assert themes == set(findings.THEME_FEEDS)
    assert set(findings.THEME_FEEDS.values()) <= set(findings.GROUP_OF)


def findings_codebook() -> Path:
    return Path(__file__).resolve().parents[1] / "data" / "codebook.yml"


@pytest.mark.slow
def test_triangulation_follows_the_coded_themes(run):
    metrics, cases, found = run("involvement-gap", SEEDS[0])
    f = by_id(found)
    assert f["involvement-gap"].sources["case_files"] == findings.SUPPORTS
    assert f["involvement-gap"].sources["parents"] == findings.SUPPORTS
    assert f["variation-length"].sources["parents"] == findings.NOT_MEASURED
    agree = by_id(run("involvement-agree", SEEDS[0])[2])
    assert agree["involvement-gap"].sources["parents"] == findings.AGAINST
    # without the practitioners' limited-time theme, direct work is not supported by them
    stripped = json.loads(json.dumps(metrics))
    for m in stripped.values():
        m["themes"] = {k: v for k, v in m["themes"].items() if not k.startswith("limited_time_direct_work|")}
    measured = findings.measure(stripped, cases, SEEDS[0], 200)
    cells = findings.triangulate(stripped, measured, THRESHOLDS, SEEDS[0], 200)
    has_practitioners = any(k.split("|")[1] != "parent_interview" for m in stripped.values() for k in m["themes"])
    assert cells["variation-direct-work"]["practitioners"] == (findings.AGAINST if has_practitioners
                                                               else findings.NOT_MEASURED)


def _stub(fid: str, holds: bool, **sources: str) -> findings.Finding:
    f = findings.Finding(fid, "t", fid, "x", holds, "S.", "r", {}, {}, "sec")
    f.sources = {s: findings.NOT_MEASURED for s in findings.SOURCES} | sources
    return f


ALL_IDS = list(findings.GROUP_OF)


def _opened(*held: findings.Finding) -> set[str]:
    by = {f.id: f for f in held}
    return {i.id for i in findings.implications([by.get(fid, _stub(fid, False)) for fid in ALL_IDS])}


@pytest.mark.parametrize("fid", ["variation-reasons", "variation-use", "variation-length", "variation-services"])
def test_consistency_gate_is_variation_in_use_reasons_length_or_services(fid):
    assert "consistency" in _opened(_stub(fid, True))
    assert "consistency" not in _opened(_stub("variation-direct-work", True), _stub("involvement-gap", True))


def test_collaboration_gate_is_the_involvement_gap():
    assert "collaboration" in _opened(_stub("involvement-gap", True))
    assert "collaboration" not in _opened(*[_stub(f, True) for f in ALL_IDS if f != "involvement-gap"])


def test_direct_work_time_gate_needs_the_time_theme_and_the_direct_work_measure():
    time = {"practitioners": findings.SUPPORTS}
    assert "direct-work-time" in _opened(_stub("variation-direct-work", True, **time))
    assert "direct-work-time" not in _opened(_stub("variation-direct-work", True))  # no time theme
    assert "direct-work-time" not in _opened(_stub("variation-direct-work", False, **time))  # no measure
    assert "direct-work-time" not in _opened(_stub("range-and-advice", True, **time))  # the old, unrelated gate


def test_multi_agency_access_gate_is_the_mental_health_gap():
    assert "multi-agency-access" in _opened(_stub("mental-health-gap", True))
    assert "multi-agency-access" not in _opened(*[_stub(f, True) for f in ALL_IDS if f != "mental-health-gap"])


def test_data_recording_gate_is_the_recording_gap():
    assert "data-recording" in _opened(_stub("recording-gaps", True))
    assert "data-recording" not in _opened(*[_stub(f, True) for f in ALL_IDS if f != "recording-gaps"])


def test_every_implication_has_a_gate_test():
    tested = {"consistency", "collaboration", "direct-work-time", "multi-agency-access", "data-recording"}
    assert {iid for iid, _, _ in findings.IMPLICATIONS} == tested


@pytest.mark.slow
def test_summary_reads_in_the_studys_shape(tmp_path):
    root = tmp_path / "study"
    write_study(root, SCENARIOS["mh-gap"], SEEDS[0])
    Study.load("findings", params_dir=str(root / "params"), build_dir=str(root / "build"), root=str(root)).publish()
    study = Study.load("summary", params_dir=str(root / "params"), build_dir=str(root / "build"),
                       out_dir=str(root / "build" / "study"), root=str(root))
    text = study.write_summary().read_text(encoding="utf-8")
    order = [text.index(h) for h in ("### Child in Need plans", "### Support offered to families",
                                     "## Implications", "## Further research")]
    assert order == sorted(order)
    plans, support = text.split("### Support offered to families")
    for f in study.findings():
        assert f.summary in (plans if f.group == "plans" else support.split("## Implications")[0])
        assert f"*{f.robustness['label'].capitalize()}:*" in text.split(f.summary)[1].split("\n- ")[0]
    assert "95% interval" in text and ACCESS_TEXT in text
    assert not re.search(r"\bla-[a-z]\b", text) and not re.search(r"\d\.\d+e-\d", text)
    kf = "\n\n".join([study.triangulation_table(), study.key_findings_by_group()])
    assert "*Rule:*" not in kf and not re.search(r"\bla-[a-z]\b", kf) and not re.search(r"\d\.\d+e-\d", kf)
    assert "| Finding | Case files | Administrative data |" in kf


# --- what the disclosure pass reads of each test --------------------------------------------------

@pytest.mark.parametrize("name", ["different", "small", "identical"])
@pytest.mark.slow
def test_the_pass_reads_each_test_as_the_book_publishes_it(run, name):
    """The disclosure pass decides how precisely a test may be published by reading completions of its
    table with findings.test_reading. On the true table that reading must be what the book publishes:
    the same method and p band (a Monte Carlo p-value, where the book uses one, not its asymptotic
    approximation, which can fall in another band), the same outcome, and the same authorities whose
    leaving out would change it."""
    from cinreport.analysis.stats import p_band

    metrics, cases, _ = run(name, SEEDS[0])
    analysed = findings.analyse(metrics, cases, THRESHOLDS, SEEDS[0])
    n_cases = {c: int(m["counts"]["case_files"]) for c, m in metrics.items()}
    for fid, path in findings.CHI2_FINDINGS.items():
        m, rob = analysed["measured"][fid], analysed["robustness"][fid]
        reading = list(findings.test_reading(fid, findings.contingency(metrics, path), "banded", THRESHOLDS,
                                             n_cases, SEEDS[0]))
        got = {piece[0]: piece[1:] for piece in reading if piece[0] != "without"}
        test = m["test"]
        assert got["test"] == (test.method, p_band(test.p_value)), fid
        assert got["V at or above its threshold"] == (test.effect_size >= THRESHOLDS["cramers_v_considerable"],)
        outcome = findings.decide(fid, m, THRESHOLDS)
        assert got["outcome"] == (outcome, findings.uncertainty(fid, m, THRESHOLDS, outcome)), fid
        holds = outcome == findings.HOLDING[fid]
        flips = {code for _, code, now in (p for p in reading if p[0] == "without") if now != holds}
        assert flips == {x["authority"] for x in rob["flips"] if x["kind"] == "without"}, fid
        withheld = list(findings.test_reading(fid, findings.contingency(metrics, path), "withheld", THRESHOLDS,
                                              n_cases, SEEDS[0]))
        assert withheld == [p for p in reading if p[0] in ("outcome", "without")], "withheld reads less, in order"


def test_a_test_is_published_only_as_precisely_as_no_completion_pins_a_suppressed_cell(run):
    """statistic_levels with made-up readings of the tested tables: a reading that says nothing about
    the cells lets the test be banded; one that gives the cells back at the banded level only withholds the
    figures; one that gives them back at every level leaves the finding unreported."""
    from cinreport.data.codebook import load_codebook
    from cinreport.disclosure.plan import TESTED_TABLES, build_publication

    metrics, _, _ = run("small", SEEDS[0])  # 6 case files per authority: tested tables have suppressed cells

    def publish(reading):
        pub = build_publication({c: m["atoms"] for c, m in metrics.items()}, metrics, load_codebook(), 5, "c",
                                reading=reading)
        return {fid: pub.objects[name]["statistic"] for fid, name in TESTED_TABLES.items()}, pub

    def nothing(fid, table, level):
        yield ("outcome", "none")

    def cells_when_banded(fid, table, level):
        yield ("outcome", "none")
        if level == "banded":
            yield ("cells", tuple(table.to_numpy().ravel()))

    def cells_always(fid, table, level):
        yield ("cells", tuple(table.to_numpy().ravel()))

    levels, pub = publish(nothing)
    hidden = {fid for fid, name in TESTED_TABLES.items()
              if any(not pub.entries[k].shown for row in pub.objects[name]["cells"].values() for k in row.values())}
    assert hidden, "the scenario was meant to suppress cells of a tested table"
    assert {fid for fid, lv in levels.items() if lv != "exact"} == hidden
    assert all(levels[fid] == "banded" for fid in hidden)
    assert all(publish(cells_when_banded)[0][fid] == "withheld" for fid in hidden)
    assert all(publish(cells_always)[0][fid] == "unreported" for fid in hidden)
    assert all(levels[fid] == "exact" for fid in set(TESTED_TABLES) - hidden)


def test_an_unreported_test_says_so_and_nothing_of_its_result():
    from cinreport.analysis.stats import TestResult

    test = TestResult(30.0, 0.0001, "Pearson's chi-squared test", 8, 0.40, "bias-corrected Cramér's V", 200)
    f = findings.variation_finding("variation-reasons", "Reasons", "the primary need", test, THRESHOLDS,
                                   "cramers_v_considerable", True, "sec-reasons", level="unreported", null=0.1)
    assert f.outcome == "uncertain" and not f.holds
    assert "is not reported" in f.sentence and "0.40" not in f.sentence and "p <" not in f.sentence
    assert "considerable variation" not in f.summary
    rob = {"label": "fragile", "flips": [{"kind": "without", "authority": "la-a", "holds": False}],
           "uncertain": None, "left_out": True}
    label, text = findings.robustness_text(f, rob, THRESHOLDS, None, {"la-a": "Authority A"}, "unreported")
    assert label == "uncertain" and "Authority A" not in text
    assert "consistency" not in {i.id for i in findings.implications([f])}
