"""Published tables: disclosure control applied, then formatted as Markdown pipe tables.

Every table the report shows goes through :func:`publish_counts`, so no count below the
threshold (or recoverable from totals) reaches the page. Pipe tables render the same in Quarto,
in Pandoc's HTML and in Typst.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from .disclosure import SuppressedTable, suppress_counts, suppress_percentages

SUPPRESSION_NOTE = ("`c` = suppressed to protect confidentiality: a count between 1 and {below} or a count "
                    "that would let a suppressed one be worked out from totals. Percentages of suppressed "
                    "counts are suppressed too.")


@dataclass(frozen=True)
class PublishedTable:
    """A count table after disclosure control, with its display frame and Markdown."""

    suppressed: SuppressedTable
    display: pd.DataFrame
    counts: pd.DataFrame | None = None    # categories × groups after suppression (symbols applied)
    percent: pd.DataFrame | None = None   # the same shape: percentages after suppression, or None

    @property
    def has_suppression(self) -> bool:
        return self.suppressed.n_suppressed > 0

    def markdown(self, caption: str | None = None, label: str | None = None, threshold: int = 5) -> str:
        text = markdown_table(self.display)
        if caption:
            ident = f" {{#{label}}}" if label else ""
            text += f"\n\n: {caption}{ident}"
        if self.has_suppression:
            text += "\n\n" + SUPPRESSION_NOTE.format(below=threshold - 1)
        return text


def _escape(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


_NUMBER = r"^\s*(?:[-+]?[\d,]*\.?\d+%?(?:\s+to\s+[-+]?[\d,]*\.?\d+%?)?(?:\s*\(.*\))?|c|z|x|–|-)?\s*$"


def _numeric(column: pd.Series) -> bool:
    """A column of numbers, percentages (optionally with an interval in brackets) or symbols."""
    text = column.astype(str)
    return bool(text.str.match(_NUMBER).all()) and bool((text.str.contains(r"\d")).any())


def markdown_table(frame: pd.DataFrame, index_label: str | None = None) -> str:
    """A pipe table; the index becomes the first column; numeric-looking columns right-aligned."""
    df = frame.reset_index()
    first = index_label or (frame.index.name or "")
    df.columns = [first] + [str(c) for c in frame.columns]
    header = "| " + " | ".join(_escape(c) for c in df.columns) + " |"
    rule = "|" + "|".join([":---"] + ["---:" if _numeric(frame[c]) else ":---" for c in frame.columns]) + "|"
    rows = ["| " + " | ".join(_escape(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


MANY_GROUPS = 12  # above this many authorities a cross-authority table shows their spread, not a column each

SPREAD_COLUMNS = ("Lowest", "Lower quartile", "Median", "Upper quartile", "Highest")


def published_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """The leading number of each published cell ('12', '12%', '45% (26% to 66%)'); a suppression or
    not-applicable symbol becomes NaN."""
    return frame.apply(lambda col: pd.to_numeric(
        col.astype(str).str.extract(r"^\s*(-?\d+(?:\.\d+)?)", expand=False), errors="coerce"))


def spread_table(values: pd.DataFrame, index_label: str, symbol: str = "c",
                 groups: str = "Authorities with a figure") -> pd.DataFrame:
    """Categories × groups of published percentages (NaN where not published) as one row per category:
    how many groups have a figure, then the lowest, quartiles and highest of those figures.

    Every number derives from cells already published (suppressed ones are left out, never
    estimated), so the spread discloses nothing the full table would not. A category with no
    published figure shows the suppression symbol.
    """
    quantiles = values.quantile([0, .25, .5, .75, 1], axis=1, interpolation="midpoint").T
    out = pd.DataFrame(index=values.index)
    out[groups] = values.notna().sum(axis=1).astype(str)
    for name, q in zip(SPREAD_COLUMNS, quantiles.columns):
        out[name] = [symbol if pd.isna(v) else f"{math.floor(v + 0.5)}%" for v in quantiles[q]]  # half up
    out.index.name = index_label
    return out


def spread_markdown(values: pd.DataFrame, index_label: str, caption: str, label: str, open_name: str,
                    symbol: str = "c") -> str:
    """A cross-authority table for many authorities: the spread of their published percentages, with
    a caption saying where each authority's own figures are."""
    spread = spread_table(values, index_label, symbol)
    text = markdown_table(spread)
    text += (f"\n\n: {caption}: spread across the {values.shape[1]} authorities (each authority's figures are in "
             f"its chapter and the open data file `{open_name}.csv`) {{#{label}}}")
    if values.isna().any().any():
        text += (f"\n\nPercentages suppressed for an authority (`{symbol}`) are left out of the spread; "
                 "*Authorities with a figure* counts those that remain.")
    return text


def publish_counts(table: pd.DataFrame, threshold: int, symbol: str = "c", percent_axis: int | None = 0,
                   total_label: str = "Total", index_label: str = "") -> PublishedTable:
    """Suppress a count table (categories × groups) and lay it out for publication.

    With ``percent_axis`` 0, each group column is followed by its column percentage. A total row
    is added (it is treated as known to the reader, so secondary suppression protects it).
    """
    counts = table.astype(int).copy()
    counts.loc[total_label] = counts.sum(axis=0)
    # A total is a count of children too: a small one is suppressed like any other cell, and then
    # totals are no longer assumed known, so secondary suppression protects the column.
    small_total = bool(((counts.loc[total_label] > 0) & (counts.loc[total_label] < threshold)).any())
    sup = suppress_counts(counts, threshold=threshold, symbol=symbol, total_row=total_label,
                          totals_known=not small_total)
    shown = sup.display()
    pct = None
    if percent_axis is None:
        out = shown
    else:
        pct = suppress_percentages(sup, axis=percent_axis, decimals=0)
        cols = {}
        for col in counts.columns:
            cols[(f"{col}", "n")] = shown[col]
            cols[(f"{col}", "%")] = pct[col]
        out = pd.DataFrame(cols)
        out.columns = [f"{g} (n)" if k == "n" else f"{g} (%)" for g, k in out.columns]
    out.index.name = index_label
    return PublishedTable(sup, out, shown, pct)


def counts_frame(by_group: dict[str, dict[str, int]]) -> pd.DataFrame:
    """Categories × groups count table from ``{group: {category: count}}`` (category order kept)."""
    frame = pd.DataFrame(by_group).fillna(0).astype(int)
    return frame
