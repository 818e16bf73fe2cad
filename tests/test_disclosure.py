"""Tests for cinreport.disclosure: suppression rules and that nothing suppressed is recoverable."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cinreport.disclosure import (
    DisclosureWarning,
    SuppressedTable,
    recoverable_cells,
    suppress_counts,
    suppress_percentages,
    suppress_series,
)

THRESHOLD = 5


def frame(data: dict[str, list[int]], index: list[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame(data, index=index)


def with_totals(df: pd.DataFrame, row: bool, col: bool) -> pd.DataFrame:
    out = df.copy()
    if col:
        out["Total"] = out.sum(axis=1)
    if row:
        out.loc["Total"] = out.sum(axis=0)
    return out


# ---------------------------------------------------------------------------------------------
# Unit cases
# ---------------------------------------------------------------------------------------------


def test_single_small_cell_forces_secondary_suppression():
    df = frame({"A": [3, 10, 12], "B": [8, 9, 0], "C": [20, 6, 7]}, ["x", "y", "z"])
    sup = suppress_counts(df)
    assert sup.primary.loc["x", "A"] and sup.primary.to_numpy().sum() == 1
    # the lone small cell must not be the only suppression in its row or column
    assert sup.mask.loc["x"].sum() >= 2
    assert sup.mask["A"].sum() >= 2
    assert recoverable_cells(sup) == []
    shown = sup.display()
    assert shown.loc["x", "A"] == "c"
    assert shown.loc["z", "A"] == "12"


def test_zeros_are_shown_not_suppressed():
    df = frame({"A": [0, 10, 12], "B": [8, 0, 30], "C": [20, 6, 0]})
    sup = suppress_counts(df)
    assert not sup.mask.to_numpy().any()
    assert (sup.display().to_numpy() == df.astype(str).to_numpy()).all()


def test_no_totals_known_means_primary_only():
    df = frame({"A": [3, 10], "B": [8, 9]})
    sup = suppress_counts(df, totals_known=False)
    assert sup.mask.to_numpy().tolist() == [[True, False], [False, False]]
    assert recoverable_cells(sup) == []


def test_total_cells_can_be_suppressed_when_not_known_externally():
    # Row "x" has one non-zero cell: its published total would give it away.
    df = with_totals(frame({"A": [3, 20, 15], "B": [0, 30, 12]}, ["x", "y", "z"]), True, True)
    sup = suppress_counts(df, total_row="Total", total_col="Total", totals_known=False)
    assert sup.mask.loc["x", "A"]
    assert sup.mask.loc["x", "Total"]
    assert recoverable_cells(sup) == []
    assert sup.unprotected == ()


def test_total_cells_never_suppressed_when_totals_known():
    df = with_totals(frame({"A": [3, 20, 15], "B": [6, 30, 12]}, ["x", "y", "z"]), True, True)
    sup = suppress_counts(df, total_row="Total", total_col="Total")
    assert not sup.mask.loc["Total"].any()
    assert not sup.mask["Total"].any()
    assert recoverable_cells(sup) == []


def test_lone_nonzero_cell_protected_by_hiding_a_zero():
    # Row 0 = (3, 0): with the row total known, showing the zero would give the 3 away.
    df = frame({"A": [3, 0, 0], "B": [0, 9, 10], "C": [8, 7, 11]})
    sup = suppress_counts(df)
    assert sup.mask.iloc[0, 0]
    assert recoverable_cells(sup) == []


def test_inherent_disclosure_is_reported():
    # All counts in one column: the known row totals are the cells themselves.
    df = frame({"A": [3, 1, 7], "B": [0, 0, 0]})
    with pytest.warns(DisclosureWarning):
        sup = suppress_counts(df)
    assert set(sup.unprotected) == {(0, "A"), (1, "A")}
    assert set(recoverable_cells(sup)) == set(sup.unprotected)


def test_percentages_of_suppressed_counts_are_symbol():
    df = frame({"A": [3, 10, 12], "B": [8, 9, 0], "C": [20, 6, 7]}, ["x", "y", "z"])
    sup = suppress_counts(df)
    for axis in (0, 1):
        pct = suppress_percentages(sup, axis=axis)
        assert (pct.to_numpy()[sup.mask.to_numpy()] == "c").all()
        assert (pct.to_numpy()[~sup.mask.to_numpy()] != "c").all()
    pct = suppress_percentages(sup, axis=0, decimals=1)
    assert pct.loc["z", "A"] == f"{100 * 12 / 25:.1f}"
    assert suppress_percentages(sup, axis=0, symbol="x").loc["x", "A"] == "x"


def test_percentages_hidden_when_line_total_suppressed_or_unknown():
    df = with_totals(frame({"A": [3, 20, 15], "B": [0, 30, 12]}, ["x", "y", "z"]), True, True)
    sup = suppress_counts(df, total_row="Total", total_col="Total", totals_known=False)
    pct = suppress_percentages(sup, axis=1)
    assert (pct.loc["x"] == "c").all()  # row x's total is suppressed
    # no totals shown or known: published shares would reveal the total
    sup2 = suppress_counts(frame({"A": [3, 10], "B": [8, 9]}), totals_known=False)
    pct2 = suppress_percentages(sup2, axis=0)
    assert (pct2["A"] == "c").all()
    assert (pct2["B"] != "c").all()


def test_percentages_of_empty_line_are_not_applicable():
    sup = suppress_counts(frame({"A": [0, 0], "B": [10, 20]}))
    pct = suppress_percentages(sup, axis=0)
    assert (pct["A"] == "z").all()
    assert pct["B"].tolist() == ["33", "67"]


def test_display_uses_thousands_separators():
    sup = suppress_counts(frame({"A": [1234, 5678], "B": [10, 1000000]}))
    assert sup.display().loc[1, "B"] == "1,000,000"


def test_suppress_series():
    s = pd.Series([3, 10, 12, 0], index=list("abcd"), name="children")
    sup = suppress_series(s)
    assert isinstance(sup, SuppressedTable)
    assert list(sup.mask["children"]) == [True, True, False, False]
    assert recoverable_cells(sup) == []
    unknown_total = suppress_series(s, total_known=False)
    assert list(unknown_total.mask["children"]) == [True, False, False, False]


@pytest.mark.parametrize(
    "bad",
    [frame({"A": [-1, 2]}), frame({"A": [1.5, 2]}), frame({"A": [np.nan, 2]})],
)
def test_invalid_counts_rejected(bad):
    with pytest.raises(ValueError):
        suppress_counts(bad)


def test_wrong_totals_rejected():
    df = with_totals(frame({"A": [3, 20], "B": [6, 30]}), True, True)
    df.loc["Total", "A"] = 99
    with pytest.raises(ValueError, match="total"):
        suppress_counts(df, total_row="Total", total_col="Total")


def test_deterministic():
    df = frame({"A": [3, 10, 12, 4], "B": [8, 9, 0, 2], "C": [20, 6, 7, 1]})
    a, b = suppress_counts(df), suppress_counts(df)
    assert a.mask.equals(b.mask)


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------


@st.composite
def count_tables(draw):
    n_rows = draw(st.integers(1, 6))
    n_cols = draw(st.integers(1, 5))
    cells = draw(st.lists(st.lists(st.integers(0, 30), min_size=n_cols, max_size=n_cols),
                          min_size=n_rows, max_size=n_rows))
    df = pd.DataFrame(cells, index=[f"r{i}" for i in range(n_rows)],
                      columns=[f"g{j}" for j in range(n_cols)])
    total_row = draw(st.booleans())
    total_col = draw(st.booleans())
    totals_known = draw(st.booleans())
    return df, total_row, total_col, totals_known


def run(df, total_row, total_col, totals_known) -> SuppressedTable:
    full = with_totals(df, total_row, total_col)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DisclosureWarning)
        return suppress_counts(full, threshold=THRESHOLD,
                               total_row="Total" if total_row else None,
                               total_col="Total" if total_col else None,
                               totals_known=totals_known)


def inherently_disclosed(df: pd.DataFrame, totals_known: bool) -> set:
    """Independent oracle: cells implied by known totals even if every cell were hidden.

    With all row and column sums known (two or more rows and columns), the Fréchet bounds
    max(0, r + c - N) <= x <= min(r, c) are sharp, so a non-zero cell is pinned exactly when all
    non-zero counts lie in a single row or a single column.
    """
    if not totals_known or min(df.shape) < 2:
        return set()
    arr = df.to_numpy()
    if (arr.sum(axis=1) > 0).sum() == 1 or (arr.sum(axis=0) > 0).sum() == 1:
        return {(df.index[i], df.columns[j]) for i, j in zip(*np.nonzero(arr))}
    return set()


def line_attack(sup: SuppressedTable) -> set:
    """Independent, naive attacker: a line with a known total and one unknown cell gives it away.

    Lines: each row and column of the full table (with its total cell or its externally known
    sum), plus the total row/column against the grand total. Iterates to a fixed point.
    """
    vals = sup.values.to_numpy().astype(float)
    known = ~sup.mask.to_numpy()
    nr, nc = vals.shape
    tr = sup.values.index.get_loc(sup.total_row) if sup.total_row is not None else None
    tc = sup.values.columns.get_loc(sup.total_col) if sup.total_col is not None else None
    rows = [i for i in range(nr) if i != tr]
    cols = [j for j in range(nc) if j != tc]
    grand = vals[np.ix_(rows, cols)].sum()
    lines = []  # (cells, total cell or None, external total or None)
    for i in rows:
        ext = vals[i, cols].sum() if sup.totals_known and len(cols) >= 2 else None
        lines.append(([(i, j) for j in cols], (i, tc) if tc is not None else None, ext))
    for j in cols:
        ext = vals[rows, j].sum() if sup.totals_known and len(rows) >= 2 else None
        lines.append(([(i, j) for i in rows], (tr, j) if tr is not None else None, ext))
    g_ext = grand if sup.totals_known and len(rows) * len(cols) >= 2 else None
    corner = (tr, tc) if tr is not None and tc is not None else None
    if tr is not None:
        lines.append(([(tr, j) for j in cols], corner, g_ext))
    if tc is not None:
        lines.append(([(i, tc) for i in rows], corner, g_ext))
    recovered = set()
    changed = True
    while changed:
        changed = False
        for cells, total, ext in lines:
            members = list(cells) + ([total] if total is not None else [])
            total_known = ext is not None or (total is not None and known[total])
            if not total_known:
                continue
            unknown = [c for c in members if not known[c]]
            if len(unknown) == 1:
                known[unknown[0]] = True
                recovered.add(unknown[0])
                changed = True
    return {(sup.values.index[i], sup.values.columns[j]) for i, j in recovered}





PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(count_tables())
def test_no_suppressed_count_can_be_recovered(case):
    df, total_row, total_col, totals_known = case
    sup = run(df, total_row, total_col, totals_known)
    recovered = set(recoverable_cells(sup))
    assert recovered == set(sup.unprotected)
    assert recovered <= inherently_disclosed(df, totals_known)
    assert line_attack(sup) <= set(sup.unprotected)


@PROPS
@given(count_tables())
def test_every_small_count_is_suppressed_and_zeros_are_not_primary(case):
    df, total_row, total_col, totals_known = case
    sup = run(df, total_row, total_col, totals_known)
    vals = sup.values.to_numpy()
    mask = sup.mask.to_numpy()
    primary = sup.primary.to_numpy()
    interior = np.ones(vals.shape, dtype=bool)
    if total_row:
        interior[-1, :] = False
    if total_col:
        interior[:, -1] = False
    small = (vals > 0) & (vals < THRESHOLD)
    assert mask[small & interior].all()
    if not totals_known:  # published totals are ordinary cells then
        assert mask[small].all()
    assert not primary[vals == 0].any()
    assert not primary[vals >= THRESHOLD].any()
    assert (mask | ~primary).all()


@PROPS
@given(count_tables())
def test_secondary_suppressions_are_never_alone_in_their_lines(case):
    df, total_row, total_col, totals_known = case
    sup = run(df, total_row, total_col, totals_known)
    vals = sup.values.to_numpy()
    mask = sup.mask.to_numpy()
    for i, j in zip(*np.nonzero(mask & ((vals >= THRESHOLD) | (vals == 0)))):
        assert mask[i, :].sum() >= 2 or mask[:, j].sum() >= 2


@PROPS
@given(count_tables(), st.sampled_from([0, 1]))
def test_percentages_never_show_a_suppressed_count(case, axis):
    df, total_row, total_col, totals_known = case
    sup = run(df, total_row, total_col, totals_known)
    pct = suppress_percentages(sup, axis=axis).to_numpy()
    assert (pct[sup.mask.to_numpy()] == "c").all()


@settings(max_examples=200, deadline=None)
@given(count_tables(), st.data())
def test_graph_attacker_agrees_with_linear_programming(case, data):
    """The fast attacker (residual-graph cycles) against linear algebra + LP bounds."""
    from cinreport import disclosure as d

    df, total_row, total_col, totals_known = case
    full = with_totals(df, total_row, total_col)
    struct = d._structure(full.to_numpy(), len(df) if total_row else None,
                          df.shape[1] if total_col else None, totals_known)
    cells = sorted(struct.suppressible)
    hidden = data.draw(st.lists(st.booleans(), min_size=len(cells), max_size=len(cells)))
    mask = np.zeros(full.shape, dtype=bool)
    for cell, h in zip(cells, hidden):
        mask[cell] = h
    assert struct.line_sign is not None
    assert d._determined(struct, mask) == d._determined_algebraic(struct, mask)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 2), st.integers(1, 3), st.booleans(), st.booleans(), st.booleans(), st.data()
)
def test_attacker_agrees_with_brute_force(n_rows, n_cols, total_row, total_col, known, data):
    """Enumerate every non-negative integer completion of small tables.

    A cell that is not pinned can move by one unit round a cycle, so searching values in
    0..max+1 is enough to decide whether it is pinned.
    """
    from itertools import product

    from cinreport import disclosure as d

    cells = data.draw(st.lists(st.integers(0, 6), min_size=n_rows * n_cols,
                               max_size=n_rows * n_cols))
    df = pd.DataFrame(np.array(cells).reshape(n_rows, n_cols))
    full = with_totals(df, total_row, total_col)
    values = full.to_numpy()
    struct = d._structure(values, n_rows if total_row else None,
                          n_cols if total_col else None, known)
    candidates = sorted(struct.suppressible)
    hidden = data.draw(st.lists(st.sampled_from(candidates), max_size=4, unique=True))
    mask = np.zeros(values.shape, dtype=bool)
    for cell in hidden:
        mask[cell] = True
    unknown = sorted(hidden)
    box = np.array(list(product(range(int(values.max()) + 2), repeat=len(unknown))))
    ok = np.ones(len(box), dtype=bool)
    for line in struct.lines:
        total = np.zeros(len(box), dtype=int)
        for cell, coef in line.members:
            total += coef * (box[:, unknown.index(cell)] if mask[cell] else values[cell])
        ok &= total == line.const
    solutions = box[ok]
    assert len(solutions) >= 1  # the truth
    pinned = [c for k, c in enumerate(unknown) if len(np.unique(solutions[:, k])) == 1]
    assert d._determined(struct, mask) == pinned


def test_a_small_total_is_suppressed_and_its_column_protected():
    from cinreport.tables import publish_counts

    counts = pd.DataFrame({"A": [1, 3], "B": [12, 11]}, index=["x", "y"])   # A's total is 4
    pub = publish_counts(counts, 5)
    assert pub.counts.loc["Total", "A"] == "c"
    assert pub.counts.loc["Total", "B"] == "23"
    assert (pub.counts["A"] == "c").all() and (pub.percent["A"] == "c").all()


def test_markdown_table_right_aligns_only_number_columns():
    from cinreport.tables import markdown_table

    frame = pd.DataFrame({"n": ["1,234", "c"], "share": ["45% (26% to 66%)", "z"], "range": ["1.0% to 2.5%", "x"],
                          "meaning": ["text", "more text 2"]}, index=["a", "b"])
    rule = markdown_table(frame).splitlines()[1]
    assert rule == "|:---|---:|---:|---:|:---|"


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 7), st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=14))
def test_bridges_are_the_edges_whose_removal_disconnects_their_ends(n_nodes, pairs):
    from cinreport import disclosure as d

    edges = [(u % n_nodes, v % n_nodes) for u, v in pairs if u % n_nodes != v % n_nodes]

    def connected(a, b, without):
        seen, stack = {a}, [a]
        while stack:
            node = stack.pop()
            for i, (u, v) in enumerate(edges):
                if i != without and node in (u, v):
                    nxt = v if node == u else u
                    if nxt not in seen:
                        seen.add(nxt)
                        stack.append(nxt)
        return b in seen

    expected = {i for i, (u, v) in enumerate(edges) if not connected(u, v, i)}
    assert d._bridges(n_nodes, edges) == expected


@pytest.mark.parametrize("seed", range(6))
def test_graph_attacker_agrees_with_linear_programming_on_wide_tables(seed):
    """Tables shaped like the study's at many authorities (categories × 40 authorities, many small
    and zero counts, a total row): the attacker's shortcuts give the exact answer."""
    from cinreport import disclosure as d

    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.choice([0, 0, 1, 2, 3, 6, 9, 15], size=(6, 40)))
    full = with_totals(df, True, False)
    struct = d._structure(full.to_numpy(), len(df), None, True)
    cells = sorted(struct.suppressible)
    for share in (0.2, 0.5, 0.8):
        mask = np.zeros(full.shape, dtype=bool)
        for cell in cells:
            mask[cell] = rng.random() < share
        assert d._determined(struct, mask) == d._determined_algebraic(struct, mask)
