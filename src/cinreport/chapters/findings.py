"""Key findings and implications, generated from measured results.

Each :class:`Finding` carries its id, the measures it rests on (with values), the rule and the
thresholds applied (from ``params/report.yml``), the outcome, and the sentence chosen for that
outcome. Implications name the findings that support them and are dropped when none of those
findings holds. ``findings.json`` is the machine-readable form.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cinreport.analysis.stats import (
    TestResult,
    chi2_or_exact,
    classify_variation,
    cramers_v_null,
    cramers_v_null_asymptotic,
    epsilon_squared_null,
    kruskal_epsilon,
    p_band,
    wilson_interval,
)
from cinreport.common.inert import markdown_code, markdown_text
from cinreport.common.layout import MANY_AUTHORITIES

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
    "unreported": ("Whether authorities differed in {what} is not reported: with the published counts, the "
                   "test's result would narrow a suppressed count."),
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
    group: str = ""                 # key of GROUPS: where the summary lists it
    summary: str = ""               # one plain sentence for the summary (published numbers only)
    headline: list[str] = field(default_factory=list)  # the summary's evidence line (published text only)
    robustness: dict[str, Any] = field(default_factory=dict)  # see robustness(); "text" is published
    sources: dict[str, str] = field(default_factory=dict)     # triangulation: source -> SUPPORTS/...

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


def _effect_text(t: TestResult, level: str = "exact", threshold: float | None = None,
                 null: float | None = None) -> str:
    """The test's figures at the precision the disclosure pass allows (``plan.statistic_levels``);
    ``null`` (what chance alone gives, see :func:`measure`) is shown with exact figures only."""
    if _is_nan(t.p_value) or _is_nan(t.effect_size):  # the data could not be tested
        return "not testable with these data"
    if level == "withheld":
        return ("the test's figures are not shown: with the published counts they would narrow a suppressed "
                "count")
    if level == "banded" and threshold is not None:
        side = "at or above" if t.effect_size >= threshold else "below"
        return (f"{t.effect_name} {side} {threshold:g}, {p_band(t.p_value)}, {t.method}; exact figures are not "
                "shown because, with the published counts, they would narrow suppressed ones")
    chance = "" if _is_nan(null) else f" (chance alone gives up to {null:.2f} in 95% of cases)"
    return f"{t.effect_name} {t.effect_size:.2f}{chance}, {p_band(t.p_value)}, {t.method}"


def variation_finding(fid: str, title: str, what: str, test: TestResult, thresholds: dict[str, float],
                      threshold_key: str, min_n_ok: bool, section: str, extra: dict | None = None, *,
                      n_per_authority: dict[str, int] | None = None, unit: str = "cases",
                      evidence: list[str] | None = None, level: str = "exact",
                      null: float | None = None) -> Finding:
    """A finding about variation between authorities, from a test result and the thresholds.

    ``min_n_ok`` says whether every authority has at least ``min_cases_per_authority`` ``unit``
    (e.g. cases, ended plans) in the comparison; ``n_per_authority`` is recorded as evidence.
    """
    outcome = classify_variation(test.effect_size, test.p_value, thresholds[threshold_key],
                                 thresholds["alpha"], min_n_ok, null)
    min_n = thresholds["min_cases_per_authority"]
    if level == "unreported":  # even the outcome would narrow a suppressed count (plan.statistic_levels)
        outcome, cause = "uncertain", "unreported"
        sentence = UNCERTAIN_TEXT[cause].format(what=what)
    else:
        effect = _effect_text(test, level, thresholds[threshold_key], null)
        if outcome != "uncertain":
            sentence = VARIATION_TEXT[outcome].format(what=what, effect=effect)
        else:
            cause = ("untestable" if _is_nan(test.p_value) or _is_nan(test.effect_size)
                     else "small" if not min_n_ok else "not-significant")
            sentence = UNCERTAIN_TEXT[cause].format(what=what, effect=effect, min_n=f"{min_n:.0f}", unit=unit)
    measures: dict[str, Any] = {"test": test.to_dict(), "null_95": None if _is_nan(null) else null}
    if n_per_authority is not None:
        measures["n_per_authority"] = dict(sorted(n_per_authority.items()))
    return Finding(
        id=fid, theme="variation", title=title, outcome=outcome, holds=outcome == "considerable",
        sentence=sentence,
        rule=(f"considerable if {test.effect_name} >= {thresholds[threshold_key]}, above what chance alone gives "
              f"in 95% of cases, and p < {thresholds['alpha']}, "
              f"with at least {min_n:.0f} {unit} in every authority; uncertain if fewer, if the data cannot be "
              f"tested, or if {test.effect_name} >= {thresholds[threshold_key]} but p >= {thresholds['alpha']}; "
              f"some if p < {thresholds['alpha']} with a smaller effect; otherwise none"),
        thresholds={threshold_key: thresholds[threshold_key], "alpha": thresholds["alpha"],
                    "min_cases_per_authority": min_n},
        measures={**measures, **(extra or {})}, section=section, evidence=list(evidence or []),
        summary=(VARIATION_TEXT[outcome] if outcome != "uncertain" else UNCERTAIN_TEXT[cause]).split(" ({effect})")[0]
        .format(what=what, min_n=f"{min_n:.0f}", unit=unit).rstrip(".") + ".")


def metric_at(m: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The value at ``path`` (a sequence of keys) in one authority's metrics."""
    for key in path:
        m = m[key]
    return m


def contingency(metrics: dict[str, dict], path: tuple[str, ...]) -> pd.DataFrame:
    """Categories × authorities table of counts at ``path`` in each authority's metrics.

    Categories keep the metrics' (codebook) order; categories with no count anywhere are dropped.
    """
    cols = {code: metric_at(m, path) for code, m in metrics.items()}
    order = list(dict.fromkeys(k for col in cols.values() for k in col))
    data = np.array([[int(col.get(k, 0)) for col in cols.values()] for k in order], dtype=np.int64)
    data = data.reshape(len(order), len(cols))
    return pd.DataFrame(data, index=order, columns=list(cols)).loc[data.sum(axis=1) > 0]


def _without(table: pd.DataFrame, code: str) -> pd.DataFrame:
    """A contingency table without one authority's column (and the categories left empty)."""
    if code not in table.columns:
        return table
    j = table.columns.get_loc(code)  # in numpy: pandas' drop and row sums are slow over many columns
    data = np.delete(table.to_numpy(), j, axis=1)
    keep = data.sum(axis=1) > 0
    return pd.DataFrame(data[keep], index=table.index[keep], columns=table.columns.delete(j))


def _kw_values(cases: dict[str, pd.DataFrame], column: str) -> dict[str, list[float]]:
    return {c: pd.to_numeric(df[column], errors="coerce").dropna().astype(float).tolist()
            for c, df in sorted(cases.items())}


def _large(metrics: dict[str, dict]) -> bool:
    """Chance levels from large-sample distributions (see :data:`MANY_AUTHORITIES`)."""
    return len(metrics) > MANY_AUTHORITIES


def tests_reading(metrics: dict[str, dict], thresholds: dict[str, float], seed: int = 0,
                  n_permutations: int = 10_000):
    """:func:`test_reading` for these authorities and settings, as the disclosure pass asks for it
    (``reading(finding id, table, level)``)."""
    import functools

    n_cases = {c: int(m["counts"]["case_files"]) for c, m in metrics.items()}
    return functools.partial(test_reading, t=dict(thresholds), n_cases=n_cases, seed=seed,
                             n_permutations=n_permutations, memo={})


def _published(metrics: dict[str, dict], thresholds: dict[str, float], seed: int = 0, n_permutations: int = 10_000):
    """The store for these metrics (for callers that have not built it: tests, scenarios)."""
    from cinreport.data.codebook import load_codebook
    from cinreport.disclosure.plan import build_publication
    from cinreport.disclosure.publication import Published

    pub = build_publication({c: m["atoms"] for c, m in metrics.items()}, metrics, load_codebook(),
                            int(thresholds.get("disclosure_threshold", 5)), "c",
                            reading=tests_reading(metrics, thresholds, seed, n_permutations)
                            if "cramers_v_considerable" in thresholds else None)
    return Published.from_dict(pub.to_dict())


def by_authority_text(values: dict[str, str], names: dict[str, str] | None = None) -> str:
    """'Authority A 21, Authority B 20' — or, above ``layout.MANY_AUTHORITIES`` authorities, the range of the
    shown values."""
    names = names or {}
    if len(values) > MANY_AUTHORITIES:  # many authorities: the range, not a list
        numbers = sorted(float(v.rstrip("%").replace(",", "")) for v in values.values()
                         if v.rstrip("%").replace(",", "").replace(".", "", 1).isdigit())
        if not numbers:
            return f"all suppressed across {len(values)} authorities"
        return (f"from {numbers[0]:g} to {numbers[-1]:g} across the {len(numbers)} authorities with a published "
                f"figure (of {len(values)})")
    return ", ".join(f"{markdown_text(names.get(c, c))} {markdown_text(v)}" for c, v in sorted(values.items()))




# -- measuring and deciding, apart from the text ------------------------------------------------------
#: The study's two groups of key findings (its published summary), in its order.
GROUPS = {"plans": "Child in Need plans", "support": "Support offered to families"}
#: Each finding's group, in the order the summary lists them.
GROUP_OF = {"variation-reasons": "plans", "variation-use": "plans", "variation-length": "plans",
            "variation-services": "plans", "decision-influences": "plans", "involvement-gap": "plans",
            "recording-gaps": "plans", "range-and-advice": "support", "variation-direct-work": "support",
            "mental-health-gap": "support"}
CHI2_FINDINGS = {"variation-reasons": ("reasons", "primary_need"),
                 "variation-use": ("reasons", "safeguarding_concern"),
                 "variation-services": ("support", "service_group")}
KW_FINDINGS = {"variation-length": "plan_days", "variation-direct-work": "direct_work_per_month"}
#: The outcome of each finding that says it holds.
HOLDING = {**{f: "considerable" for f in (*CHI2_FINDINGS, *KW_FINDINGS)}, "decision-influences": "present",
           "involvement-gap": "gap", "recording-gaps": "gap", "range-and-advice": "large", "mental-health-gap": "gap"}
#: The ``params/report.yml`` ``findings:`` keys each finding's rule uses (and robustness moves).
THRESHOLDS_OF = {**{f: ("cramers_v_considerable", "alpha", "min_cases_per_authority") for f in CHI2_FINDINGS},
                 **{f: ("epsilon_squared_considerable", "alpha", "min_cases_per_authority") for f in KW_FINDINGS},
                 "decision-influences": (), "involvement-gap": ("involvement_gap_points",),
                 "recording-gaps": ("completeness_gap",), "range-and-advice": ("advice_share_large",),
                 "mental-health-gap": ("mental_health_gap_share",)}
#: How far robustness moves each threshold, both ways: ("relative", 0.1) is 10% of the threshold,
#: ("absolute", 1) one unit (one case file).  ``mental_health_wait_days`` is not moved: it defines the
#: measure (which referrals were late), fixed when the authorities are measured.
MARGINS = {"cramers_v_considerable": ("relative", 0.10), "epsilon_squared_considerable": ("relative", 0.10),
           "alpha": ("relative", 0.10), "min_cases_per_authority": ("absolute", 1),
           "involvement_gap_points": ("relative", 0.10), "completeness_gap": ("relative", 0.10),
           "advice_share_large": ("relative", 0.10), "mental_health_gap_share": ("relative", 0.10)}
#: Permutations of each leave-one-out re-evaluation (at most; the published tests use the full number).
LEAVE_ONE_OUT_PERMUTATIONS = 2_000
#: Above this many authorities each leave-one-out re-evaluation takes its tests and chance levels
#: from their large-sample distributions (no permutations): with 153 authorities, 153 permuted
#: re-evaluations of every test would take minutes, and tables that large are well approximated.


def moved(key: str, value: float) -> tuple[float, float]:
    """The threshold ``key`` moved down and up by its margin (:data:`MARGINS`)."""
    kind, size = MARGINS[key]
    step = value * size if kind == "relative" else size
    return (round(value - step, 10), round(value + step, 10))


def _involvement_numbers(metrics: dict[str, dict]) -> dict[str, Any]:
    tot = {k: sum(m["involvement"][k] for m in metrics.values())
           for k in ("case_files_with_record", "case_files_parents_involved", "parent_interviews",
                     "parents_not_involved", "parents_unaware_of_goals")}
    rec, inv, interviews = tot["case_files_with_record"], tot["case_files_parents_involved"], tot["parent_interviews"]
    felt = interviews - tot["parents_not_involved"]
    practitioner = 100 * inv / rec if rec else None
    parents = 100 * felt / interviews if interviews else None
    gap = practitioner - parents if practitioner is not None and parents is not None else None
    return {**tot, "felt": felt, "practitioner": practitioner, "parents": parents, "gap": gap}


def _worst_completeness(metrics: dict[str, dict]) -> tuple[dict[str, float], dict[str, tuple[str, str]]]:
    worst: dict[str, float] = {}
    where: dict[str, tuple[str, str]] = {}
    for code, m in sorted(metrics.items()):
        for source in ("case_files", "admin"):
            for col, share in m["completeness"][source].items():
                if share < worst.get(col, 1.01):
                    worst[col], where[col] = share, (code, source)
    return worst, where


def measure(metrics: dict[str, dict], cases: dict[str, pd.DataFrame], seed: int = 0,
            n_permutations: int = 10_000, asymptotic: bool = False,
            tables: dict[str, pd.DataFrame] | None = None,
            values: dict[str, dict[str, list[float]]] | None = None) -> dict[str, dict[str, Any]]:
    """What every finding's outcome rests on, apart from thresholds and text: the tests (with what chance
    alone gives for tables of their shape), shares, gaps and coded themes. ``asymptotic``: tests and
    chance levels from their large-sample distributions, no permutations (robustness screens of
    studies of more than :data:`MANY_AUTHORITIES` authorities; above that many the chance
    level of V is always taken from the chi-squared distribution). ``tables`` and ``values``: the
    tests' tables and values when already made (leave-one-out re-evaluations)."""
    n_cases = {c: int(m["counts"]["case_files"]) for c, m in metrics.items()}
    fewest = min(n_cases.values(), default=0)
    out: dict[str, dict[str, Any]] = {}
    for fid, path in CHI2_FINDINGS.items():
        table = (tables or {}).get(fid)
        if table is None:
            table = contingency(metrics, path) if metrics else pd.DataFrame()
        out[fid] = _chi2_measured(table, n_cases, seed, n_permutations, asymptotic)
    for fid, column in KW_FINDINGS.items():
        values_ = (values or {}).get(fid)
        values_ = _kw_values(cases, column) if values_ is None else values_
        test = kruskal_epsilon(values_, n_permutations=n_permutations, seed=seed, asymptotic=asymptotic)
        per = {c: len(v) for c, v in values_.items()}
        null = epsilon_squared_null(test.n, sum(1 for v in per.values() if v))
        out[fid] = {"test": test, "null": null, "fewest": min([fewest, *per.values()]), "n_per_authority": per}
    out["decision-influences"] = {"counts": _theme_totals(metrics, DECISION_THEMES, PRACTITIONER_SOURCES)}
    out["involvement-gap"] = _involvement_numbers(metrics)
    worst, where = _worst_completeness(metrics)
    out["recording-gaps"] = {"worst": worst, "where": where}
    total = sum(m["counts"]["services"] for m in metrics.values())
    advice = sum(m["support"]["advice_or_coordination"] for m in metrics.values())
    out["range-and-advice"] = {"total": total, "advice": advice, "share": advice / total if total else 0.0}
    referrals = sum(m["needs"]["mental_health"]["referrals"] for m in metrics.values())
    late = sum(m["needs"]["mental_health"]["not_timely"] for m in metrics.values())
    out["mental-health-gap"] = {"referrals": referrals, "not_timely": late,
                                "share": late / referrals if referrals else 0.0}
    return out


def _chi2_measured(table: pd.DataFrame, n_cases: dict[str, int], seed: int, n_permutations: int,
                   asymptotic: bool, fid: str | None = None, t: dict[str, float] | None = None) -> dict[str, Any]:
    """A tested table's test and what chance alone gives for a table of its shape (:func:`measure`);
    ``n_cases``: the case files of each authority in the comparison. With ``fid`` and the thresholds
    ``t``, what chance gives is computed only where it can change the outcome (:func:`decide`: a
    considerable effect; else it is NaN), for callers that need the outcome only."""
    test = chi2_or_exact(table, n_permutations=n_permutations, seed=seed, bias_correction=True,
                         asymptotic=asymptotic)
    m = {"test": test, "null": math.nan, "fewest": min(n_cases.values(), default=0), "n_per_authority": n_cases}
    if _is_nan(test.p_value) or table.shape[1] < 2 or (fid and t and decide(fid, m, t) != "considerable"):
        return m
    m["null"] = (cramers_v_null_asymptotic(table) if asymptotic or len(n_cases) > MANY_AUTHORITIES
                 else cramers_v_null(table, n_permutations=n_permutations, seed=seed))
    return m


def test_reading(fid: str, table: pd.DataFrame, level: str, t: dict[str, float], n_cases: dict[str, int],
                 seed: int = 0, n_permutations: int = 10_000, memo: dict | None = None):
    """What the book says about the test of a tested table (``table``: categories x authorities, in the
    order of :func:`contingency`; a completion of the published table when the disclosure pass checks
    what the test would give away), piece by piece and cheapest first, so that a comparison of two
    tables stops at the first difference. At ``banded`` precision: the side of its threshold the
    bias-corrected V is on, then the test's method and p band. At ``banded`` and ``withheld``: the
    finding's outcome with the reason it is uncertain, then, for each authority left out (three or
    more authorities), whether the finding would hold without it. Computed as :func:`measure`,
    :func:`decide` and :func:`robustness` compute them for the published finding (the same tests,
    permutations and seed), so the pass checks what is published, not an approximation of it. ``memo``
    keeps the tests of tables already seen (the same table is read at each level)."""
    table = table.loc[table.sum(axis=1) > 0]
    key = "cramers_v_considerable"
    memo = {} if memo is None else memo

    def measured(tab: pd.DataFrame, cases: dict[str, int], perms: int, asymptotic: bool) -> dict[str, Any]:
        k = (fid, tab.to_numpy().tobytes(), tab.shape, tuple(cases), perms, asymptotic)
        if k not in memo:
            memo[k] = _chi2_measured(tab, cases, seed, perms, asymptotic, fid, t)
        return memo[k]

    if level == "banded":
        v = chi2_or_exact(table, bias_correction=True, asymptotic=True).effect_size  # V without the p-value
        yield ("V at or above its threshold", None if _is_nan(v) else bool(v >= t[key]))
    m = measured(table, n_cases, n_permutations, False)
    if level == "banded":
        p = m["test"].p_value
        yield ("test", m["test"].method, None if _is_nan(p) else p_band(p))
    outcome = decide(fid, m, t)
    yield ("outcome", outcome, uncertainty(fid, m, t, outcome))
    if len(n_cases) >= 3:
        large = len(n_cases) > MANY_AUTHORITIES
        for code in sorted(n_cases):
            rest = {c: n for c, n in n_cases.items() if c != code}
            sub = measured(_without(table, code), rest, min(n_permutations, LEAVE_ONE_OUT_PERMUTATIONS), large)
            yield ("without", code, decide(fid, sub, t) == HOLDING[fid])


def decide(fid: str, m: dict[str, Any], t: dict[str, float]) -> str:
    """A finding's outcome from what :func:`measure` found and the thresholds ``t``."""
    if fid in CHI2_FINDINGS or fid in KW_FINDINGS:
        key = "cramers_v_considerable" if fid in CHI2_FINDINGS else "epsilon_squared_considerable"
        test = m["test"]
        return classify_variation(test.effect_size, test.p_value, t[key], t["alpha"],
                                  m["fewest"] >= t["min_cases_per_authority"], m["null"])
    if fid == "decision-influences":
        return "present" if any(seg > 0 for seg, _ in m["counts"].values()) else "absent"
    if fid == "involvement-gap":
        gap, points = m["gap"], t["involvement_gap_points"]
        return ("no-data" if gap is None else "gap" if gap >= points else "parents-higher" if gap <= -points
                else "no-gap")
    if fid == "recording-gaps":
        return "gap" if any(s < t["completeness_gap"] for s in m["worst"].values()) else "complete"
    if fid == "range-and-advice":
        return "no-services" if not m["total"] else "large" if m["share"] >= t["advice_share_large"] else "not-large"
    if fid == "mental-health-gap":
        return ("no-referrals" if not m["referrals"] else "gap" if m["share"] >= t["mental_health_gap_share"]
                else "no-gap")
    raise KeyError(fid)


def _interval_holds_threshold(k: int, n: int, threshold: float) -> bool:
    if not n:
        return False
    lo, hi = wilson_interval(k, n)
    return lo <= threshold <= hi


def uncertainty(fid: str, m: dict[str, Any], t: dict[str, float], outcome: str) -> str | None:
    """Why the data cannot settle a finding, or None.  A variation finding is uncertain when its own rule
    says so (too few cases, not testable, or a large effect that chance could give); a share is uncertain
    when its 95% interval includes its threshold (for the involvement gap: when the interval of the
    parents' share includes the case files' share less the gap); what influences decisions is uncertain
    when a single source raised it."""
    if fid in CHI2_FINDINGS or fid in KW_FINDINGS:
        if outcome != "uncertain":
            return None
        test = m["test"]
        return ("untestable" if _is_nan(test.p_value) or _is_nan(test.effect_size)
                else "small" if m["fewest"] < t["min_cases_per_authority"] else "chance")
    if fid == "decision-influences":
        return "one-source" if 0 < sum(n for _, n in m["counts"].values()) < 2 else None
    if fid == "involvement-gap":
        if m["gap"] is None:
            return None
        target = (m["practitioner"] - t["involvement_gap_points"]) / 100
        return "interval" if _interval_holds_threshold(m["felt"], m["parent_interviews"], target) else None
    if fid == "range-and-advice":
        return "interval" if _interval_holds_threshold(m["advice"], m["total"], t["advice_share_large"]) else None
    if fid == "mental-health-gap":
        return ("interval" if _interval_holds_threshold(m["not_timely"], m["referrals"],
                                                        t["mental_health_gap_share"]) else None)
    return None


def robustness(metrics: dict[str, dict], cases: dict[str, pd.DataFrame], t: dict[str, float],
               measured: dict[str, dict], seed: int = 0, n_permutations: int = 10_000) -> dict[str, dict]:
    """Each finding re-evaluated with each of its thresholds moved by its margin (:data:`MARGINS`) and,
    with three or more authorities, leaving out each authority in turn.

    Returns, per finding: ``label`` (``fragile`` when any of those changes whether it holds, else
    ``uncertain`` when :func:`uncertainty` gives a reason, else ``robust``), ``flips`` (what changes it:
    ``{"kind": "threshold", "key", "at", "holds"}`` or ``{"kind": "without", "authority", "holds"}``),
    ``uncertain`` (the reason or None) and ``left_out`` (whether leaving out was possible)."""
    base = {fid: decide(fid, m, t) for fid, m in measured.items()}
    flips: dict[str, list[dict]] = {fid: [] for fid in measured}
    for fid, m in measured.items():
        holds = base[fid] == HOLDING[fid]
        for key in THRESHOLDS_OF[fid]:
            if key not in MARGINS or key not in t:
                continue
            for value in moved(key, t[key]):
                now = decide(fid, m, {**t, key: value}) == HOLDING[fid]
                if now != holds:
                    flips[fid].append({"kind": "threshold", "key": key, "at": value, "holds": now})
    left_out = len(metrics) >= 3
    if left_out:
        tables = {fid: contingency(metrics, path) for fid, path in CHI2_FINDINGS.items()}
        values = {fid: _kw_values(cases, column) for fid, column in KW_FINDINGS.items()}
        for code in sorted(metrics):
            rest = {c: v for c, v in metrics.items() if c != code}
            sub = measure(rest, {c: v for c, v in cases.items() if c != code}, seed,
                          min(n_permutations, LEAVE_ONE_OUT_PERMUTATIONS), asymptotic=_large(metrics),
                          tables={fid: _without(tab, code) for fid, tab in tables.items()},
                          values={fid: {c: v for c, v in vals.items() if c != code} for fid, vals in values.items()})
            for fid, m in sub.items():
                now = decide(fid, m, t) == HOLDING[fid]
                if now != (base[fid] == HOLDING[fid]):
                    flips[fid].append({"kind": "without", "authority": code, "holds": now})
    out = {}
    for fid, m in measured.items():
        why = uncertainty(fid, m, t, base[fid])
        label = "fragile" if flips[fid] else "uncertain" if why else "robust"
        out[fid] = {"label": label, "flips": flips[fid], "uncertain": why, "left_out": left_out}
    return out


def threshold_words(key: str, value: float) -> str:
    """A threshold as a reader says it: '22 points', '27%', '0.275', '9 case files', 'p < 0.045'."""
    if key == "involvement_gap_points":
        return f"{value:g} points"
    if key in ("advice_share_large", "mental_health_gap_share", "completeness_gap"):
        return f"{100 * value:.3g}%"
    if key == "min_cases_per_authority":
        return f"{value:g} cases per authority"
    if key == "alpha":
        return f"a significance level of {value:g}"
    return f"an effect size of {value:.3g}"


UNCERTAIN_WORDS = {
    "chance": "a difference this large could arise by chance with this many cases",
    "small": "at least one authority had too few cases to compare",
    "untestable": "it could not be tested with these data",
    "one-source": "a single source raised it",
}


def _hidden_keys(f: Finding, t: dict[str, float], pub, level: str) -> set[str]:
    """Thresholds whose moves the text may not report: the quantity they cut is not published exactly
    (a test's figures banded or withheld; a share suppressed), so saying how close it is would narrow it."""
    if f.id in CHI2_FINDINGS and level != "exact":
        return {"cramers_v_considerable", "alpha"}
    names = {"involvement-gap": ("study/involved-records", "study/felt-involved"),
             "range-and-advice": ("study/advice",), "mental-health-gap": ("study/mh-not-timely",)}
    if f.id in names:
        if any(pub.share(pub.obj(n)["k"], pub.obj(n)["n"]) is None for n in names[f.id]):
            return set(THRESHOLDS_OF[f.id])
    if f.id == "recording-gaps":
        for col, (code, source) in f.measures.get("lowest_at", {}).items():
            o = pub.obj(f"{code}/recorded/{source}/{FIELD_KEYS.get(col, col)}")
            if pub.share(o["k"], o["n"]) is None:
                return {"completeness_gap"}
    return set()


def robustness_text(f: Finding, rob: dict[str, Any], t: dict[str, float], pub, names: dict[str, str],
                    level: str = "exact") -> tuple[str, str]:
    """The published label and sentence of a finding's robustness, e.g. ('fragile', 'Fragile: holds at 20
    points, not at 22 points.').  Moves of a threshold whose quantity is not published exactly are left
    out of both, whether they flip it or not (:func:`_hidden_keys`): the label then cannot be 'robust'."""
    if level == "unreported":  # nothing about the test is published, so nothing about what would change it
        return "uncertain", ("Uncertain: not reported, because with the published counts the test's result "
                             "would narrow a suppressed count.")
    hidden = _hidden_keys(f, t, pub, level)
    holds = f.holds
    parts = []
    for flip in rob["flips"]:
        if flip["kind"] == "threshold" and flip["key"] not in hidden:
            now, base = threshold_words(flip["key"], flip["at"]), threshold_words(flip["key"], t[flip["key"]])
            parts.append(f"holds at {base}, not at {now}" if holds else f"does not hold at {base}, would at {now}")
    left = [markdown_text(names.get(x["authority"], x["authority"])) for x in rob["flips"] if x["kind"] == "without"]
    if left:
        who = left[0] if len(left) == 1 else ", ".join(left[:-1]) + " or " + left[-1]
        parts.append(f"without {who} it does not hold" if holds else f"without {who} it would hold")
    why = rob.get("uncertain")
    if why == "interval":
        words = {"involvement-gap": "the 95% interval of parents' share is wide enough for the gap to be on "
                                    "either side of its threshold",
                 "range-and-advice": "the 95% interval of the share includes its threshold",
                 "mental-health-gap": "the 95% interval of the share includes its threshold"}[f.id]
    else:
        words = UNCERTAIN_WORDS.get(why or "", "")
    if parts:
        label, text = "fragile", "Fragile: " + "; ".join(parts) + "."
        if words:
            text += f" Also uncertain: {words}."
    elif words:
        label, text = "uncertain", f"Uncertain: {words}."
    elif hidden & set(THRESHOLDS_OF[f.id]):
        label, text = "uncertain", ("Uncertain: how close it is to its thresholds is not shown, because exact "
                                    "figures would narrow a suppressed count.")
    else:
        whatever = "whichever authority is left out" if rob.get("left_out") else "(too few authorities to leave one out)"
        moved_too = " and with each of its thresholds moved by its margin" if THRESHOLDS_OF[f.id] else ""
        label, text = "robust", f"Robust: it {'holds' if holds else 'does not hold'} {whatever}{moved_too}."
    return label, text


def analyse(metrics: dict[str, dict], cases: dict[str, pd.DataFrame], thresholds: dict[str, float],
            seed: int = 0, *, n_permutations: int = 10_000, robust: bool = True) -> dict[str, Any]:
    """The costly, publication-independent part of :func:`evaluate`: every finding's tests and
    measures (:func:`measure`), its robustness (:func:`robustness`, unless ``robust`` is False) and
    which sources support it (:func:`triangulate`). It reads the measures only, not the store of
    published numbers, so a build runs it beside the disclosure pass (``cinreport analyse``)."""
    measured = measure(metrics, cases, seed, n_permutations)
    rob = robustness(metrics, cases, thresholds, measured, seed, n_permutations) if robust else {}
    return {"measured": measured, "robustness": rob,
            "sources": triangulate(metrics, measured, thresholds, seed, n_permutations)}


def evaluate(metrics: dict[str, dict], cases: dict[str, pd.DataFrame], thresholds: dict[str, float],
             seed: int = 0, *, n_permutations: int = 10_000, pub=None,
             names: dict[str, str] | None = None, robust: bool = True,
             analysed: dict[str, Any] | None = None) -> list[Finding]:
    """All key findings for a study, in report order, each with its group, robustness (unless ``robust``
    is False) and the sources that support it.

    Outcomes come from the data; every number a sentence or evidence line quotes comes from ``pub``
    (:class:`cinreport.disclosure.publication.Published`, the build's store after disclosure control).
    ``n_permutations`` is passed to the permutation tests used when expected counts or groups are
    small (see :mod:`cinreport.analysis.stats`), and to the permutation null of Cramér's V. ``analysed``:
    :func:`analyse`'s result for the same inputs, when already computed.
    """
    t = thresholds
    pub = pub if pub is not None else _published(metrics, thresholds, seed, n_permutations)
    names = names or {}
    if analysed is None:
        analysed = analyse(metrics, cases, t, seed, n_permutations=n_permutations, robust=robust)
    measured, rob, sources = analysed["measured"], analysed["robustness"], analysed["sources"]
    min_n = t["min_cases_per_authority"]
    out: list[Finding] = []
    cases_text = "reviewed case files per authority: " + by_authority_text(
        {c: pub.text(pub.obj(f"{c}/heading")["case_files"]) for c in metrics}, names)

    def level(fid: str) -> str:
        from cinreport.disclosure.plan import TESTED_TABLES

        return pub.objects.get(TESTED_TABLES[fid], {}).get("statistic", "exact")

    def medians(name: str, unit: str, source: str = "case files") -> str:
        vals = {}
        for c in metrics:
            q = pub.obj(f"{c}/{name}")
            vals[c] = f"{q['median']:.{1 if unit == 'sessions' else 0}f}" if q["median"] is not None else pub.symbol
        return f"median {unit} per authority ({source}): " + by_authority_text(vals, names)

    def variation(fid: str, title: str, what: str, section: str, extra=None, unit="cases", evidence=()):
        m = measured[fid]
        key = "cramers_v_considerable" if fid in CHI2_FINDINGS else "epsilon_squared_considerable"
        return variation_finding(fid, title, what, m["test"], t, key, m["fewest"] >= min_n, section, extra,
                                 n_per_authority=m["n_per_authority"], unit=unit, evidence=list(evidence),
                                 level=level(fid) if fid in CHI2_FINDINGS else "exact", null=m["null"])

    out.append(variation("variation-reasons", "Reasons for Child in Need plans",
                         "the primary need recorded for children on plans", "sec-reasons", evidence=[cases_text]))
    out.append(variation("variation-use", "Use of plans and thresholds",
                         "the level of safeguarding concern among children on plans", "sec-reasons",
                         evidence=[cases_text]))
    ended_text = "ended plans per authority (case files): " + by_authority_text(
        {c: pub.text(pub.obj(f"{c}/ended-evidence")["key"]) for c in metrics}, names)
    out.append(variation("variation-length", "Length of plans", "how long plans lasted", "sec-support",
                         {"median_days": {c: m["plans"]["length_days"]["median"] for c, m in metrics.items()}},
                         unit="ended plans",
                         evidence=[ended_text, medians("length-days", "days",
                                                       "case files; the authority profiles give the administrative "
                                                       "extract's median, over all its children on plans")]))
    out.append(variation("variation-services", "Types of support", "the kinds of support provided", "sec-support",
                         evidence=[cases_text]))
    out.append(variation("variation-direct-work", "Direct work",
                         "how often direct work took place (sessions per month of plan)", "sec-support",
                         {"median_sessions_per_month": {c: m["plans"]["direct_work_per_month"]["median"]
                                                        for c, m in metrics.items()}},
                         evidence=[cases_text, medians("direct-work", "sessions")]))
    out.append(decision_finding(metrics))
    out.append(involvement_finding(metrics, t, pub))
    out.append(recording_finding(metrics, t, pub, names))
    out.append(advice_finding(metrics, t, pub))
    out.append(mental_health_finding(metrics, t, pub))
    for f in out:
        f.group = GROUP_OF[f.id]
        f.summary = f.summary or f.sentence
        f.sources = sources[f.id]
        if f.id in rob:
            label, text = robustness_text(f, rob[f.id], t, pub, names, level(f.id) if f.id in CHI2_FINDINGS
                                          else "exact")
            f.robustness = {**rob[f.id], "assessed": rob[f.id]["label"], "label": label, "text": text}
    order = list(GROUP_OF)
    return sorted(out, key=lambda f: order.index(f.id))


PRACTITIONER_SOURCES = ("focus_group", "case_discussion")


def _theme_totals(metrics: dict[str, dict], themes, source_types: tuple[str, ...] | None = None
                  ) -> dict[str, tuple[int, int]]:
    """Coded segments and sources of each of ``themes`` over all authorities (optionally some source
    types), in one pass over the authorities."""
    totals = {theme: [0, 0] for theme in themes}
    for m in metrics.values():
        for key, v in m["themes"].items():
            name, _, source_type = key.partition("|")
            if name in totals and (source_types is None or source_type in source_types):
                totals[name][0] += v["segments"]
                totals[name][1] += v["sources"]
    return {theme: (segments, sources) for theme, (segments, sources) in totals.items()}


DECISION_THEMES = {
    "decision_parental_engagement": "parents' engagement with children's services",
    "decision_family_support": "support available from the wider family",
    "decision_historical_concerns": "historical concerns",
}


def decision_finding(metrics: dict[str, dict]) -> Finding:
    counts = _theme_totals(metrics, DECISION_THEMES, PRACTITIONER_SOURCES)
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
    ci = _ci(felt, interviews)
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
                    "parent_share_ci95": None if ci is None else [round(100 * x, 1) for x in ci],
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
                   {"lowest_completeness": dict(sorted(worst.items())), "lowest_in": dict(sorted(where.items())),
                    "lowest_at": {c: list(_worst_completeness(metrics)[1][c]) for c in sorted(worst)}},
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


# -- triangulation ----------------------------------------------------------------------------------
SOURCES = {"case_files": "Case files", "admin": "Administrative data",
           "practitioners": "Practitioner focus groups and case discussions", "parents": "Parent interviews"}
SUPPORTS, AGAINST, NOT_MEASURED = "supports", "does not support", "not measured"
#: Which finding each coded theme (data/codebook.yml) feeds; coded in focus groups or case discussions it
#: speaks for practitioners, in parent interviews for parents.  Every theme of the codebook is here.
THEME_FEEDS = {
    "collaboration_with_parents": "involvement-gap", "parent_not_involved": "involvement-gap",
    "parent_unaware_of_goals": "involvement-gap", "decision_parental_engagement": "decision-influences",
    "decision_family_support": "decision-influences", "decision_historical_concerns": "decision-influences",
    "threshold_inconsistency": "variation-use", "advice_and_coordination_role": "range-and-advice",
    "limited_time_direct_work": "variation-direct-work", "mental_health_waits": "mental-health-gap",
    "service_gaps": "mental-health-gap", "recording_gaps": "recording-gaps"}
#: The measured (non-theme) sources of each finding's claim.
DATA_SOURCES = {**{f: ("case_files",) for f in (*CHI2_FINDINGS, *KW_FINDINGS)}, "decision-influences": (),
                "involvement-gap": ("case_files", "parents"), "recording-gaps": ("case_files", "admin"),
                "range-and-advice": ("case_files",), "mental-health-gap": ("case_files",)}


def _role(source_type: str) -> str:
    return "parents" if source_type == "parent_interview" else "practitioners"


def triangulate(metrics: dict[str, dict], measured: dict[str, dict], t: dict[str, float], seed: int = 0,
                n_permutations: int = 10_000) -> dict[str, dict[str, str]]:
    """For each finding, whether each source supports the study's claim (the finding's holding outcome):
    the data it is measured on by its rule (case files; the administrative extract where it measures the
    same thing — primary need, recording), and the coded themes that feed it (:data:`THEME_FEEDS`), coded
    in at least one source of that kind.  A kind of source with no measure or theme for a finding is
    ``not measured``; a theme-fed kind whose sources never coded its themes ``does not support``."""
    coded: dict[tuple[str, str], int] = {}
    held: set[str] = set()
    for m in metrics.values():
        for key, v in m["themes"].items():
            theme, _, source_type = key.partition("|")
            held.add(_role(source_type))
            if theme in THEME_FEEDS and v["sources"] > 0:
                coded[THEME_FEEDS[theme], _role(source_type)] = coded.get((THEME_FEEDS[theme], _role(source_type)), 0) + 1
    out: dict[str, dict[str, str]] = {}
    for fid, m in measured.items():
        holds = decide(fid, m, t) == HOLDING[fid]
        cells = {s: NOT_MEASURED for s in SOURCES}
        for src in DATA_SOURCES[fid]:
            cells[src] = SUPPORTS if holds else AGAINST
        if fid == "recording-gaps":  # each source on its own
            for src in ("case_files", "admin"):
                shares = [mm["completeness"][src][c] for mm in metrics.values() for c in mm["completeness"][src]]
                cells[src] = (NOT_MEASURED if not shares else
                              SUPPORTS if min(shares) < t["completeness_gap"] else AGAINST)
        if fid == "variation-reasons" and metrics:  # the administrative extract records primary need too
            table = contingency(metrics, ("reasons", "admin_primary_need"))
            test = chi2_or_exact(table, n_permutations=n_permutations, seed=seed, bias_correction=True,
                                 asymptotic=_large(metrics))  # a support cell, not a published test
            null = (math.nan if _is_nan(test.p_value) else cramers_v_null_asymptotic(table) if _large(metrics)
                    else cramers_v_null(table, n_permutations, seed))
            fewest = min(int(mm["counts"]["admin_children"]) for mm in metrics.values())
            cells["admin"] = (SUPPORTS if classify_variation(test.effect_size, test.p_value,
                                                             t["cramers_v_considerable"], t["alpha"],
                                                             fewest >= t["min_cases_per_authority"], null)
                              == "considerable" else AGAINST)
        for role in ("practitioners", "parents"):
            themes = [th for th, f in THEME_FEEDS.items() if f == fid and _theme_role_ok(th, role)]
            if not themes or role not in held or cells[role] != NOT_MEASURED:
                continue  # no theme of this kind of source feeds it, no such source, or measured directly
            cells[role] = SUPPORTS if coded.get((fid, role)) else AGAINST
        out[fid] = cells
    return out


#: Themes a kind of source can code (parents are not asked about practitioners' decisions or their time).
PRACTITIONER_ONLY = {"collaboration_with_parents", "decision_parental_engagement", "decision_family_support",
                     "decision_historical_concerns", "threshold_inconsistency", "advice_and_coordination_role",
                     "limited_time_direct_work", "recording_gaps"}
PARENT_ONLY = {"parent_not_involved", "parent_unaware_of_goals"}


def _theme_role_ok(theme: str, role: str) -> bool:
    return not ((role == "parents" and theme in PRACTITIONER_ONLY) or (role == "practitioners" and theme in PARENT_ONLY))


# -- implications -----------------------------------------------------------------------------------
#: Each implication's gate: every group must have one token that holds; a token is a finding id (the
#: finding holds) or ``finding@source`` (that source supports it, see :func:`triangulate`).  Each gate
#: names only findings that measure what the implication claims.
IMPLICATIONS: list[tuple[str, str, tuple[tuple[str, ...], ...]]] = [
    ("consistency", "Greater consistency is needed in how Child in Need plans are used and in the services "
     "available across local authorities, so that children and families get the right support for their needs.",
     (("variation-reasons", "variation-use", "variation-length", "variation-services"),)),
    ("collaboration", "Practitioners should work with families when creating plans, so that parents feel involved "
     "and know the goals they are working towards.", (("involvement-gap",),)),
    ("direct-work-time", "Practitioners need sufficient time to undertake direct work with children and families.",
     (("variation-direct-work@practitioners",), ("variation-direct-work",))),
    ("multi-agency-access", "Access to external support from multi-agency partners, particularly timely child and "
     "parent mental-health support, needs to improve.", (("mental-health-gap",),)),
    ("data-recording", "Better collection and recording of data about children and families is needed to "
     "understand the experience of being on a Child in Need plan.", (("recording-gaps",),)),
]

#: What each ``finding@source`` token of a gate means, for the reader.
GATE_WORDS = {"variation-direct-work@practitioners": "practitioners said they had too little time for direct work"}


def _token_holds(token: str, by_id: dict[str, Finding]) -> bool:
    fid, _, source = token.partition("@")
    f = by_id.get(fid)
    if f is None:
        return False
    return f.sources.get(source) == SUPPORTS if source else f.holds


def implications(findings: list[Finding]) -> list[Implication]:
    """Implications whose gate holds (:data:`IMPLICATIONS`); each lists the tokens that hold."""
    by_id = {f.id: f for f in findings}
    out = []
    for iid, text, gate in IMPLICATIONS:
        if all(any(_token_holds(tok, by_id) for tok in group) for group in gate):
            out.append(Implication(iid, text, [tok for group in gate for tok in group if _token_holds(tok, by_id)]))
    return out


PUBLIC_FIELDS = ("id", "theme", "title", "outcome", "holds", "sentence", "rule", "thresholds", "section", "evidence",
                 "group", "summary", "headline", "sources")


def findings_document(findings: list[Finding], implications_: list[Implication], meta: dict) -> dict:
    """The machine-readable findings: what the book publishes of each (its sentence, rule and published
    evidence), never the raw measures behind the outcome (those stay in the build's evaluation cache)."""
    return {"meta": meta, "findings": [{**{k: f.to_dict()[k] for k in PUBLIC_FIELDS},
                                        "robustness": {k: f.robustness.get(k) for k in ("label", "text")}}
                                       for f in findings],
            "implications": [asdict(i) for i in implications_]}



# -- evaluated once per build -------------------------------------------------------------------------
def evaluation_key(metrics: dict[str, dict], cases: dict[str, pd.DataFrame], thresholds: dict[str, Any],
                   seed: int) -> str:
    """A hash of everything :func:`evaluate` reads, so a saved evaluation is used only for the same inputs."""
    import hashlib
    from pathlib import Path

    h = hashlib.sha256()
    from cinreport.analysis import stats

    for module in (__file__, stats.__file__):  # the rules and tests themselves: a saved evaluation of old code is stale
        h.update(Path(module).read_bytes())
    h.update(json.dumps([metrics, thresholds, seed], sort_keys=True, default=str).encode())
    for code in sorted(cases):
        h.update(code.encode())
        h.update(cases[code].to_csv(index=False).encode())
    return h.hexdigest()


def save_analysis(path, key: str, analysed: dict[str, Any]) -> None:
    """Write :func:`analyse`'s result (a pickle inside build/, never published; atomic), with the
    :func:`evaluation_key` of its inputs."""
    import pickle

    from cinreport.common.atomic import write_bytes

    write_bytes(path, pickle.dumps({"key": key, "analysed": analysed}, protocol=pickle.HIGHEST_PROTOCOL))


def load_analysis(path, key: str) -> dict[str, Any] | None:
    """The saved analysis when it was made from the same inputs (and code), else None."""
    import pickle
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        return None
    try:
        doc = pickle.loads(path.read_bytes())  # written by this build's own `cinreport analyse`
    except Exception:  # a file of an older version: analyse again
        return None
    return doc["analysed"] if isinstance(doc, dict) and doc.get("key") == key else None


def save_evaluation(path, key: str, found: list[Finding]) -> None:
    """Write the evaluated findings for the study chapters to share (atomic)."""
    from cinreport.common.atomic import write_json

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
