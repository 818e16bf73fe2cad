"""Key findings and implications, generated from measured results.

Each :class:`Finding` carries its id, the measures it rests on (with values), the rule and the
thresholds applied (from ``params/report.yml``), the outcome, and the sentence chosen for that
outcome. Implications name the findings that support them and are dropped when none of those
findings holds. ``findings.json`` is the machine-readable form.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import pandas as pd

from .stats import TestResult, chi2_or_exact, classify_variation, kruskal_epsilon

VARIATION_TEXT = {
    "considerable": "There was considerable variation between authorities in {what} ({effect}).",
    "some": "Authorities differed in {what}, but the difference was small ({effect}).",
    "none": "There was no considerable variation between authorities in {what} ({effect}).",
    "uncertain": ("Differences between authorities in {what} were too uncertain to call with this "
                  "many cases ({effect})."),
}


@dataclass
class Finding:
    """One key finding with its evidence."""

    id: str
    theme: str
    title: str
    outcome: str
    holds: bool
    sentence: str
    rule: str
    thresholds: dict[str, float]
    measures: dict[str, Any]
    section: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Implication:
    """An implication, linked to the findings that support it."""

    id: str
    text: str
    supported_by: list[str] = field(default_factory=list)


def _effect_text(t: TestResult) -> str:
    if t.p_value != t.p_value or t.effect_size != t.effect_size:  # NaN: the data could not be tested
        return "not testable with these data"
    p = "p < 0.001" if t.p_value < 0.001 else f"p = {t.p_value:.3f}"
    return f"{t.effect_name} {t.effect_size:.2f}, {p}, {t.method}"


def variation_finding(fid: str, title: str, what: str, test: TestResult, thresholds: dict[str, float],
                      threshold_key: str, min_n_ok: bool, section: str, extra: dict | None = None) -> Finding:
    """A finding about variation between authorities, from a test result and the thresholds."""
    outcome = classify_variation(test.effect_size, test.p_value, thresholds[threshold_key],
                                 thresholds["alpha"], min_n_ok)
    return Finding(
        id=fid, theme="variation", title=title, outcome=outcome, holds=outcome == "considerable",
        sentence=VARIATION_TEXT[outcome].format(what=what, effect=_effect_text(test)),
        rule=(f"considerable if {test.effect_name} >= {thresholds[threshold_key]} and p < {thresholds['alpha']}, "
              f"with at least {thresholds['min_cases_per_authority']:.0f} cases in every authority"),
        thresholds={threshold_key: thresholds[threshold_key], "alpha": thresholds["alpha"],
                    "min_cases_per_authority": thresholds["min_cases_per_authority"]},
        measures={"test": test.to_dict(), **(extra or {})}, section=section)


def contingency(metrics: dict[str, dict], path: tuple[str, ...]) -> pd.DataFrame:
    """Categories × authorities table of counts taken from each authority's metrics at ``path``."""
    cols = {}
    for code, m in metrics.items():
        node = m
        for key in path:
            node = node[key]
        cols[code] = pd.Series(node, dtype=int)
    frame = pd.DataFrame(cols).fillna(0).astype(int)
    return frame.loc[frame.sum(axis=1) > 0]


def evaluate(metrics: dict[str, dict], cases: dict[str, pd.DataFrame], thresholds: dict[str, float],
             seed: int = 0) -> list[Finding]:
    """All key findings for a study, in report order."""
    min_ok = all(m["counts"]["case_files"] >= thresholds["min_cases_per_authority"] for m in metrics.values())
    t = thresholds
    out: list[Finding] = []

    reasons = chi2_or_exact(contingency(metrics, ("reasons", "primary_need")), seed=seed)
    out.append(variation_finding("variation-reasons", "Reasons for Child in Need plans",
                                 "the primary need recorded for children on plans", reasons, t,
                                 "cramers_v_considerable", min_ok, "sec-reasons"))
    concern = chi2_or_exact(contingency(metrics, ("reasons", "safeguarding_concern")), seed=seed)
    out.append(variation_finding("variation-use", "Use of plans and thresholds",
                                 "the level of safeguarding concern among children on plans", concern, t,
                                 "cramers_v_considerable", min_ok, "sec-reasons"))
    length = kruskal_epsilon({c: df["plan_days"].dropna().astype(float).tolist() for c, df in cases.items()},
                             seed=seed)
    medians = {c: m["plans"]["length_days"]["median"] for c, m in metrics.items()}
    out.append(variation_finding("variation-length", "Length of plans", "how long plans lasted", length, t,
                                 "epsilon_squared_considerable", min_ok, "sec-support",
                                 {"median_days": medians}))
    services = chi2_or_exact(contingency(metrics, ("support", "service_group")), seed=seed)
    out.append(variation_finding("variation-services", "Types of support", "the kinds of support provided",
                                 services, t, "cramers_v_considerable", min_ok, "sec-support"))
    direct = kruskal_epsilon({c: df["direct_work_per_month"].astype(float).tolist() for c, df in cases.items()},
                             seed=seed)
    out.append(variation_finding("variation-direct-work", "Direct work", "how often direct work took place "
                                 "(sessions per month of plan)", direct, t, "epsilon_squared_considerable",
                                 min_ok, "sec-support",
                                 {"median_sessions_per_month": {c: m["plans"]["direct_work_per_month"]["median"]
                                                                for c, m in metrics.items()}}))
    out.append(decision_finding(metrics))
    out.append(involvement_finding(metrics, t))
    out.append(recording_finding(metrics, t))
    out.append(advice_finding(metrics, t))
    out.append(mental_health_finding(metrics, t))
    return out


def _theme_total(metrics: dict[str, dict], theme: str) -> tuple[int, int]:
    segments = sources = 0
    for m in metrics.values():
        for key, v in m["themes"].items():
            if key.split("|")[0] == theme:
                segments += v["segments"]
                sources += v["sources"]
    return segments, sources


DECISION_THEMES = {
    "decision_parental_engagement": "parents' engagement with children's services",
    "decision_family_support": "support available from the wider family",
    "decision_historical_concerns": "historical concerns",
}


def decision_finding(metrics: dict[str, dict]) -> Finding:
    counts = {k: _theme_total(metrics, k) for k in DECISION_THEMES}
    raised = sorted((k for k, (seg, _) in counts.items() if seg > 0), key=lambda k: -counts[k][0])
    holds = bool(raised)
    if holds:
        names = [DECISION_THEMES[k] for k in raised]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        sentence = f"Practitioners said the decision to use a Child in Need plan was influenced by {listed}."
    else:
        sentence = "No influences on the decision to use a plan were coded in the focus groups or case discussions."
    return Finding("decision-influences", "decision", "What influences the decision to use a plan",
                   "present" if holds else "absent", holds, sentence,
                   "present if any decision theme was coded in focus groups or case discussions", {},
                   {k: {"segments": s, "sources": n} for k, (s, n) in counts.items()}, "sec-reasons")


def involvement_finding(metrics: dict[str, dict], t: dict[str, float]) -> Finding:
    rec = sum(m["involvement"]["case_files_with_record"] for m in metrics.values())
    inv = sum(m["involvement"]["case_files_parents_involved"] for m in metrics.values())
    interviews = sum(m["involvement"]["parent_interviews"] for m in metrics.values())
    not_inv = sum(m["involvement"]["parents_not_involved"] for m in metrics.values())
    unaware = sum(m["involvement"]["parents_unaware_of_goals"] for m in metrics.values())
    practitioner = 100 * inv / rec if rec else float("nan")
    parents = 100 * (interviews - not_inv) / interviews if interviews else float("nan")
    gap = practitioner - parents
    if not interviews or not rec:
        outcome, sentence = "no-data", "There were no parent interviews or case records to compare accounts of involvement."
    elif gap >= t["involvement_gap_points"]:
        outcome = "gap"
        sentence = (f"Case files recorded parents as involved in {practitioner:.0f}% of plans, but parents in only "
                    f"{parents:.0f}% of interviews described feeling involved in developing their plan; "
                    f"{unaware} of {interviews} interviewed parents were not aware of the plan's goals.")
    else:
        outcome = "no-gap"
        sentence = (f"Parents' accounts of involvement ({parents:.0f}% felt involved) were close to what case "
                    f"files recorded ({practitioner:.0f}%).")
    return Finding("involvement-gap", "involvement", "Parents' involvement in planning", outcome, outcome == "gap",
                   sentence, f"gap if case-file share minus parent share >= {t['involvement_gap_points']:.0f} points",
                   {"involvement_gap_points": t["involvement_gap_points"]},
                   {"case_file_share": round(practitioner, 1), "parent_share": round(parents, 1),
                    "gap_points": round(gap, 1), "parent_interviews": interviews,
                    "parents_unaware_of_goals": unaware}, "sec-needs")


FIELD_NAMES = {"ethnicity": "ethnicity", "disability": "disability", "referral_source": "referral source"}


def recording_finding(metrics: dict[str, dict], t: dict[str, float]) -> Finding:
    worst: dict[str, float] = {}
    for m in metrics.values():
        for source in ("case_files", "admin"):
            for col, share in m["completeness"][source].items():
                worst[col] = min(worst.get(col, 1.0), share)
    gaps = sorted((c for c, s in worst.items() if s < t["completeness_gap"]), key=lambda c: worst[c])
    if gaps:
        listed = ", ".join(f"{FIELD_NAMES[c]} (as low as {100 * worst[c]:.0f}% recorded)" for c in gaps)
        sentence = f"Little is recorded about some characteristics of children on plans: {listed}."
    else:
        sentence = "Children's characteristics were well recorded in every authority."
    return Finding("recording-gaps", "recording", "What is recorded about children",
                   "gap" if gaps else "complete", bool(gaps), sentence,
                   f"gap if any characteristic is recorded for fewer than {100 * t['completeness_gap']:.0f}% "
                   "of children in any authority's case files or administrative data",
                   {"completeness_gap": t["completeness_gap"]}, {"lowest_completeness": worst}, "sec-characteristics")


def advice_finding(metrics: dict[str, dict], t: dict[str, float]) -> Finding:
    total = sum(m["counts"]["services"] for m in metrics.values())
    advice = sum(m["support"]["advice_or_coordination"] for m in metrics.values())
    kinds = sorted({k for m in metrics.values() for k, v in m["support"]["service"].items() if v})
    share = advice / total if total else 0.0
    large = share >= t["advice_share_large"]
    sentence = (f"Families received a wide range of support ({len(kinds)} kinds of service). "
                + (f"A large share of it ({100 * share:.0f}%) was advice, guidance and multi-agency co-ordination "
                   "by social workers." if large else
                   f"Advice, guidance and co-ordination made up {100 * share:.0f}% of it."))
    return Finding("range-and-advice", "support", "Range of services and the advice role",
                   "large" if large else "not-large", large, sentence,
                   f"large if advice/guidance/co-ordination is at least {100 * t['advice_share_large']:.0f}% "
                   "of services", {"advice_share_large": t["advice_share_large"]},
                   {"services": total, "advice_or_coordination": advice, "share": round(share, 4),
                    "kinds_of_service": len(kinds)}, "sec-support")


def mental_health_finding(metrics: dict[str, dict], t: dict[str, float]) -> Finding:
    referrals = sum(m["needs"]["mental_health"]["referrals"] for m in metrics.values())
    not_timely = sum(m["needs"]["mental_health"]["not_timely"] for m in metrics.values())
    share = not_timely / referrals if referrals else 0.0
    gap = referrals > 0 and share >= t["mental_health_gap_share"]
    if not referrals:
        outcome, sentence = "no-referrals", "No child or parent mental-health referrals were recorded."
    elif gap:
        outcome = "gap"
        sentence = (f"There were gaps in provision, especially timely mental-health support: {100 * share:.0f}% of "
                    f"{referrals} referrals to child or adult mental-health services were still waiting, not "
                    f"available, or started after more than {t['mental_health_wait_days']:.0f} days.")
    else:
        outcome = "no-gap"
        sentence = (f"Most mental-health referrals were met in time: {100 * share:.0f}% of {referrals} were not "
                    f"met within {t['mental_health_wait_days']:.0f} days.")
    return Finding("mental-health-gap", "provision", "Timely mental-health support", outcome, gap, sentence,
                   f"gap if at least {100 * t['mental_health_gap_share']:.0f}% of mental-health referrals are not met "
                   f"within {t['mental_health_wait_days']:.0f} days",
                   {"mental_health_gap_share": t["mental_health_gap_share"],
                    "mental_health_wait_days": t["mental_health_wait_days"]},
                   {"referrals": referrals, "not_timely": not_timely, "share": round(share, 4)}, "sec-needs")


IMPLICATIONS: list[tuple[str, str, tuple[str, ...]]] = [
    ("consistency", "Greater consistency is needed in how Child in Need plans are used and in the services "
     "available across local authorities, so that children and families get the right support for their needs.",
     ("variation-reasons", "variation-use", "variation-length", "variation-services")),
    ("collaboration", "Practitioners should work with families when creating plans, so that parents feel involved "
     "and know the goals they are working towards.", ("involvement-gap",)),
    ("direct-work-time", "Practitioners need sufficient time to undertake direct work with children and families.",
     ("variation-direct-work", "range-and-advice")),
    ("multi-agency-access", "Access to external support from multi-agency partners, particularly timely child and "
     "parent mental-health support, needs to improve.", ("mental-health-gap",)),
    ("data-recording", "Better collection and recording of data about children and families is needed to "
     "understand the experience of being on a Child in Need plan.", ("recording-gaps",)),
]


def implications(findings: list[Finding]) -> list[Implication]:
    """Implications whose supporting findings hold; each lists only the findings that hold."""
    holding = {f.id for f in findings if f.holds}
    out = []
    for iid, text, support in IMPLICATIONS:
        ids = [s for s in support if s in holding]
        if ids:
            out.append(Implication(iid, text, ids))
    return out


def findings_document(findings: list[Finding], implications_: list[Implication], meta: dict) -> dict:
    return {"meta": meta, "findings": [f.to_dict() for f in findings],
            "implications": [asdict(i) for i in implications_]}


Evaluator = Callable[..., list[Finding]]
