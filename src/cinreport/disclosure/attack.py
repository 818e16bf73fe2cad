"""The exact attacker over everything a build publishes.

The attacker knows what any reader knows: every number the report shows, that every suppressed
value is a whole number and (because true zeros are shown as 0) at least 1, that counts are never
negative, and how published numbers overlap (every number is a sum of *atoms*, the finest counts;
see :mod:`cinreport.disclosure.publication`). Each published number, shown or suppressed, is one linear
constraint over the atoms. The question for every protected quantity (a suppressed number, a small
atom, the complement ``n - k`` of a share) is whether it takes the same value in every non-negative
integer solution of those constraints: then it is *determined* and the publication discloses it.

This is decided exactly with mixed-integer programming (HiGHS through :func:`scipy.optimize.milp`),
one connected group of constraints at a time: a few solutions with random objectives settle most
quantities (any quantity that differs between two solutions is not determined); for the rest, the
smallest and largest values it can take are computed. A quantity is determined iff they are equal.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array

Terms = dict[Any, int]  # variable (any hashable) -> coefficient
K = TypeVar("K", bound=Hashable)  # the key of an item


@dataclass(frozen=True)
class Constraint:
    """``lower <= sum(coef * x) <= upper`` (``upper`` None: no upper bound)."""

    terms: Terms
    lower: float
    upper: float | None


def _components(variables: Sequence[Hashable], constraints: Sequence[Constraint]) -> dict[Hashable, int]:
    parent = {v: v for v in variables}

    def find(v):
        while parent[v] != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    for c in constraints:
        it = iter(c.terms)
        first = next(it, None)
        for v in it:
            a, b = find(first), find(v)
            if a != b:
                parent[a] = b
    return {v: find(v) for v in variables}


def _matrix(rows: Sequence[Terms], index: dict[Hashable, int]) -> csr_array:
    """The rows' coefficients as a sparse matrix, built straight in CSR form (a row's variables are distinct)."""
    data: list[float] = []
    ci: list[int] = []
    indptr = [0]
    for terms in rows:
        data += terms.values()
        ci += (index[v] for v in terms)
        indptr.append(len(ci))
    return csr_array((np.asarray(data, dtype=float), np.asarray(ci, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
                     shape=(len(rows), len(index)))


def _same(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    """Equal as whole numbers (the values here are sums of whole counts with whole coefficients)."""
    return np.abs(a - b) < 1e-6


def determined(truth: dict[Hashable, int], constraints: Sequence[Constraint], items: Mapping[K, Terms],
               upper: dict[Hashable, int] | None = None, samples: int = 3, seed: int = 0) -> list[K]:
    """The items (linear forms over the variables of ``truth``) that take one value only over every
    non-negative integer solution of ``constraints``. ``truth`` must satisfy the constraints; it is
    used to start from and to give each item its value. ``upper`` bounds variables (default none)."""
    variables = list(truth)
    comp = _components(variables, list(constraints) + [Constraint(t, 0, 0) for t in items.values()])
    by_comp: dict[Hashable, list[Hashable]] = {}
    for v in variables:
        by_comp.setdefault(comp[v], []).append(v)
    cons_of: dict[Hashable, list[Constraint]] = {}
    for c in constraints:
        if c.terms:
            cons_of.setdefault(comp[next(iter(c.terms))], []).append(c)
    items_of: dict[Hashable, list[K]] = {}
    for key, terms in items.items():
        if terms:
            items_of.setdefault(comp[next(iter(terms))], []).append(key)
    rng = np.random.default_rng(seed)
    out: list[K] = []
    for root, keys in items_of.items():
        out += _determined_in(by_comp[root], cons_of.get(root, []), {k: items[k] for k in keys}, truth,
                              upper or {}, samples, rng)
    return out


class _Model:
    """One component's constraints in HiGHS, kept between solves (only the objective changes, and the
    simplex starts from the last basis): an LP whose optimal vertex is used when it is integral, the
    usual case since most constraint sets here are network-like; otherwise the MILP."""

    def __init__(self, A: csr_array, lo: np.ndarray, up: np.ndarray, hi: np.ndarray):
        import highspy

        self.n = A.shape[1]
        self.A, self.lo, self.up, self.hi = A, lo, up, hi
        self.h = highspy.Highs()
        self.h.setOptionValue("output_flag", False)
        inf = highspy.kHighsInf
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.n, A.shape[0]
        lp.col_cost_ = np.zeros(self.n)
        lp.col_lower_ = np.zeros(self.n)
        lp.col_upper_ = np.where(np.isinf(hi), inf, hi)
        lp.row_lower_ = lo
        lp.row_upper_ = np.where(np.isinf(up), inf, up)
        csc = A.tocsc()
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
        lp.a_matrix_.index_ = csc.indices.astype(np.int32)
        lp.a_matrix_.value_ = csc.data.astype(float)
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = self.n, A.shape[0]
        self.h.passModel(lp)
        self.cols = np.arange(self.n, dtype=np.int32)
        self.optimal = highspy.HighsModelStatus.kOptimal

    def solve(self, c: np.ndarray) -> np.ndarray | None:
        self.h.changeColsCost(self.n, self.cols, np.asarray(c, dtype=float))
        self.h.run()
        if self.h.getModelStatus() != self.optimal:
            return None
        x = np.asarray(self.h.getSolution().col_value)
        rounded = np.round(x)
        if not x.size or np.abs(x - rounded).max() <= 1e-7:
            return rounded
        res = milp(c, integrality=np.ones(self.n), bounds=Bounds(np.zeros(self.n), self.hi),
                   constraints=[LinearConstraint(self.A, self.lo, self.up)], options={"disp": False})
        return None if res.x is None else np.round(res.x)


def _determined_in(variables, constraints, items, truth, upper, samples, rng) -> list:
    index = {v: i for i, v in enumerate(variables)}
    n = len(variables)
    x0 = np.array([truth[v] for v in variables], dtype=float)
    hi = np.array([upper.get(v, np.inf) for v in variables], dtype=float)
    A = _matrix([c.terms for c in constraints], index)
    lo = np.array([c.lower for c in constraints], dtype=float)
    up = np.array([np.inf if c.upper is None else c.upper for c in constraints], dtype=float)
    model = _Model(A, lo, up, hi)
    solve = model.solve
    M = _matrix(list(items.values()), index)
    keys = list(items)
    value = M @ x0
    open_ = np.ones(len(keys), dtype=bool)  # still possibly determined

    def settle(x: np.ndarray | None) -> None:
        if x is not None:
            open_[:] &= _same(M @ x, value)

    for _ in range(samples):  # random directions settle most items
        c = rng.standard_normal(n)
        settle(solve(c))
        settle(solve(-c))
        if not open_.any():
            return []
    while open_.sum() > 1:  # push the open items all at once, up and down, while that settles some
        before = open_.sum()
        w = np.zeros(len(keys))
        w[open_] = rng.uniform(0.5, 1.5, open_.sum())
        direction = w @ M
        settle(solve(-direction))
        settle(solve(direction))
        if open_.sum() == before:
            break
    out = []
    for i in np.nonzero(open_)[0]:
        row = np.zeros(n)
        for v, coef in items[keys[i]].items():
            row[index[v]] = coef
        varies = False
        for sign in (1, -1):
            x = solve(sign * row)
            if x is not None and not _same(row @ x, value[i]):
                varies = True
                break
        if not varies:
            out.append(keys[i])
    return out


def nearest(truth: dict[Hashable, int], constraints: Sequence[Constraint], item: Terms, delta: int,
            upper: dict[Hashable, int] | None = None) -> dict[Hashable, int] | None:
    """The whole-number solution of ``constraints`` closest to ``truth`` (fewest units moved) in which
    ``item`` is ``delta`` away from its true value; None if there is none."""
    variables = sorted({v for c in constraints for v in c.terms} | set(item), key=str)
    index = {v: i for i, v in enumerate(variables)}
    n = len(variables)
    x0 = np.array([truth[v] for v in variables], dtype=float)
    hi = np.array([(upper or {}).get(v, np.inf) for v in variables], dtype=float)
    A = _matrix([c.terms for c in constraints] + [item], index)
    base = A @ x0
    lo = np.array([c.lower for c in constraints] + [base[-1] + delta], dtype=float) - base
    up = np.array([np.inf if c.upper is None else c.upper for c in constraints] + [base[-1] + delta],
                  dtype=float) - base
    from scipy.sparse import hstack

    B = hstack([A, -A]).tocsr()  # x = x0 + p - q
    bounds_hi = np.concatenate([hi - x0, x0])
    res = milp(np.ones(2 * n), integrality=np.ones(2 * n), bounds=Bounds(np.zeros(2 * n), bounds_hi),
               constraints=[LinearConstraint(B, lo, up)], options={"disp": False})
    if res.x is None:
        return None
    x = x0 + np.round(res.x[:n]) - np.round(res.x[n:])
    return {v: int(x[i]) for v, i in index.items()}
