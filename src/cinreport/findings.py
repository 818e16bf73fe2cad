"""Key findings and implications, generated from measured results.

Each :class:`Finding` carries its id, the measures it rests on (with values), the rule and the
thresholds applied (from ``params/report.yml``), the outcome, and the sentence chosen for that
outcome. Implications name the findings that support them and are dropped when none of those
findings holds. ``findings.json`` is the machine-readable form.
"""

from __future__ import annotations

import json

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from .inert import markdown_code, markdown_text
from .stats import TestResult, chi2_or_exact, classify_variation, kruskal_epsilon, wilson_interval
from .tables import MANY_GROUPS

VARIATION_TEXT = {
    "considerable": "There was considerable variation between authorities in {what} ({effect}).",
    "some": "Authorities differed in {what}, but the difference was small ({effect}).",
    "none": "There was no considerable variation between authorities in {what} ({effect}).",
    "uncertain": ("Differences between authorities in {what} were too uncertain to call with this "
                  "many cases ({effect})."),
}
# "uncertain" has three causes; each gets its own wording (the outcome stays "uncertain").
UNCERTAIN_TEXT = {
    "small": ("Differences between authorities in {what} were too uncertain to call: at least one authority "
              "had fewer than {min_n} {unit} ({effect})."),
    "untestable": "Differences between authorities in {what} could not be tested with these data.",
    "not-significant": VARIATION_TEXT["uncertain"],
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
    evidence: list[str] = field(default_factory=list)  # published text only (from the store)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Implication:
    """An implication, linked to the findings that support it."""

    id: str
    text: str
    supported_by: list[str] = field(default_factory=list)


def _is_nan(x: float | None) -> bool:
    return x is None or x != x


def p_band(p: float) -> str:
    """A p-value as a band: exact p-values, with the published margins, can give suppressed cells back."""
    return next((f"p < {b}" for b in (0.001, 0.01, 0.05) if p < b), "p ≥ 0.05")


def _effect_text(t: TestResult, level: str = "exact", threshold: float | None = None) -> str:
    """The test's figures at the precision the disclosure pass allows (``plan.statistic_levels``)."""
    if _is_nan(t.p_value) or _is_nan(t.effect_size):  # the data could not be tested
        return "not testable with these data"
    if level == "withheld":
        return ("the test's figures are not shown: with the published counts they would narrow a suppressed "
                "count")
    if level == "banded" and threshold is not None:
        side = "at or above" if t.effect_size >= threshold else "below"
        return (f"{t.effect_name} {side} {threshold:g}, {p_band(t.p_value)}, {t.method}; exact figures are not "
                "shown because, with the published counts, they would narrow suppressed ones")
    return f"{t.effect_name} {t.effect_size:.2f}, {p_band(t.p_value)}, {t.method}"


def variation_finding(fid: str, title: str, what: str, test: TestResult, thresholds: dict[str, float],
                      threshold_key: str, min_n_ok: bool, section: str, extra: dict | None = None, *,
                      n_per_authority: dict[str, int] | None = None, unit: str = "cases",
                      evidence: list[str] | None = None, level: str = "exact") -> Finding:
    """A finding about variation between authorities, from a test result and the thresholds.

    ``min_n_ok`` says whether every authority has at least ``min_cases_per_authority`` ``unit``
    (e.g. cases, ended plans) in the comparison; ``n_per_authority`` is recorded as evidence.
    """
    outcome = classify_variation(test.effect_size, test.p_value, thresholds[threshold_key],
                                 thresholds["alpha"], min_n_ok)
    min_n = thresholds["min_cases_per_authority"]
    effect = _effect_text(test, level, thresholds[threshold_key])
    if outcome != "uncertain":
        sentence = VARIATION_TEXT[outcome].format(what=what, effect=effect)
    else:
        cause = ("untestable" if _is_nan(test.p_value) or _is_nan(test.effect_size)
                 else "small" if not min_n_ok else "not-significant")
        sentence = UNCERTAIN_TEXT[cause].format(what=what, effect=effect, min_n=f"{min_n:.0f}", unit=unit)
    measures: dict[str, Any] = {"test": test.to_dict()}
    if n_per_authority is not None:
        measures["n_per_authority"] = dict(sorted(n_per_authority.items()))
    return Finding(
        id=fid, theme="variation", title=title, outcome=outcome, holds=outcome == "considerable",
        sentence=sentence,
        rule=(f"considerable if {test.effect_name} >= {thresholds[threshold_key]} and p < {thresholds['alpha']}, "
              f"with at least {min_n:.0f} {unit} in every authority; uncertain if fewer, if the data cannot be "
              f"tested, or if {test.effect_name} >= {thresholds[threshold_key]} but p >= {thresholds['alpha']}; "
              f"some if p < {thresholds['alpha']} with a smaller effect; otherwise none"),
        thresholds={threshold_key: thresholds[threshold_key], "alpha": thresholds["alpha"],
                    "min_cases_per_authority": min_n},
        measures={**measures, **(extra or {})}, section=section, evidence=list(evidence or []))


def metric_at(m: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The value at ``path`` (a sequence of keys) in one authority's metrics."""
    for key in path:
        m = m[key]
    return m


def contingency(metrics: dict[str, dict], path: tuple[str, ...]) -> pd.DataFrame:
    """Categories × authorities table of counts at ``path`` in each authority's metrics.

    Categories keep the metrics' (codebook) order; categories with no count anywhere are dropped.
    """
    cols = {code: pd.Series(metric_at(m, path), dtype=int) for code, m in metrics.items()}
    order = list(dict.fromkeys(k for col in cols.values() for k in col.index))
    frame = pd.DataFrame(cols).reindex(order).fillna(0).astype(int)
    return frame.loc[frame.sum(axis=1) > 0]


def _published(metrics: dict[str, dict], thresholds: dict[str, float]):
    """The store for these metrics (for callers that have not built it: tests, scenarios)."""
    from .codebook import load_codebook
    from .plan import build_publication
    from .publication import Published

    pub = build_publication({c: m["atoms"] for c, m in metrics.items()}, metrics, load_codebook(),
                            int(thresholds.get("disclosure_threshold", 5)), "c",
                            v_threshold=thresholds.get("cramers_v_considerable"), alpha=thresholds.get("alpha", 0.05))
    return Published.from_dict(pub.to_dict())


def by_authority_text(values: dict[str, str], names: dict[str, str] | None = None) -> str:
    """'Authority A 21, Authority B 20' — or, above ``tables.MANY_GROUPS`` authorities, the range of the
    shown values."""
    names = names or {}
    if len(values) > MANY_GROUPS:  # many authorities: the range, not a list
        numbers = sorted(float(v.rstrip("%").replace(",", "")) for v in values.values()
                         if v.rstrip("%").replace(",", "").replace(".", "", 1).isdigit())
        if not numbers:
            return f"all suppressed across {len(values)} authorities"
        return (f"from {numbers[0]:g} to {numbers[-1]:g} across the {len(numbers)} authorities with a published "
                f"figure (of {len(values)})")
    return ", ".join(f"{markdown_text(names.get(c, c))} {markdown_text(v)}" for c, v in sorted(values.items()))




def evaluate(metrics: dict[str, dict], cases: dict[str, pd.DataFrame], thresholds: dict[str, float],
             seed: int = 0, *, n_permutations: int = 10_000, pub=None,
             names: dict[str, str] | None = None) -> list[Finding]:
    """All key findings for a study, in report order.

    Outcomes come from the data; every number a sentence or evidence line quotes comes from ``pub``
    (:class:`cinreport.publication.Published`, the build's store after disclosure control).
    ``n_permutations`` is passed to the permutation tests used when expected counts or groups are
    small (see :mod:`cinreport.stats`).
    """
    t = thresholds
    pub = pub if pub is not None else _published(metrics, thresholds)
    min_n = t["min_cases_per_authority"]
    n_cases = {c: int(m["counts"]["case_files"]) for c, m in metrics.items()}
    min_ok = all(n >= min_n for n in n_cases.values())
    out: list[Finding] = []
    cases_text = "reviewed case files per authority: " + by_authority_text(
        {c: pub.text(pub.obj(f"{c}/heading")["case_files"]) for c in metrics}, names)

    def chi2(path: tuple[str, ...]) -> TestResult:
        return chi2_or_exact(contingency(metrics, path), n_permutations=n_permutations, seed=seed)

    def level(fid: str) -> str:
        from .plan import TESTED_TABLES

        return pub.objects.get(TESTED_TABLES[fid], {}).get("statistic", "exact")

    def per_case(column: str) -> tuple[TestResult, dict[str, int]]:
        values = {c: pd.to_numeric(df[column], errors="coerce").dropna().astype(float).tolist()
                  for c, df in sorted(cases.items())}
        return (kruskal_epsilon(values, n_permutations=n_permutations, seed=seed),
                {c: len(v) for c, v in values.items()})

    def medians(name: str, unit: str) -> str:
        vals = {}
        for c in metrics:
            q = pub.obj(f"{c}/{name}")
            vals[c] = f"{q['median']:.{1 if unit == 'sessions' else 0}f}" if q["median"] is not None else pub.symbol
        return f"median {unit} per authority: " + by_authority_text(vals, names)

    out.append(variation_finding("variation-reasons", "Reasons for Child in Need plans",
                                 "the primary need recorded for children on plans", chi2(("reasons", "primary_need")),
                                 t, "cramers_v_considerable", min_ok, "sec-reasons", n_per_authority=n_cases,
                                 evidence=[cases_text], level=level("variation-reasons")))
    out.append(variation_finding("variation-use", "Use of plans and thresholds",
                                 "the level of safeguarding concern among children on plans",
                                 chi2(("reasons", "safeguarding_concern")), t, "cramers_v_considerable", min_ok,
                                 "sec-reasons", n_per_authority=n_cases, evidence=[cases_text],
                                 level=level("variation-use")))
    length, ended = per_case("plan_days")
    ended_text = "ended plans per authority: " + by_authority_text(
        {c: pub.text(pub.obj(f"{c}/ended-evidence")["key"]) for c in metrics}, names)
    out.append(variation_finding("variation-length", "Length of plans", "how long plans lasted", length, t,
                                 "epsilon_squared_considerable",
                                 min_ok and all(ended.get(c, 0) >= min_n for c in metrics), "sec-support",
                                 {"median_days": {c: m["plans"]["length_days"]["median"] for c, m in metrics.items()}},
                                 n_per_authority=ended, unit="ended plans",
                                 evidence=[ended_text, medians("length-days", "days")]))
    out.append(variation_finding("variation-services", "Types of support", "the kinds of support provided",
                                 chi2(("support", "service_group")), t, "cramers_v_considerable", min_ok,
                                 "sec-support", n_per_authority=n_cases, evidence=[cases_text],
                                 level=level("variation-services")))
    direct, n_direct = per_case("direct_work_per_month")
    out.append(variation_finding("variation-direct-work", "Direct work", "how often direct work took place "
                                 "(sessions per month of plan)", direct, t, "epsilon_squared_considerable",
                                 min_ok and all(n_direct.get(c, 0) >= min_n for c in metrics), "sec-support",
                                 {"median_sessions_per_month": {c: m["plans"]["direct_work_per_month"]["median"]
                                                                for c, m in metrics.items()}},
                                 n_per_authority=n_direct,
                                 evidence=[cases_text, medians("direct-work", "sessions")]))
    out.append(decision_finding(metrics))
    out.append(involvement_finding(metrics, t, pub))
    out.append(recording_finding(metrics, t, pub, names))
    out.append(advice_finding(metrics, t, pub))
    out.append(mental_health_finding(metrics, t, pub))
    return out


PRACTITIONER_SOURCES = ("focus_group", "case_discussion")


def _theme_total(metrics: dict[str, dict], theme: str,
                 source_types: tuple[str, ...] | None = None) -> tuple[int, int]:
    """Coded segments and sources of ``theme`` over all authorities (optionally some source types)."""
    segments = sources = 0
    for m in metrics.values():
        for key, v in m["themes"].items():
            name, _, source_type = key.partition("|")
            if name == theme and (source_types is None or source_type in source_types):
                segments += v["segments"]
                sources += v["sources"]
    return segments, sources


DECISION_THEMES = {
    "decision_parental_engagement": "parents' engagement with children's services",
    "decision_family_support": "support available from the wider family",
    "decision_historical_concerns": "historical concerns",
}


def decision_finding(metrics: dict[str, dict]) -> Finding:
    counts = {k: _theme_total(metrics, k, PRACTITIONER_SOURCES) for k in DECISION_THEMES}
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


def _ci(k: int, n: int) -> list[float] | None:
    """95% Wilson interval of ``k / n`` as two rounded shares, or None when ``n`` is 0."""
    if not n:
        return None
    lo, hi = wilson_interval(k, n)
    return [round(lo, 4), round(hi, 4)]


def _share_words(pub, name: str) -> str:
    """A published share as a percentage for a sentence: '45%', or '`c` (suppressed)'."""
    o = pub.obj(name)
    p = pub.percent(o["k"], o["n"])
    return f"{markdown_code(p)} (suppressed)" if p == pub.symbol else p


def involvement_finding(metrics: dict[str, dict], t: dict[str, float], pub) -> Finding:
    """Practitioners' record of parents' involvement against parents' own accounts (pooled)."""
    rec = sum(m["involvement"]["case_files_with_record"] for m in metrics.values())
    inv = sum(m["involvement"]["case_files_parents_involved"] for m in metrics.values())
    interviews = sum(m["involvement"]["parent_interviews"] for m in metrics.values())
    not_inv = sum(m["involvement"]["parents_not_involved"] for m in metrics.values())
    unaware = sum(m["involvement"]["parents_unaware_of_goals"] for m in metrics.values())
    felt = interviews - not_inv
    points = t["involvement_gap_points"]
    practitioner = 100 * inv / rec if rec else None
    parents = 100 * felt / interviews if interviews else None
    gap = practitioner - parents if practitioner is not None and parents is not None else None
    records, felt_p = _share_words(pub, "study/involved-records"), _share_words(pub, "study/felt-involved")
    n_int = pub.text(pub.obj("study/felt-involved")["n"])
    un = pub.obj("study/unaware")
    if gap is None:
        outcome = "no-data"
        sentence = "There were no parent interviews or case records to compare accounts of involvement."
    elif gap >= points:
        outcome = "gap"
        sentence = (f"Case files recorded parents as involved in {records} of plans, but parents in only "
                    f"{felt_p} of {n_int} interviews described feeling involved in developing "
                    f"their plan; {pub.words(un['k'], un['n'])} interviewed parents were not aware of the "
                    f"plan's goals.")
    elif gap <= -points:
        outcome = "parents-higher"
        sentence = (f"Parents described feeling involved in developing their plan more often "
                    f"({felt_p} of {n_int} interviews) than case files recorded parents as involved "
                    f"({records} of plans).")
    else:
        outcome = "no-gap"
        sentence = (f"Parents' accounts of involvement ({felt_p} of {n_int} interviewed parents "
                    f"felt involved) were close to what case files recorded ({records} of plans).")
    rec_o, felt_o = pub.obj("study/involved-records"), pub.obj("study/felt-involved")
    evidence = [f"case files recording parents as involved: {pub.words(rec_o['k'], rec_o['n'], 'with a record')}",
                f"interviewed parents who felt involved: {pub.words(felt_o['k'], felt_o['n'])}",
                f"interviewed parents not aware of the goals: {pub.words(un['k'], un['n'])}"]
    return Finding("involvement-gap", "involvement", "Parents' involvement in planning", outcome, outcome == "gap",
                   sentence,
                   f"gap if the share of case files recording parents as involved exceeds the share of interviewed "
                   f"parents who felt involved by at least {points:.0f} percentage points",
                   {"involvement_gap_points": points},
                   {"case_files_with_record": rec, "case_files_parents_involved": inv,
                    "case_file_share": None if practitioner is None else round(practitioner, 1),
                    "parent_share": None if parents is None else round(parents, 1),
                    "parent_share_ci95": None if not interviews else [round(100 * x, 1) for x in _ci(felt, interviews)],
                    "gap_points": None if gap is None else round(gap, 1), "parent_interviews": interviews,
                    "parents_felt_involved": felt, "parents_unaware_of_goals": unaware}, "sec-needs", evidence)


FIELD_NAMES = {"ethnicity": "ethnicity", "disability": "disability", "referral_source": "referral source"}
FIELD_KEYS = {"ethnicity": "ethnicity", "disability": "disability", "referral_source": "referral"}


SOURCE_NAMES = {"case_files": "case files", "admin": "administrative data"}


def recording_finding(metrics: dict[str, dict], t: dict[str, float], pub, names: dict[str, str] | None = None
                      ) -> Finding:
    """Characteristics recorded for too few children in any authority's case files or admin data.

    The outcome is decided on the data; the sentence quotes the lowest *published* share of each
    characteristic (a share whose count or complement is small is suppressed, and said to be)."""
    names = names or {}
    worst: dict[str, float] = {}
    where: dict[str, str] = {}
    for code, m in sorted(metrics.items()):
        for source in ("case_files", "admin"):
            for col, share in m["completeness"][source].items():
                if share < worst.get(col, 1.01):
                    worst[col], where[col] = share, f"{code} {SOURCE_NAMES[source]}"
    gaps = sorted((c for c, s in worst.items() if s < t["completeness_gap"]), key=lambda c: (worst[c], c))

    def lowest(col: str) -> tuple[float | None, list[str]]:
        """Lowest published share of ``col`` and where; the places whose share is suppressed."""
        best, hidden = None, []
        for code in sorted(metrics):
            for source in ("case_files", "admin"):
                o = pub.obj(f"{code}/recorded/{source}/{FIELD_KEYS.get(col, col)}")
                s = pub.share(o["k"], o["n"])
                if s is None:
                    hidden.append(f"{markdown_text(names.get(code, code))} {SOURCE_NAMES[source]}")
                elif best is None or s < best:
                    best = s
        return best, hidden

    if gaps:
        parts = []
        for c in gaps:
            low, hidden = lowest(c)
            name = FIELD_NAMES.get(c, c.replace("_", " "))
            if low is not None and low < t["completeness_gap"]:
                parts.append(f"{name} (recorded for as few as {round(100 * low)}% of children in one authority)")
            else:
                parts.append(f"{name} (the lowest share is suppressed, {markdown_code(pub.symbol)}, to protect a small count)")
        sentence = f"Some characteristics of children on plans were often not recorded: {', '.join(parts)}."
    else:
        sentence = "Children's characteristics were well recorded in every authority."
    evidence = []
    for c in sorted(worst):
        low, hidden = lowest(c)
        evidence.append(f"{FIELD_NAMES.get(c, c)}: lowest published share recorded "
                        + (f"{round(100 * low)}%" if low is not None else "none published")
                        + (f" ({len(hidden)} suppressed)" if hidden else ""))
    return Finding("recording-gaps", "recording", "What is recorded about children",
                   "gap" if gaps else "complete", bool(gaps), sentence,
                   f"gap if any characteristic is recorded for fewer than {100 * t['completeness_gap']:.0f}% "
                   "of children in any authority's case files or administrative data",
                   {"completeness_gap": t["completeness_gap"]},
                   {"lowest_completeness": dict(sorted(worst.items())), "lowest_in": dict(sorted(where.items()))},
                   "sec-characteristics", evidence)


def advice_finding(metrics: dict[str, dict], t: dict[str, float], pub) -> Finding:
    total = sum(m["counts"]["services"] for m in metrics.values())
    advice = sum(m["support"]["advice_or_coordination"] for m in metrics.values())
    kinds = sorted({k for m in metrics.values() for k, v in m["support"]["service"].items() if v})
    share = advice / total if total else 0.0
    large = bool(total) and share >= t["advice_share_large"]
    share_text = _share_words(pub, "study/advice")
    if not total:
        outcome, sentence = "no-services", "No services or interventions were recorded for the reviewed cases."
    else:
        outcome = "large" if large else "not-large"
        sentence = (f"Families received {len(kinds)} different kinds of support. "
                    + (f"A large share of all services recorded ({share_text}) was advice, guidance and "
                       "multi-agency co-ordination by social workers." if large else
                       f"Advice, guidance and co-ordination made up {share_text} of all services "
                       "recorded."))
    o = pub.obj("study/advice")
    return Finding("range-and-advice", "support", "Range of services and the advice role",
                   outcome, large, sentence,
                   f"large if advice/guidance/co-ordination is at least {100 * t['advice_share_large']:.0f}% "
                   "of services", {"advice_share_large": t["advice_share_large"]},
                   {"services": total, "advice_or_coordination": advice, "share": round(share, 4),
                    "kinds_of_service": len(kinds)}, "sec-support",
                   [f"services that were advice, guidance or co-ordination: {pub.words(o['k'], o['n'], 'services')}",
                    f"kinds of service recorded: {len(kinds)}"])


def _measured_wait_days(metrics: dict[str, dict], configured: float) -> float:
    """The wait (days) the metrics were measured with; it must match the configured one."""
    used = {m["needs"]["mental_health"].get("timely_within_days", configured) for m in metrics.values()}
    if used - {configured}:
        raise ValueError(f"metrics were measured with mental_health_wait_days {sorted(used)}, but the params say "
                         f"{configured:g}: rebuild the authority results")
    return configured


def mental_health_finding(metrics: dict[str, dict], t: dict[str, float], pub) -> Finding:
    """Share of child and adult mental-health referrals not met in time (pooled over authorities)."""
    referrals = sum(m["needs"]["mental_health"]["referrals"] for m in metrics.values())
    not_timely = sum(m["needs"]["mental_health"]["not_timely"] for m in metrics.values())
    days = _measured_wait_days(metrics, t["mental_health_wait_days"])
    gap_share = t["mental_health_gap_share"]
    share = not_timely / referrals if referrals else 0.0
    which = (f"not available, still waiting after more than {days:.0f} days, or started after more than "
             f"{days:.0f} days")
    o = pub.obj("study/mh-not-timely")
    words = pub.words(o["k"], o["n"], "referrals to child or adult mental-health services")
    if not referrals:
        outcome, sentence = "no-referrals", "No child or parent mental-health referrals were recorded."
    elif share >= gap_share:
        outcome = "gap"
        sentence = f"There were gaps in provision, especially timely mental-health support: {words} were {which}."
    else:
        outcome = "no-gap"
        sentence = f"Most mental-health referrals were met in time: {words} were {which}."
    return Finding("mental-health-gap", "provision", "Timely mental-health support", outcome, outcome == "gap",
                   sentence,
                   f"gap if at least {100 * gap_share:.0f}% of mental-health referrals are not met within "
                   f"{days:.0f} days (not available, still waiting after more than {days:.0f} days, or started "
                   f"later)",
                   {"mental_health_gap_share": gap_share, "mental_health_wait_days": days},
                   {"referrals": referrals, "not_timely": not_timely, "share": round(share, 4),
                    "share_ci95": _ci(not_timely, referrals)}, "sec-needs",
                   [f"referrals not met in time: {words}"])


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


PUBLIC_FIELDS = ("id", "theme", "title", "outcome", "holds", "sentence", "rule", "thresholds", "section", "evidence")


def findings_document(findings: list[Finding], implications_: list[Implication], meta: dict) -> dict:
    """The machine-readable findings: what the book publishes of each (its sentence, rule and published
    evidence), never the raw measures behind the outcome (those stay in the build's evaluation cache)."""
    return {"meta": meta, "findings": [{k: f.to_dict()[k] for k in PUBLIC_FIELDS} for f in findings],
            "implications": [asdict(i) for i in implications_]}



# -- evaluated once per build -------------------------------------------------------------------------
def evaluation_key(metrics: dict[str, dict], cases: dict[str, pd.DataFrame], thresholds: dict[str, float],
                   seed: int) -> str:
    """A hash of everything :func:`evaluate` reads, so a saved evaluation is used only for the same inputs."""
    import hashlib

    h = hashlib.sha256()
    h.update(json.dumps([metrics, thresholds, seed], sort_keys=True, default=str).encode())
    for code in sorted(cases):
        h.update(code.encode())
        h.update(cases[code].to_csv(index=False).encode())
    return h.hexdigest()


def save_evaluation(path, key: str, found: list[Finding]) -> None:
    """Write the evaluated findings for the study chapters to share (atomic)."""
    from .atomic import write_json

    write_json(path, {"key": key, "findings": [f.to_dict() for f in found]})


def load_evaluation(path, key: str) -> list[Finding] | None:
    """The saved findings when they were evaluated from the same inputs, else None."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        return None
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("key") != key:
        return None
    return [Finding(**d) for d in doc["findings"]]
