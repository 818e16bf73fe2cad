"""Tests for cinreport.analysis.stats."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from cinreport.analysis.stats import (
    TestResult,
    chi2_or_exact,
    classify_variation,
    cramers_v,
    kruskal_epsilon,
    wilson_interval,
)

# ---------------------------------------------------------------------------------------------
# Wilson interval
# ---------------------------------------------------------------------------------------------


def test_wilson_known_value():
    lo, hi = wilson_interval(8, 20)
    assert lo == pytest.approx(0.2188, abs=1e-4)
    assert hi == pytest.approx(0.6134, abs=1e-4)


def test_wilson_edges_and_confidence():
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == 1.0
    lo, hi = wilson_interval(0, 0)
    assert math.isnan(lo) and math.isnan(hi)
    narrow, wide = wilson_interval(8, 20, 0.90), wilson_interval(8, 20, 0.99)
    assert wide[0] < narrow[0] and wide[1] > narrow[1]


def test_wilson_stays_inside_the_unit_interval_and_holds_the_share():
    for n in (1, 3, 20, 500):
        for k in range(0, n + 1, max(1, n // 7)):
            lo, hi = wilson_interval(k, n)
            assert 0.0 <= lo <= k / n <= hi <= 1.0
    # symmetric: the interval of the complement is the mirror image
    lo, hi = wilson_interval(3, 17)
    assert wilson_interval(14, 17) == pytest.approx((1 - hi, 1 - lo))


@pytest.mark.parametrize("k, n", [(-1, 5), (6, 5)])
def test_wilson_rejects_impossible_counts(k, n):
    with pytest.raises(ValueError):
        wilson_interval(k, n)


# ---------------------------------------------------------------------------------------------
# Cramér's V and the contingency test
# ---------------------------------------------------------------------------------------------


def test_cramers_v_perfect_and_independent():
    perfect = pd.DataFrame([[10, 0, 0], [0, 7, 0], [0, 0, 5]])
    assert cramers_v(perfect) == pytest.approx(1.0)
    independent = pd.DataFrame([[10, 20, 30], [5, 10, 15]])
    assert cramers_v(independent) == pytest.approx(0.0, abs=1e-12)
    assert cramers_v(independent, bias_correction=True) == 0.0


def test_cramers_v_known_value_and_degenerate_cases():
    table = pd.DataFrame([[12, 5, 9], [3, 14, 6], [7, 4, 11]])
    # Pearson's chi2 = 14.6454 on n = 71: V = sqrt(14.6454 / (71 * 2))
    assert cramers_v(table) == pytest.approx(0.32115, abs=1e-5)
    assert cramers_v(table, bias_correction=True) < cramers_v(table)
    assert cramers_v(pd.DataFrame([[5, 6, 7]])) == 0.0  # one category
    assert cramers_v(pd.DataFrame([[0, 0], [0, 0]])) == 0.0  # empty
    # all-zero rows and columns are ignored
    padded = pd.DataFrame([[10, 0, 0], [0, 0, 0], [0, 0, 7]])
    assert cramers_v(padded) == pytest.approx(1.0)


def test_chi2_large_counts_uses_asymptotic_test():
    table = pd.DataFrame([[30, 10, 20], [10, 40, 20], [20, 20, 50]])
    res = chi2_or_exact(table)
    expected = sps.chi2_contingency(table.to_numpy(), correction=False)
    assert isinstance(res, TestResult)
    assert res.method == "Pearson's chi-squared test"
    assert res.statistic == pytest.approx(expected.statistic)
    assert res.p_value == pytest.approx(expected.pvalue)
    assert res.dof == 4 and res.n == 220 and not res.small_expected
    assert res.effect_size == pytest.approx(cramers_v(table))
    assert res.effect_name == "Cramér's V"


def test_chi2_two_by_two_uses_fisher():
    table = pd.DataFrame([[8, 2], [1, 9]])
    res = chi2_or_exact(table)
    assert "Fisher" in res.method
    assert res.p_value == pytest.approx(sps.fisher_exact(table.to_numpy()).pvalue)
    assert res.dof is None


def test_chi2_small_expected_uses_seeded_permutation():
    table = pd.DataFrame([[3, 1, 2], [1, 4, 0], [2, 2, 5]])
    a = chi2_or_exact(table, n_permutations=2000, seed=1)
    b = chi2_or_exact(table, n_permutations=2000, seed=1)
    c = chi2_or_exact(table, n_permutations=2000, seed=2)
    assert a == b
    assert a.p_value != c.p_value
    assert "permutation" in a.method and a.small_expected
    # p = (b + 1) / (B + 1)
    assert ((a.p_value * 2001) - round(a.p_value * 2001)) == pytest.approx(0, abs=1e-9)
    # close to the exact conditional p-value estimated with many more permutations
    ref = chi2_or_exact(table, n_permutations=40000, seed=9).p_value
    assert a.p_value == pytest.approx(ref, abs=0.04)


def test_permutation_p_values_do_not_depend_on_the_number_of_cores(monkeypatch):
    import cinreport.common.parallel as parallel_module

    table = pd.DataFrame([[3, 1, 2, 0], [1, 4, 0, 2], [2, 2, 5, 1]])
    groups = {"a": [1.0, 2.0, 3.5], "b": [2.5, 4.0, 6.0, 7.0], "c": [5.0, 8.0, 9.0]}
    results = []
    for cores in (1, 2, 7):
        monkeypatch.setattr(parallel_module.os, "cpu_count", lambda cores=cores: cores)
        results.append((chi2_or_exact(table, n_permutations=3500, seed=4),
                        kruskal_epsilon(groups, n_permutations=3500, seed=4)))
    assert results[0] == results[1] == results[2]
    assert all("permutation" in r.method for r in results[0])


def test_chi2_degenerate_tables():
    one_category = chi2_or_exact(pd.DataFrame([[5, 6, 7], [0, 0, 0]]))
    assert (one_category.statistic, one_category.p_value, one_category.effect_size) == (0, 1, 0)
    one_group = chi2_or_exact(pd.DataFrame([[5, 0], [6, 0]]))
    assert math.isnan(one_group.p_value) and "not testable" in one_group.method
    assert classify_variation(one_group.effect_size, one_group.p_value, 0.25, 0.05, True) == (
        "uncertain")
    empty = chi2_or_exact(pd.DataFrame([[0, 0], [0, 0]]))
    assert math.isnan(empty.p_value) and empty.to_dict()["p_value"] is None


# ---------------------------------------------------------------------------------------------
# Kruskal-Wallis with epsilon-squared
# ---------------------------------------------------------------------------------------------


def test_kruskal_identical_values_no_variation():
    res = kruskal_epsilon({"a": [3, 3, 3, 3, 3], "b": [3, 3, 3], "c": [3, 3, 3, 3, 3, 3]})
    assert (res.statistic, res.p_value, res.effect_size) == (0.0, 1.0, 0.0)
    assert classify_variation(res.effect_size, res.p_value, 0.08, 0.05, True) == "none"


def test_kruskal_separated_groups_large_effect():
    groups = {"a": list(range(0, 10)), "b": list(range(100, 110)), "c": list(range(200, 210))}
    res = kruskal_epsilon(groups)
    expected = sps.kruskal(*groups.values())
    n = 30
    assert res.method == "Kruskal-Wallis H test"
    assert res.statistic == pytest.approx(expected.statistic)
    assert res.p_value == pytest.approx(expected.pvalue)
    assert res.effect_size == pytest.approx(expected.statistic * (n + 1) / (n**2 - 1))
    assert res.effect_size > 0.8
    assert res.effect_name == "epsilon-squared" and res.dof == 2 and res.n == n
    assert classify_variation(res.effect_size, res.p_value, 0.08, 0.05, True) == "considerable"


def test_kruskal_small_groups_permutation_reproducible():
    groups = {"a": [1, 2, 3], "b": [4, 5, 6, 7], "c": [8, 9, 10]}
    a = kruskal_epsilon(groups, n_permutations=5000, seed=3)
    b = kruskal_epsilon(groups, n_permutations=5000, seed=3)
    assert a == b
    assert "permutation" in a.method and a.small_expected
    # exact permutation p-value is 6/4200 (enumerated); the Monte Carlo estimate is close
    assert a.p_value == pytest.approx(6 / 4200, abs=0.002)
    assert a.p_value >= 1 / 5001


def test_kruskal_ignores_nan_and_empty_groups():
    res = kruskal_epsilon({"a": [1, 2, float("nan"), 3, 4, 5], "b": [], "c": [6, 7, 8, 9, 10]})
    assert res.n == 10 and res.dof == 1
    one_group = kruskal_epsilon({"a": [1, 2, 3], "b": []})
    assert math.isnan(one_group.p_value)


# ---------------------------------------------------------------------------------------------
# classify_variation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "effect, p, min_n_ok, expected",
    [
        (0.40, 0.001, True, "considerable"),
        (0.40, 0.200, True, "uncertain"),  # large effect, could be chance
        (0.40, 0.001, False, "uncertain"),  # too few cases to call
        (0.10, 0.001, False, "uncertain"),
        (0.10, 0.001, True, "some"),
        (0.10, 0.500, True, "none"),
        (0.25, 0.049, True, "considerable"),  # thresholds are inclusive / strict as documented
        (0.25, 0.050, True, "uncertain"),
        (float("nan"), 0.5, True, "uncertain"),
        (0.3, float("nan"), True, "uncertain"),
    ],
)
def test_classify_variation(effect, p, min_n_ok, expected):
    assert classify_variation(effect, p, threshold=0.25, alpha=0.05, min_n_ok=min_n_ok) == expected


# --------------------------------------------------------------------------------------------
# What chance gives: the permutation null of the bias-corrected V (issue #14)
# --------------------------------------------------------------------------------------------

def _chance_table(seed: int, rows: int = 9, groups: int = 4, n: int = 82) -> np.ndarray:
    """Categories drawn independently of the group: no real difference between groups."""
    rng = np.random.default_rng(seed)
    cat, grp = rng.integers(0, rows, n), rng.integers(0, groups, n)
    table = np.zeros((rows, groups), dtype=int)
    np.add.at(table, (cat, grp), 1)
    return table


def test_uncorrected_v_of_a_chance_table_clears_025_but_the_corrected_null_sits_lower():
    from cinreport.analysis.stats import cramers_v_null

    # the point: uncorrected V of tables with no real difference typically exceeds the 0.25 bar
    raw = [cramers_v(_chance_table(seed)) for seed in range(1, 12)]
    assert np.median(raw) > 0.25
    corrected_null = cramers_v_null(_chance_table(1), 2_000, seed=3, quantile=0.5)
    assert corrected_null < 0.15


def test_cramers_v_null_is_seeded_and_increasing_in_its_quantile():
    from cinreport.analysis.stats import cramers_v_null

    t = _chance_table(2)
    assert cramers_v_null(t, 3_000, seed=5) == cramers_v_null(t, 3_000, seed=5)
    assert cramers_v_null(t, 3_000, seed=5, quantile=0.5) <= cramers_v_null(t, 3_000, seed=5, quantile=0.95)
    assert cramers_v_null(np.array([[5, 5]]), 100) == 0.0  # one category: no variation possible


def test_cramers_v_null_is_the_same_on_any_number_of_threads(monkeypatch):
    from cinreport.analysis import stats

    t = _chance_table(4)
    many = stats.cramers_v_null(t, 2_500, seed=9)
    monkeypatch.setattr(stats, "in_parallel", lambda f, items: [f(i) for i in items])
    assert stats.cramers_v_null(t, 2_500, seed=9) == many


def test_chi2_or_exact_reports_the_bias_corrected_v_when_asked():
    t = _chance_table(5)
    res = chi2_or_exact(t, n_permutations=500, seed=1, bias_correction=True)
    assert res.effect_name == "bias-corrected Cramér's V"
    assert res.effect_size == pytest.approx(cramers_v(t, bias_correction=True))
    assert res.effect_size < chi2_or_exact(t, n_permutations=500, seed=1).effect_size


def test_classify_variation_needs_the_effect_beyond_chance():
    assert classify_variation(0.3, 0.01, 0.25, 0.05, True, null=0.35) == "uncertain"
    assert classify_variation(0.3, 0.01, 0.25, 0.05, True, null=0.2) == "considerable"


def test_asymptotic_chance_level_of_corrected_v_matches_permutations_on_a_large_table():
    """The robustness screen of large studies takes V's chance level from the chi-squared
    distribution; on a table the size of a many-authority study it agrees with the permuted one."""
    from cinreport.analysis.stats import cramers_v_null, cramers_v_null_asymptotic

    rng = np.random.default_rng(3)
    table = rng.multinomial(3000, np.full(9 * 40, 1 / 360)).reshape(9, 40) + 1  # no association
    exact = cramers_v_null(table, n_permutations=500, seed=1)
    approx = cramers_v_null_asymptotic(table)
    assert approx > 0
    assert abs(exact - approx) < 0.01, (exact, approx)


def test_asymptotic_screen_never_permutes():
    from cinreport.analysis.stats import chi2_or_exact, kruskal_epsilon

    small = np.array([[1, 2, 0], [3, 0, 2]])
    assert "permutation" in chi2_or_exact(small, n_permutations=50).method
    fast = chi2_or_exact(small, n_permutations=50, asymptotic=True)
    assert fast.method == "Pearson's chi-squared test" and fast.small_expected
    groups = {"a": [1, 2], "b": [3, 4, 5], "c": [6]}
    assert kruskal_epsilon(groups, n_permutations=50, asymptotic=True).method == "Kruskal-Wallis H test"


def test_asymptotic_kruskal_equals_scipy():
    from scipy import stats as st

    from cinreport.analysis.stats import kruskal_epsilon

    rng = np.random.default_rng(5)
    groups = {f"g{i}": rng.integers(0, 30, size=rng.integers(6, 25)).astype(float).tolist() for i in range(30)}
    fast = kruskal_epsilon(groups, asymptotic=True)
    ref = st.kruskal(*groups.values())
    assert fast.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert fast.p_value == pytest.approx(ref.pvalue, rel=1e-9)
