"""Statistical disclosure control for published count tables.

Every table of counts in the report goes through :func:`suppress_counts` (or
:func:`suppress_series` for a single distribution), following Department for Education practice:

Primary suppression
    A cell with ``0 < count < threshold`` (default 5) is suppressed and shown as ``c``.
    **True zeros are shown**, as DfE does: "no child" is not a disclosure about a child, and
    hiding zeros would make the tables much harder to read.

Secondary suppression
    A reader who knows a line's total (published in the table, or known from elsewhere, see
    ``totals_known``) could recover a lone suppressed cell by subtraction. So whenever a row or
    column with a known total contains exactly one suppressed cell, one more cell of that line is
    suppressed: the smallest non-zero published count (ties: a cell whose crossing line already
    has a suppression, then the first in table order); failing that, the line's total cell if it
    is suppressible; failing that, a zero whose crossing lines have non-zero totals. This is
    repeated to a fixed point, because a secondary suppression can leave a lone suppressed cell
    in the crossing line.

Verification (why the result is safe, not just plausible)
    Line-by-line rules miss some patterns, so the result is then attacked. The attacker knows
    every published cell, every known total, that each line sums to its total and that counts
    are non-negative integers (no other bounds). :func:`recoverable_cells` finds, exactly, every
    suppressed cell whose value is the same in all such solutions: the lines form the nodes and
    the suppressed cells the arcs of a network, and a cell can take another value iff it lies on
    a cycle of the residual graph (zeros cannot decrease). The tests check this against linear
    algebra plus linear-programming bounds and against brute-force enumeration. While a non-zero
    suppressed cell is recoverable, one more cell in one of its lines is suppressed and the
    check repeats (if that gets stuck, every cell is hidden and the next step thins it out).
    A suppressed zero that the attacker can pin down is shown again: showing it reveals nothing
    the reader could not already work out.

Thinning
    Finally each secondary suppression is tried published again — zeros first, then the largest
    counts — and stays published if no non-zero suppressed count becomes recoverable. So the
    pattern is irreducible: every secondary suppression left is needed.

Inherent disclosure
    When totals are known externally, some tables cannot be protected by suppression at all:
    e.g. if every non-zero count sits in one column, each row total *is* that column's cell. Such
    cells are listed in :attr:`SuppressedTable.unprotected` and a :class:`DisclosureWarning` is
    emitted; the caller must then aggregate categories or stop treating the totals as published.

What counts as a known total
    * If the table has a total row/column (``total_row`` / ``total_col``), its cells are published
      totals. They are never primary-suppressed when ``totals_known`` is True (they are known
      anyway); when it is False they are ordinary cells that may be suppressed (primary when
      small, secondary when needed).
    * ``totals_known=True`` (the default, the safe assumption) means every row sum, column sum
      and the grand total are known to the reader even if the table does not show them (e.g. the
      number of case files per authority is published elsewhere).
    * A line with a single cell has no total separate from that cell, so ``totals_known`` does
      not apply to it (otherwise a one-column table would be fully disclosed by definition).
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import linprog  # reference attacker only

__all__ = [
    "DisclosureWarning",
    "SuppressedTable",
    "suppress_counts",
    "suppress_series",
    "suppress_percentages",
    "recoverable_cells",
]

Cell = tuple[int, int]  # (row position, column position) in the full table


class DisclosureWarning(UserWarning):
    """A table discloses small counts that suppression cannot protect."""


# --------------------------------------------------------------------------------------------
# Result type
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SuppressedTable:
    """A count table with its suppression pattern.

    Attributes
    ----------
    values:
        The original counts (int64), including any total row/column.
    mask:
        Boolean frame of the same shape; True = suppressed (shown as the symbol).
    primary:
        True where the cell was suppressed because ``0 < count < threshold``.
    threshold, symbol, total_row, total_col, totals_known:
        The settings used.
    unprotected:
        Suppressed cells (row label, column label) whose value is nevertheless implied by the
        known totals whatever is suppressed (inherent disclosure; see the module docstring).
        Empty for every protectable table.
    """

    values: pd.DataFrame
    mask: pd.DataFrame
    primary: pd.DataFrame
    threshold: int = 5
    symbol: str = "c"
    total_row: Hashable | None = None
    total_col: Hashable | None = None
    totals_known: bool = True
    unprotected: tuple[tuple[Hashable, Hashable], ...] = field(default=())

    @property
    def n_suppressed(self) -> int:
        """Number of suppressed cells."""
        return int(self.mask.to_numpy().sum())

    def display(self, symbol: str | None = None) -> pd.DataFrame:
        """The table for publication: counts with thousands separators, suppressed as symbol."""
        sym = self.symbol if symbol is None else symbol
        vals = self.values.to_numpy()
        mask = self.mask.to_numpy()
        out = [[sym if mask[i, j] else f"{int(vals[i, j]):,}" for j in range(vals.shape[1])]
               for i in range(vals.shape[0])]
        return pd.DataFrame(out, index=self.values.index, columns=self.values.columns,
                            dtype=object)


# --------------------------------------------------------------------------------------------
# The constraint structure of a table
# --------------------------------------------------------------------------------------------


@dataclass
class _Line:
    """One linear constraint ``sum(coef * x) == const`` over the suppressible cells."""

    name: str
    members: list[tuple[Cell, int]]  # suppressible cells only
    const: int
    total_cell: Cell | None  # the line's total, if it is a suppressible member
    line_sum: int  # true sum of the line's non-total cells


@dataclass
class _Structure:
    values: np.ndarray
    rows: list[int]  # interior row positions
    cols: list[int]  # interior column positions
    tr: int | None
    tc: int | None
    suppressible: set[Cell]
    lines: list[_Line]
    lines_of: dict[Cell, list[int]]
    row_known: bool  # interior row sums known externally
    col_known: bool
    grand_known: bool
    line_sign: list[int] | None  # network orientation of each line, None if there is none


def _structure(values: np.ndarray, tr: int | None, tc: int | None,
               totals_known: bool) -> _Structure:
    nr, nc = values.shape
    rows = [i for i in range(nr) if i != tr]
    cols = [j for j in range(nc) if j != tc]
    row_known = totals_known and len(cols) >= 2
    col_known = totals_known and len(rows) >= 2
    grand_known = totals_known and len(rows) * len(cols) >= 2

    suppressible: set[Cell] = {(i, j) for i in rows for j in cols}
    if tc is not None and not row_known:
        suppressible |= {(i, tc) for i in rows}
    if tr is not None and not col_known:
        suppressible |= {(tr, j) for j in cols}
    if tr is not None and tc is not None and not grand_known:
        suppressible.add((tr, tc))

    lines: list[_Line] = []

    def add(name: str, parts: list[Cell], total: Cell | None, external: int | None) -> None:
        """Constraint sum(parts) == total cell, or == external constant."""
        terms = [(c, 1) for c in parts]
        const = 0
        if total is not None:
            terms.append((total, -1))
        elif external is not None:
            const = external
        else:
            return
        members = []
        for cell, coef in terms:
            if cell in suppressible:
                members.append((cell, coef))
            else:
                const -= coef * int(values[cell])
        if members:
            total_member = total if total is not None and total in suppressible else None
            lines.append(_Line(name, members, const, total_member,
                               int(sum(values[c] for c in parts))))

    for i in rows:
        parts = [(i, j) for j in cols]
        if row_known:
            add(f"row {i}", parts, None, int(values[i, cols].sum()))
        elif tc is not None:
            add(f"row {i}", parts, (i, tc), None)
    for j in cols:
        parts = [(i, j) for i in rows]
        if col_known:
            add(f"col {j}", parts, None, int(values[rows, j].sum()))
        elif tr is not None:
            add(f"col {j}", parts, (tr, j), None)
    grand = int(values[np.ix_(rows, cols)].sum())
    corner = (tr, tc) if tr is not None and tc is not None else None
    if tr is not None:
        parts = [(tr, j) for j in cols]
        if corner is not None:
            add("total row", parts, corner, None)
        elif grand_known:
            add("total row", parts, None, grand)
    if tc is not None:
        parts = [(i, tc) for i in rows]
        if corner is not None:
            add("total col", parts, corner, None)
        elif grand_known:
            add("total col", parts, None, grand)

    lines_of: dict[Cell, list[int]] = {c: [] for c in suppressible}
    for k, line in enumerate(lines):
        for cell, _ in line.members:
            lines_of[cell].append(k)
    return _Structure(values, rows, cols, tr, tc, suppressible, lines, lines_of,
                      row_known, col_known, grand_known, _orient(lines, lines_of))


def _orient(lines: list[_Line], lines_of: dict[Cell, list[int]]) -> list[int] | None:
    """Signs s_L making the constraint matrix a node-arc incidence matrix.

    Every cell lies in at most two lines. Scaling each line by s_L = ±1 so that a cell in two
    lines gets +1 in one and -1 in the other turns the cells into arcs of a directed graph
    (lines are nodes). For a two-way table with any mix of total cells this is always possible
    (rows and the total-column line on one side, columns and the total-row line on the other);
    None is returned if it is not, and the algebraic attacker is used instead.
    """
    coef = [{cell: c for cell, c in line.members} for line in lines]
    sign: list[int | None] = [None] * len(lines)
    for start in range(len(lines)):
        if sign[start] is not None:
            continue
        sign[start] = 1
        stack = [start]
        while stack:
            k = stack.pop()
            for cell in coef[k]:
                if len(lines_of[cell]) > 2:
                    return None
                for m in lines_of[cell]:
                    if m == k:
                        continue
                    want = -sign[k] * coef[k][cell] * coef[m][cell]
                    if sign[m] is None:
                        sign[m] = want
                        stack.append(m)
                    elif sign[m] != want:
                        return None
    return [int(x) for x in sign]  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# The attacker
# --------------------------------------------------------------------------------------------


def _bridges(n_nodes: int, edges: list[tuple[int, int]]) -> set[int]:
    """Indices of the edges that are bridges of an undirected multigraph (Tarjan's low-link,
    iterative): edges whose removal disconnects their two ends. Parallel edges are never bridges."""
    adjacent: list[list[tuple[int, int]]] = [[] for _ in range(n_nodes)]
    for i, (u, v) in enumerate(edges):
        adjacent[u].append((v, i))
        adjacent[v].append((u, i))
    order = [-1] * n_nodes
    low = [0] * n_nodes
    found: set[int] = set()
    clock = 0
    for root in range(n_nodes):
        if order[root] != -1:
            continue
        order[root] = low[root] = clock
        clock += 1
        stack = [(root, -1, iter(adjacent[root]))]
        while stack:
            node, via, neighbours = stack[-1]
            for nxt, i in neighbours:
                if i == via:
                    continue
                if order[nxt] == -1:
                    order[nxt] = low[nxt] = clock
                    clock += 1
                    stack.append((nxt, i, iter(adjacent[nxt])))
                    break
                low[node] = min(low[node], order[nxt])
            else:
                stack.pop()
                if stack:
                    parent = stack[-1][0]
                    low[parent] = min(low[parent], low[node])
                    if low[node] > order[parent]:
                        found.add(via)
    return found


def _determined(st: _Structure, mask: np.ndarray) -> list[Cell]:
    """Suppressed cells whose value every non-negative integer solution shares (exact).

    With the lines as nodes and the suppressed cells as arcs (see :func:`_orient`; a cell in
    only one line is an arc to a free "ground" node), the solutions differ from the published
    truth by circulations. A suppressed cell can take another value iff it lies on a cycle of
    the residual graph: every arc can carry more flow, but only arcs with a non-zero count can
    carry less (counts cannot go below 0). A unit of flow round such a cycle gives another
    non-negative integer solution; conversely, by conformal decomposition, any other solution
    changing the cell contains such a cycle.
    """
    if st.line_sign is None:
        return _determined_algebraic(st, mask)
    unknown = sorted(c for c in st.suppressible if mask[c])
    ground = len(st.lines)
    arcs: dict[Cell, tuple[int, int]] = {}
    for cell in unknown:
        ends = st.lines_of[cell]
        if not ends:
            continue  # in no constraint at all: free
        tail = head = ground
        for k in ends:
            c = next(c for m, c in st.lines[k].members if m == cell) * st.line_sign[k]
            if c > 0:
                tail = k
            else:
                head = k
        arcs[cell] = (tail, head)
    adjacency: dict[int, list[tuple[int, Cell]]] = {}
    for cell, (tail, head) in arcs.items():
        adjacency.setdefault(tail, []).append((head, cell))  # more flow: always possible
        if st.values[cell] > 0:
            adjacency.setdefault(head, []).append((tail, cell))  # less flow

    def reaches(src: int, dst: int, skip: Cell) -> bool:
        seen = {src}
        stack = [src]
        while stack:
            node = stack.pop()
            if node == dst:
                return True
            for nxt, cell in adjacency.get(node, ()):
                if cell != skip and nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return False

    # Most cells are settled without a search, by bridges of the graph taken as undirected (each
    # cell one edge): a bridge of all the cells joins two parts no other path joins, so no cycle
    # runs through it (pinned); a non-zero cell that is not a bridge of the non-zero cells lies on
    # a cycle of cells that can each move both ways (free). Only the rest are searched.
    cells = list(arcs)
    ends_of = [arcs[c] for c in cells]
    cut_all = _bridges(ground + 1, ends_of)
    two_way = [i for i, c in enumerate(cells) if st.values[c] > 0]
    cut_two_way = {two_way[j] for j in _bridges(ground + 1, [ends_of[i] for i in two_way])}

    pinned = []
    for i, cell in enumerate(cells):
        if i in cut_all:
            pinned.append(cell)
            continue
        if st.values[cell] > 0 and i not in cut_two_way:
            continue
        tail, head = ends_of[i]
        can_grow = reaches(head, tail, cell)
        can_shrink = st.values[cell] > 0 and reaches(tail, head, cell)
        if not (can_grow or can_shrink):
            pinned.append(cell)
    return sorted(pinned)


def _determined_algebraic(st: _Structure, mask: np.ndarray) -> list[Cell]:
    """Reference attacker by linear algebra and linear programming (slower, general)."""
    unknown = sorted(c for c in st.suppressible if mask[c])
    if not unknown:
        return []
    pos = {c: k for k, c in enumerate(unknown)}
    a_rows, b = [], []
    for line in st.lines:
        row = np.zeros(len(unknown))
        rhs = line.const
        for cell, coef in line.members:
            if mask[cell]:
                row[pos[cell]] = coef
            else:
                rhs -= coef * int(st.values[cell])
        if row.any():
            a_rows.append(row)
            b.append(rhs)
    if not a_rows:
        return []
    a = np.array(a_rows)
    _, sing, vt = np.linalg.svd(a)
    rank = int((sing > 1e-9 * max(1.0, sing.max())).sum())
    null = vt[rank:].T  # columns span the null space
    free = np.abs(null).max(axis=1) > 1e-9 if null.size else np.zeros(len(unknown), bool)
    result = [c for c, f in zip(unknown, free) if not f]
    truth = np.array([st.values[c] for c in unknown], dtype=float)
    if (truth[free] > 0).all() and (truth > 0).all():
        # The true solution is strictly positive, hence interior to the feasible polytope:
        # every cell with a null-space component can move both ways (by a whole cycle, since
        # the constraint matrix is totally unimodular), so the linear answer is exact.
        return result
    b_arr = np.array(b, dtype=float)
    for k in np.flatnonzero(free):
        cost = np.zeros(len(unknown))
        cost[k] = 1.0
        lo = linprog(cost, A_eq=a, b_eq=b_arr, bounds=(0, None), method="highs")
        hi = linprog(-cost, A_eq=a, b_eq=b_arr, bounds=(0, None), method="highs")
        if lo.status == 0 and hi.status == 0 and (-hi.fun) - lo.fun < 0.5:
            result.append(unknown[k])
    return sorted(result)


# --------------------------------------------------------------------------------------------
# Suppression
# --------------------------------------------------------------------------------------------


def _pick(st: _Structure, mask: np.ndarray, k: int, exclude: set[Cell]) -> Cell | None:
    """The cell to suppress next in line ``k`` (see the module docstring for the order)."""
    line = st.lines[k]

    def crossing_suppressed(cell: Cell) -> bool:
        return any(any(mask[c] for c, _ in st.lines[m].members)
                   for m in st.lines_of[cell] if m != k)

    open_cells = [c for c, _ in line.members if not mask[c] and c not in exclude]
    interior = [c for c in open_cells if c != line.total_cell]
    nonzero = [c for c in interior if st.values[c] > 0]
    if nonzero:
        return min(nonzero, key=lambda c: (st.values[c], not crossing_suppressed(c), c))
    if line.total_cell in open_cells and st.values[line.total_cell] > 0:
        return line.total_cell
    zeros = [c for c in interior
             if all(st.lines[m].line_sum > 0 for m in st.lines_of[c])]
    if zeros:
        return min(zeros, key=lambda c: (not crossing_suppressed(c), c))
    return None


def _secondary(st: _Structure, mask: np.ndarray, exclude: set[Cell]) -> None:
    changed = True
    while changed:
        changed = False
        for k, line in enumerate(st.lines):
            if sum(bool(mask[c]) for c, _ in line.members) == 1:
                cell = _pick(st, mask, k, exclude)
                if cell is not None:
                    mask[cell] = True
                    changed = True


def _inherent(st: _Structure) -> set[Cell]:
    """Non-zero cells implied by the known totals even if every suppressible cell were hidden.

    Only externally known totals can pin a cell (otherwise all constraints are homogeneous and
    every non-zero cell can shrink towards 0). With all row and column sums known, the Fréchet
    bounds ``max(0, r + c - N) <= x <= min(r, c)`` are attained, so a non-zero cell is pinned
    exactly when all non-zero counts lie in one row or one column. With only one kind of sum
    known (a one-row or one-column table) a line of two or more hidden cells is never pinned.
    """
    if not (st.row_known and st.col_known):
        return set()
    sub = st.values[np.ix_(st.rows, st.cols)]
    if (sub.sum(axis=1) > 0).sum() == 1 or (sub.sum(axis=0) > 0).sum() == 1:
        return {(st.rows[a], st.cols[b]) for a, b in zip(*np.nonzero(sub))}
    return set()


def _prune(st: _Structure, mask: np.ndarray, primary: np.ndarray,
           allowed: set[Cell]) -> np.ndarray:
    """Show again every secondary suppression that is not needed (greedy, deterministic).

    Zeros are tried first (DfE shows zeros), then the largest counts. A cell stays shown only
    if, with it shown, no non-zero suppressed cell becomes recoverable (beyond ``allowed``, the
    inherently disclosed cells). The result is irreducible: showing any one more secondary
    suppression would disclose a count.
    """
    secondary = [c for c in st.suppressible if mask[c] and not primary[c]]
    secondary.sort(key=lambda c: (st.values[c] != 0, -int(st.values[c]), c))
    for cell in secondary:
        mask[cell] = False
        if any(st.values[c] > 0 and c not in allowed for c in _determined(st, mask)):
            mask[cell] = True
    # Showing a cell can pin a suppressed zero; show those too (the feasible set is unchanged).
    for cell in _determined(st, mask):
        if st.values[cell] == 0:
            mask[cell] = False
    return mask


def _protect(st: _Structure, primary: np.ndarray) -> tuple[np.ndarray, list[Cell]]:
    mask = primary.copy()
    inherent = _inherent(st)
    # Suppressing a cell the reader can work out anyway protects nothing.
    revealed: set[Cell] = set(inherent)
    unprotected: list[Cell] = []
    hid_everything = False
    while True:
        _secondary(st, mask, revealed)
        found = _determined(st, mask)
        for cell in found:
            if st.values[cell] == 0:  # pinned zero: showing it reveals nothing new
                mask[cell] = False
                revealed.add(cell)
        exposed = [c for c in found if st.values[c] > 0 and c not in unprotected]
        stuck = [c for c in exposed if c in inherent or hid_everything]
        if stuck:
            unprotected.extend(stuck)
            continue
        if not exposed:
            return _prune(st, mask, primary, set(unprotected)), unprotected
        target = exposed[0]
        cand = None
        for k in st.lines_of[target]:
            cand = _pick(st, mask, k, revealed)
            if cand is not None:
                break
        if cand is not None:
            mask[cand] = True
            continue
        # Local repair is stuck although the cell is protectable: hide every suppressible cell
        # (except inherently disclosed ones), then let the loop show again the zeros that stay
        # pinned. Reached only for unusual patterns; the result is verified like any other.
        for c in st.suppressible - inherent:
            mask[c] = True
        revealed = set(inherent)
        hid_everything = True


def _as_int_frame(table: pd.DataFrame) -> pd.DataFrame:
    if not table.index.is_unique or not table.columns.is_unique:
        raise ValueError("table row and column labels must be unique")
    try:
        arr = table.to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError("table must hold numeric counts") from exc
    if np.isnan(arr).any():
        raise ValueError("table contains missing values; counts must be complete")
    if (arr < 0).any() or not np.all(arr == np.round(arr)):
        raise ValueError("table must hold non-negative integer counts")
    return pd.DataFrame(arr.astype(np.int64), index=table.index, columns=table.columns)


def _check_totals(values: np.ndarray, tr: int | None, tc: int | None,
                  labels: pd.DataFrame) -> None:
    nr, nc = values.shape
    rows = [i for i in range(nr) if i != tr]
    cols = [j for j in range(nc) if j != tc]
    if tc is not None:
        for i in range(nr):
            if values[i, tc] != values[i, cols].sum():
                raise ValueError(f"total column does not equal the row sum in row "
                                 f"{labels.index[i]!r}")
    if tr is not None:
        for j in range(nc):
            if values[tr, j] != values[rows, j].sum():
                raise ValueError(f"total row does not equal the column sum in column "
                                 f"{labels.columns[j]!r}")


def suppress_counts(
    table: pd.DataFrame,
    threshold: int = 5,
    symbol: str = "c",
    total_row: Hashable | None = None,
    total_col: Hashable | None = None,
    totals_known: bool = True,
) -> SuppressedTable:
    """Apply primary and secondary suppression to a table of counts.

    Parameters
    ----------
    table:
        Non-negative integer counts; index = categories, columns = groups. May contain a total
        row and/or column, named by ``total_row`` / ``total_col`` (they must equal the sums).
    threshold:
        Counts with ``0 < count < threshold`` are suppressed. Zeros are shown.
    symbol:
        Shown in place of a suppressed count (DfE uses ``c``).
    totals_known:
        True (default, the safe assumption): every row sum, column sum and the grand total are
        known to the reader even where the table does not show them. False: only totals shown
        in the table are known, and those total cells may themselves be suppressed.

    Returns a :class:`SuppressedTable`. Emits :class:`DisclosureWarning` if some small count is
    implied by the known totals whatever is suppressed (see ``unprotected``).
    """
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    frame = _as_int_frame(table)
    tr = frame.index.get_loc(total_row) if total_row is not None else None
    tc = frame.columns.get_loc(total_col) if total_col is not None else None
    values = frame.to_numpy()
    _check_totals(values, tr, tc, frame)
    st = _structure(values, tr, tc, totals_known)
    primary = np.zeros(values.shape, dtype=bool)
    for cell in st.suppressible:
        primary[cell] = 0 < values[cell] < threshold
    mask, unprotected = _protect(st, primary)
    labels = tuple((frame.index[i], frame.columns[j]) for i, j in sorted(unprotected))
    if labels:
        warnings.warn(
            f"counts below {threshold} in cells {list(labels)} are implied by the known totals "
            "and cannot be protected by suppression; aggregate categories or do not publish "
            "those totals", DisclosureWarning, stacklevel=2)
    return SuppressedTable(
        values=frame,
        mask=pd.DataFrame(mask, index=frame.index, columns=frame.columns),
        primary=pd.DataFrame(primary, index=frame.index, columns=frame.columns),
        threshold=threshold, symbol=symbol, total_row=total_row, total_col=total_col,
        totals_known=totals_known, unprotected=labels)


def suppress_series(
    counts: pd.Series, threshold: int = 5, total_known: bool = True, symbol: str = "c"
) -> SuppressedTable:
    """Suppress a single distribution (one column of counts).

    ``total_known``: whether the reader knows the series total (e.g. the number of children).
    The result is a one-column :class:`SuppressedTable` named after the series (or ``"n"``).
    """
    name = counts.name if counts.name is not None else "n"
    return suppress_counts(counts.to_frame(name=name), threshold=threshold, symbol=symbol,
                           totals_known=total_known)


def _structure_of(sup: SuppressedTable) -> _Structure:
    frame = sup.values
    tr = frame.index.get_loc(sup.total_row) if sup.total_row is not None else None
    tc = frame.columns.get_loc(sup.total_col) if sup.total_col is not None else None
    return _structure(frame.to_numpy().astype(np.int64), tr, tc, sup.totals_known)


def recoverable_cells(sup: SuppressedTable) -> list[tuple[Hashable, Hashable]]:
    """Suppressed cells (row label, column label) whose exact value a reader can deduce.

    The reader is assumed to know every published cell, every known total (see
    ``totals_known``), that each line sums to its total and that counts are non-negative
    integers. This subsumes the usual line-by-line attack (a line with a known total and one
    unknown cell, iterated to a fixed point, including the grand total). For a table returned
    by :func:`suppress_counts` the result equals ``sup.unprotected`` (normally empty).
    """
    st = _structure_of(sup)
    mask = sup.mask.to_numpy().astype(bool)
    return [(sup.values.index[i], sup.values.columns[j]) for i, j in _determined(st, mask)]


# --------------------------------------------------------------------------------------------
# Percentages
# --------------------------------------------------------------------------------------------


def suppress_percentages(
    sup: SuppressedTable,
    axis: int = 0,
    decimals: int = 0,
    symbol: str | None = None,
    na: str = "z",
) -> pd.DataFrame:
    """Percentages of each line's total, with suppression carried over.

    ``axis=0``: each cell as a percentage of its column total (columns sum to 100);
    ``axis=1``: of its row total. The denominator is the line's total cell when the table has
    one, otherwise the line's sum.

    * A percentage whose count is suppressed is shown as the symbol.
    * If the line's total is suppressed, the whole line is shown as the symbol.
    * If the line has a suppressed cell and its total is neither shown nor known
      (``totals_known=False`` and no total cell), the whole line is shown as the symbol: the
      published percentages would reveal the total, and with it the suppressed sum.
    * A line whose total is 0 is shown as ``na`` (DfE "z", not applicable).

    Returns strings formatted with ``decimals`` decimal places.
    """
    if axis not in (0, 1):
        raise ValueError("axis must be 0 (percent of column total) or 1 (percent of row total)")
    sym = sup.symbol if symbol is None else symbol
    st = _structure_of(sup)
    values = st.values
    mask = sup.mask.to_numpy().astype(bool)
    if axis == 1:  # work on the transpose, so lines are always columns below
        values, mask = values.T, mask.T
        tot, inner, known_line, total_line = st.tc, st.cols, st.row_known, st.tr
    else:
        tot, inner, known_line, total_line = st.tr, st.rows, st.col_known, st.tc
    n_lines = values.shape[1]
    out = np.empty(values.shape, dtype=object)
    for j in range(n_lines):
        if tot is not None:
            denom = int(values[tot, j])
            published = not mask[tot, j]
        else:
            denom = int(values[inner, j].sum())
            published = st.grand_known if j == total_line else known_line
        any_masked = bool(mask[:, j].any())
        hide_all = (tot is not None and mask[tot, j]) or (any_masked and not published)
        for i in range(values.shape[0]):
            if hide_all or mask[i, j]:
                out[i, j] = sym
            elif denom == 0:
                out[i, j] = na
            else:
                out[i, j] = f"{100.0 * values[i, j] / denom:.{decimals}f}"
    if axis == 1:
        out = out.T
    return pd.DataFrame(out, index=sup.values.index, columns=sup.values.columns, dtype=object)
