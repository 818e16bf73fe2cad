"""Small statistical helpers used by the measures and findings.

All functions are pure and deterministic: permutation tests draw from
:class:`numpy.random.Generator` objects spawned from the ``seed`` argument, in chunks that do not
depend on the number of cores, so the same inputs always give the same outputs (byte-identical
JSON downstream).

Conventions
-----------
* Missing values (NaN) are dropped before anything is computed.
* "Not testable" situations (an empty table, fewer than two non-empty groups) return NaN
  statistic, p-value and effect size, never an exception; :func:`classify_variation` maps NaN to
  ``"uncertain"``.
* "No variation" situations (every observation in one category, every value identical) return
  statistic 0, p-value 1 and effect size 0.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as _st
from scipy.stats.contingency import association as _association

from cinreport.common.parallel import in_parallel

__all__ = [
    "TestResult",
    "Variation",
    "wilson_interval",
    "cramers_v",
    "chi2_or_exact",
    "cramers_v_null",
    "epsilon_squared_null",
    "kruskal_epsilon",
    "classify_variation",
]

Variation = Literal["considerable", "some", "none", "uncertain"]

#: Expected counts below this make the chi-squared approximation unreliable (Cochran's rule).
MIN_EXPECTED = 5
#: Groups with fewer values than this make the Kruskal-Wallis chi-squared approximation unreliable.
MIN_GROUP_SIZE = 5
#: Upper bound on the number of cells held in memory at once by each thread of a permutation test.
_BATCH_CELLS = 2_000_000
#: Permutations per independently seeded chunk (see :func:`_monte_carlo_hits`).
_CHUNK = 1_000


def _monte_carlo_chunks(batch_fn, n_permutations: int, seed: int, n: int) -> list[list]:
    """``batch_fn(rng, b)`` over ``n_permutations`` permutations, chunked and seeded as
    :func:`_monte_carlo_hits` describes; the results of each chunk's batches, in chunk order."""
    sizes = [min(_CHUNK, n_permutations - start) for start in range(0, n_permutations, _CHUNK)]
    seeds = np.random.SeedSequence(seed).spawn(len(sizes))
    batch = max(1, min(_CHUNK, _BATCH_CELLS // max(n, 1)))

    def chunk(i: int) -> list:
        rng, out, done = np.random.default_rng(seeds[i]), [], 0
        while done < sizes[i]:
            b = min(batch, sizes[i] - done)
            out.append(batch_fn(rng, b))
            done += b
        return out

    return list(in_parallel(chunk, list(range(len(sizes)))))


def _monte_carlo_hits(batch_hits, n_permutations: int, seed: int, n: int) -> int:
    """How many of ``n_permutations`` random permutations give a statistic at least the observed
    one, where ``batch_hits(rng, b)`` draws ``b`` permutations and counts those that do.

    The permutations are drawn in chunks of ``_CHUNK``, each from its own generator spawned from
    ``SeedSequence(seed)``, and the chunks run on a thread per core (NumPy releases the GIL while
    it shuffles). Each chunk's draws depend only on the seed and the chunk's place, so the count
    is the same on any machine whatever its number of cores.
    """
    sizes = [min(_CHUNK, n_permutations - start) for start in range(0, n_permutations, _CHUNK)]
    seeds = np.random.SeedSequence(seed).spawn(len(sizes))
    batch = max(1, min(_CHUNK, _BATCH_CELLS // max(n, 1)))

    def chunk(i: int) -> int:
        rng, hits, done = np.random.default_rng(seeds[i]), 0, 0
        while done < sizes[i]:
            b = min(batch, sizes[i] - done)
            hits += batch_hits(rng, b)
            done += b
        return hits

    return sum(in_parallel(chunk, list(range(len(sizes)))))


@dataclass(frozen=True)
class TestResult:
    """Outcome of a test of difference between groups (e.g. between authorities).

    Attributes
    ----------
    statistic:
        Pearson's chi-squared (uncorrected) for contingency tables — also when the p-value comes
        from Fisher's exact test or a permutation test, so the field is always the same quantity —
        or Kruskal-Wallis H.
    p_value:
        Two-sided p-value from the method named in ``method``.
    method:
        Human-readable description of how the p-value was obtained, suitable for a table note.
    dof:
        Degrees of freedom of the chi-squared reference distribution, or ``None`` when no
        chi-squared reference distribution is involved (Fisher's exact test, untestable data).
    effect_size, effect_name:
        Cramér's V (contingency tables) or epsilon-squared (Kruskal-Wallis).
    n:
        Number of observations used.
    small_expected:
        True when the asymptotic approximation was judged unreliable (an expected count below 5,
        or a Kruskal-Wallis group with fewer than 5 values) and an exact or permutation p-value
        was used instead.
    """

    __test__ = False  # not a pytest test class despite the name

    statistic: float
    p_value: float
    method: str
    dof: int | None
    effect_size: float
    effect_name: str = "Cramér's V"
    n: int = 0
    small_expected: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output; NaN becomes ``None``."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float) and math.isnan(value):
                out[key] = None
        return out


# --------------------------------------------------------------------------------------------
# Descriptive helpers
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def p_band(p: float) -> str:
    """A p-value as a band: exact p-values, with the published margins, can give suppressed cells back."""
    return next((f"p < {b}" for b in (0.001, 0.01, 0.05) if p < b), "p ≥ 0.05")


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``k / n`` (scipy's
    ``binomtest(k, n).proportion_ci(method="wilson")``).

    Preferred over the Wald interval for the small samples of this study (about 20 case files
    per authority): it stays inside [0, 1] and has close to nominal coverage.

    Returns ``(nan, nan)`` when ``n == 0``.

    >>> lo, hi = wilson_interval(8, 20)
    >>> round(lo, 4), round(hi, 4)
    (0.2188, 0.6134)
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    k, n = int(k), int(n)
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return (math.nan, math.nan)
    ci = _st.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


def _clean(values: Iterable[Any]) -> np.ndarray:
    if not isinstance(values, (np.ndarray, pd.Series, list, tuple)):
        values = list(values)
    arr = np.asarray(values, dtype=float).ravel()
    return arr[~np.isnan(arr)]


# --------------------------------------------------------------------------------------------
# Contingency tables
# --------------------------------------------------------------------------------------------


def _as_counts(table: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Validate a contingency table and drop all-zero rows and columns."""
    arr = np.asarray(table, dtype=float)
    if arr.ndim != 2:
        raise ValueError("a contingency table must be two-dimensional")
    if np.isnan(arr).any():
        raise ValueError("contingency table contains missing values")
    if (arr < 0).any() or not np.all(arr == np.round(arr)):
        raise ValueError("contingency table must hold non-negative integer counts")
    arr = arr[arr.sum(axis=1) > 0][:, arr.sum(axis=0) > 0]
    return arr.astype(np.int64)


def _pearson_chi2(obs: np.ndarray) -> float:
    n = obs.sum()
    expected = np.outer(obs.sum(axis=1), obs.sum(axis=0)) / n
    return float(((obs - expected) ** 2 / expected).sum())


def _corrected_v(chi2: np.ndarray | float, n: int, r: int, c: int) -> np.ndarray:
    """Bias-corrected Cramér's V (Bergsma 2013) from Pearson's chi-squared of an ``r`` × ``c`` table of
    ``n`` observations (vectorised over ``chi2``)."""
    phi2 = np.asarray(chi2, dtype=float) / n
    if n <= 1:
        return np.zeros_like(phi2)
    phi2c = np.maximum(0.0, phi2 - (r - 1) * (c - 1) / (n - 1))
    rc = r - (r - 1) ** 2 / (n - 1)
    cc = c - (c - 1) ** 2 / (n - 1)
    denom = min(rc - 1, cc - 1)
    if denom <= 0:
        return np.zeros_like(phi2)
    return np.minimum(1.0, np.sqrt(phi2c / denom))


def cramers_v(table: pd.DataFrame | np.ndarray, bias_correction: bool = False) -> float:
    """Cramér's V for a contingency table (rows = categories, columns = groups).

    ``V = sqrt(chi2 / (n * (min(r, c) - 1)))`` with Pearson's uncorrected chi-squared (scipy's
    ``contingency.association(table, method="cramer")``). With ``bias_correction=True`` the
    bias-corrected estimator of Bergsma (2013, *J. Korean Stat. Soc.* 42:323-328) is used instead,
    which is less inflated in small samples.

    All-zero rows and columns are ignored. A degenerate table (fewer than two non-empty rows or
    columns, or no observations) gives 0.
    """
    obs = _as_counts(table)
    r, c = obs.shape
    n = int(obs.sum())
    if n == 0 or min(r, c) < 2:
        return 0.0
    if bias_correction:
        return float(_corrected_v(_pearson_chi2(obs), n, r, c))
    return float(_association(obs, method="cramer", correction=False))


def _permutation_chi2_p(obs: np.ndarray, n_permutations: int, seed: int) -> float:
    """Monte Carlo p-value of Pearson's chi-squared, permuting group labels of individuals.

    Both margins are fixed under the permutation, so only the cell counts vary.
    """
    r, c = obs.shape
    n = int(obs.sum())
    rows = np.repeat(np.arange(r), obs.sum(axis=1))
    # group label of each individual, in row-major order of the table
    groups = np.concatenate([np.repeat(np.arange(c), obs[i]) for i in range(r)])
    row_tot = obs.sum(axis=1).astype(float)
    col_tot = obs.sum(axis=0).astype(float)
    inv_rc = 1.0 / np.outer(row_tot, col_tot)
    observed = n * (float((obs.astype(float) ** 2 * inv_rc).sum()) - 1.0)
    tol = 1e-9 * max(1.0, abs(observed))
    base = rows * c

    def batch_hits(rng: np.random.Generator, b: int) -> int:
        perm = rng.permuted(np.tile(groups, (b, 1)), axis=1)
        idx = (base[None, :] + perm) + (np.arange(b) * (r * c))[:, None]
        counts = np.bincount(idx.ravel(), minlength=b * r * c).reshape(b, r, c)
        stat = n * ((counts.astype(float) ** 2 * inv_rc).sum(axis=(1, 2)) - 1.0)
        return int((stat >= observed - tol).sum())

    hits = _monte_carlo_hits(batch_hits, n_permutations, seed, n)
    return (hits + 1) / (n_permutations + 1)


def cramers_v_null(table: pd.DataFrame | np.ndarray, n_permutations: int = 10_000, seed: int = 0,
                   quantile: float = 0.95) -> float:
    """What chance alone gives: the ``quantile`` of the bias-corrected Cramér's V over
    ``n_permutations`` permutations of the group labels, with both margins of ``table`` fixed.

    The permutations are drawn exactly as the permutation test's (seeded chunks on threads, the
    same value on any number of cores). A table with fewer than two non-empty rows or columns gives
    0 (no variation is possible); an empty one NaN.
    """
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be in (0, 1), got {quantile!r}")
    if n_permutations < 1:
        raise ValueError("n_permutations must be at least 1")
    obs = _as_counts(table)
    n = int(obs.sum())
    if n == 0:
        return math.nan
    r, c = obs.shape
    if min(r, c) < 2:
        return 0.0
    rows = np.repeat(np.arange(r), obs.sum(axis=1))
    groups = np.concatenate([np.repeat(np.arange(c), obs[i]) for i in range(r)])
    inv_rc = 1.0 / np.outer(obs.sum(axis=1).astype(float), obs.sum(axis=0).astype(float))
    base = rows * c

    def batch_stats(rng: np.random.Generator, b: int) -> np.ndarray:
        perm = rng.permuted(np.tile(groups, (b, 1)), axis=1)
        idx = (base[None, :] + perm) + (np.arange(b) * (r * c))[:, None]
        counts = np.bincount(idx.ravel(), minlength=b * r * c).reshape(b, r, c)
        return n * ((counts.astype(float) ** 2 * inv_rc).sum(axis=(1, 2)) - 1.0)

    chi2 = np.concatenate([a for chunk in _monte_carlo_chunks(batch_stats, n_permutations, seed, n) for a in chunk])
    v = _corrected_v(np.maximum(chi2, 0.0), n, r, c)
    return float(np.quantile(v, quantile, method="higher"))


def cramers_v_null_asymptotic(table: pd.DataFrame | np.ndarray, quantile: float = 0.95) -> float:
    """The bias-corrected Cramér's V that chance alone reaches with probability ``1 - quantile``, from
    the chi-squared distribution of Pearson's statistic (the large-sample counterpart of
    :func:`cramers_v_null`, for robustness screens of large studies)."""
    obs = _as_counts(table)
    r, c = obs.shape
    n = int(obs.sum())
    if n < 2 or min(r, c) < 2:
        return 0.0
    return float(_corrected_v(float(_st.chi2.ppf(quantile, (r - 1) * (c - 1))), n, r, c))


def epsilon_squared_null(n: int, groups: int, quantile: float = 0.95) -> float:
    """The ``quantile`` of Kruskal-Wallis epsilon-squared (``H / (n - 1)``) under no difference between
    ``groups`` groups of ``n`` values in all, from H's chi-squared reference distribution (``groups - 1``
    degrees of freedom); NaN when not testable."""
    if groups < 2 or n < 2:
        return math.nan
    return float(min(1.0, _st.chi2.ppf(quantile, groups - 1) / (n - 1)))


def chi2_or_exact(
    table: pd.DataFrame | np.ndarray, n_permutations: int = 10_000, seed: int = 0,
    bias_correction: bool = False, asymptotic: bool = False,
) -> TestResult:
    """Test of independence between categories (rows) and groups (columns).

    * 2 × 2 tables (after dropping empty rows/columns): Fisher's exact test (two-sided), whatever
      the expected counts — it is exact and cheap.
    * Otherwise, when every expected count is at least 5: Pearson's chi-squared test.
    * Otherwise (some expected count below 5): a Monte Carlo permutation test of Pearson's
      chi-squared — group labels are permuted over the individual observations with a seeded
      generator and ``p = (b + 1) / (B + 1)``, where ``b`` counts permuted statistics at least as
      large as the observed one among ``B = n_permutations``.

    ``asymptotic=True`` uses Pearson's chi-squared distribution whatever the expected counts (a cheap
    screen for robustness re-evaluations of large studies, never for published tests).

    ``statistic`` is always Pearson's (uncorrected) chi-squared and ``effect_size`` Cramér's V,
    bias-corrected (Bergsma 2013) when ``bias_correction`` is True (``effect_name`` then says so).
    Empty tables or tables with fewer than two non-empty groups are not testable (NaN results); tables
    whose observations all fall in one category show no variation (statistic 0, p 1, V 0).
    """
    if n_permutations < 1:
        raise ValueError("n_permutations must be at least 1")
    obs = _as_counts(table)
    n = int(obs.sum())
    if n == 0:
        return TestResult(math.nan, math.nan, "not testable: no observations", None,
                          math.nan, n=0)
    r, c = obs.shape
    if c < 2:
        return TestResult(math.nan, math.nan,
                          "not testable: fewer than two groups with observations", None,
                          math.nan, n=n)
    if r < 2:
        return TestResult(0.0, 1.0, "no variation: all observations in one category",
                          None, 0.0, n=n)
    chi2 = _pearson_chi2(obs)
    v = cramers_v(obs, bias_correction=bias_correction)
    name = "bias-corrected Cramér's V" if bias_correction else "Cramér's V"
    dof = (r - 1) * (c - 1)
    expected = np.outer(obs.sum(axis=1), obs.sum(axis=0)) / n
    small = bool((expected < MIN_EXPECTED).any())
    if r == 2 and c == 2:
        p = float(_st.fisher_exact(obs, alternative="two-sided").pvalue)
        return TestResult(chi2, min(1.0, p), "Fisher's exact test (two-sided)", None, v,
                          effect_name=name, n=n, small_expected=small)
    if not small or asymptotic:
        p = float(_st.chi2.sf(chi2, dof))
        return TestResult(chi2, p, "Pearson's chi-squared test", dof, v, effect_name=name, n=n,
                          small_expected=small)
    p = _permutation_chi2_p(obs, n_permutations, seed)
    method = (f"Monte Carlo permutation test of the chi-squared statistic "
              f"({n_permutations:,} permutations; some expected counts below {MIN_EXPECTED})")
    return TestResult(chi2, p, method, dof, v, effect_name=name, n=n, small_expected=True)


# --------------------------------------------------------------------------------------------
# Kruskal-Wallis
# --------------------------------------------------------------------------------------------


def _h_from_rank_sums(rank_sums: np.ndarray, sizes: np.ndarray, n: int, tie: float) -> np.ndarray:
    h = 12.0 / (n * (n + 1)) * (rank_sums**2 / sizes).sum(axis=-1) - 3.0 * (n + 1)
    return h / tie


def kruskal_epsilon(
    groups: Mapping[str, Sequence[float]], n_permutations: int = 10_000, seed: int = 0,
    asymptotic: bool = False,
) -> TestResult:
    """Kruskal-Wallis H test across groups, with epsilon-squared as effect size.

    ``epsilon² = H / ((n² - 1) / (n + 1)) = H / (n - 1)`` (Tomczak & Tomczak 2014), where ``n``
    is the total number of values; it lies in [0, 1].

    When any group has fewer than 5 values the chi-squared approximation of H is unreliable, so
    the p-value comes from a permutation test of H instead (values permuted across groups with a
    seeded generator, ``p = (b + 1) / (B + 1)``) and ``method`` says so; ``small_expected`` is
    then True.

    NaNs are dropped and groups left empty are ignored. Fewer than two non-empty groups: not
    testable (NaN results). All values identical: statistic 0, p 1, effect 0.
    """
    if n_permutations < 1:
        raise ValueError("n_permutations must be at least 1")
    cleaned = [(name, _clean(vals)) for name, vals in groups.items()]
    cleaned = [(name, vals) for name, vals in cleaned if vals.size > 0]
    n = int(sum(v.size for _, v in cleaned))
    name = "epsilon-squared"
    if len(cleaned) < 2:
        return TestResult(math.nan, math.nan,
                          "not testable: fewer than two groups with values", None,
                          math.nan, effect_name=name, n=n)
    pooled = np.concatenate([v for _, v in cleaned])
    if np.all(pooled == pooled[0]):
        return TestResult(0.0, 1.0, "no variation: all values identical", len(cleaned) - 1,
                          0.0, effect_name=name, n=n)
    sizes = np.array([v.size for _, v in cleaned], dtype=float)
    dof = len(cleaned) - 1
    if asymptotic:  # the screen of a large study: H from ranks directly (scipy's wrapper costs more)
        ranks = _st.rankdata(pooled)
        _, tie_counts = np.unique(pooled, return_counts=True)
        tie = 1.0 - float((tie_counts**3 - tie_counts).sum()) / (n**3 - n)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
        h = float(_h_from_rank_sums(np.add.reduceat(ranks, starts), sizes, n, tie))
        effect = float(min(1.0, max(0.0, h * (n + 1) / (n * n - 1))))
        return TestResult(h, float(_st.chi2.sf(h, dof)), "Kruskal-Wallis H test", dof, effect,
                          effect_name=name, n=n, small_expected=bool((sizes < MIN_GROUP_SIZE).any()))
    res = _st.kruskal(*[v for _, v in cleaned])
    h = float(res.statistic)
    effect = float(min(1.0, max(0.0, h * (n + 1) / (n * n - 1))))
    small = bool((sizes < MIN_GROUP_SIZE).any())
    if not small:
        return TestResult(h, float(res.pvalue), "Kruskal-Wallis H test", dof, effect,
                          effect_name=name, n=n, small_expected=small)

    ranks = _st.rankdata(pooled)
    _, tie_counts = np.unique(pooled, return_counts=True)
    tie = 1.0 - float((tie_counts**3 - tie_counts).sum()) / (n**3 - n)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
    observed = float(_h_from_rank_sums(np.add.reduceat(ranks, starts), sizes, n, tie))
    tol = 1e-9 * max(1.0, abs(observed))

    def batch_hits(rng: np.random.Generator, b: int) -> int:
        perm = rng.permuted(np.tile(ranks, (b, 1)), axis=1)
        stat = _h_from_rank_sums(np.add.reduceat(perm, starts, axis=1), sizes, n, tie)
        return int((stat >= observed - tol).sum())

    hits = _monte_carlo_hits(batch_hits, n_permutations, seed, n)
    p = (hits + 1) / (n_permutations + 1)
    method = (f"Kruskal-Wallis H with permutation p-value ({n_permutations:,} permutations; "
              f"some groups have fewer than {MIN_GROUP_SIZE} values)")
    return TestResult(h, p, method, dof, effect, effect_name=name, n=n, small_expected=True)


# --------------------------------------------------------------------------------------------
# Classification used by the findings
# --------------------------------------------------------------------------------------------


def classify_variation(
    effect: float, p: float, threshold: float, alpha: float, min_n_ok: bool, null: float | None = None
) -> Variation:
    """Classify variation between groups from an effect size and a p-value.

    The rule (thresholds come from ``params/report.yml``), applied in this order:

    1. ``"uncertain"`` — the effect size or p-value is missing (NaN, data not testable), or the
       groups are too small to call (``min_n_ok`` is False). With too few cases neither
       "variation" nor "no variation" can be claimed, so the small-sample caveat wins.
    2. ``"considerable"`` — ``effect >= threshold``, ``effect > null`` (what chance alone gives for a
       table of that shape, e.g. the 95th percentile of the permutation null; ignored when None) and
       ``p < alpha``: a large difference that is unlikely to be chance.
    3. ``"uncertain"`` — ``effect >= threshold`` but ``p >= alpha`` or ``effect <= null``: a large
       observed difference the data cannot distinguish from chance.
    4. ``"some"`` — ``p < alpha`` but ``effect < threshold``: a real but small difference.
    5. ``"none"`` — otherwise (small effect, not significant).

    Effect size, not the p-value alone, decides "considerable".
    """
    if effect is None or p is None or math.isnan(effect) or math.isnan(p) or not min_n_ok:
        return "uncertain"
    beyond_chance = null is None or math.isnan(null) or effect > null
    if effect >= threshold:
        return "considerable" if p < alpha and beyond_chance else "uncertain"
    if p < alpha:
        return "some"
    return "none"
