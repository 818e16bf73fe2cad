"""Published tables: disclosure control applied, then formatted as Markdown pipe tables.

Chapters read published tables from the build's store (:func:`store_table`, after the one disclosure
pass of :mod:`cinreport.disclosure.publication`). No count below the threshold, or recoverable from what is
published, reaches the page. Pipe tables render the same in Quarto, in Pandoc's HTML and in Typst.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from cinreport.common.inert import markdown_code, markdown_text


def first_upper(text: str, symbol: str) -> str:
    """``text`` with its first letter capitalised, for the start of a sentence, unless it starts with the
    suppression ``symbol`` (as written or escaped for Markdown): a suppressed count keeps its symbol."""
    for start in (symbol, markdown_text(symbol)):
        if start and text.startswith(start) and not text[len(start):len(start) + 1].isalnum():
            return text
    return text[:1].upper() + text[1:]


def caption_line(caption: str, label: str | None = None, markdown: str = "") -> str:
    """A table's caption line (``: caption {#label}``): ``caption`` is text (escaped, so a name or
    label in it stays text), ``markdown`` is Markdown the code adds after it."""
    ident = f" {{#{label}}}" if label else ""
    return f": {markdown_text(caption)}{markdown}{ident}"


_NUMBER = r"^\s*(?:[-+]?[\d,]*\.?\d+%?(?:\s+to\s+[-+]?[\d,]*\.?\d+%?)?(?:\s*\(.*\))?|c|z|x|–|-)?\s*$"


def _numeric(column: pd.Series) -> bool:
    """A column of numbers, percentages (optionally with an interval in brackets) or symbols."""
    text = column.astype(str)
    return bool(text.str.match(_NUMBER).all()) and bool((text.str.contains(r"\d")).any())


def markdown_table(frame: pd.DataFrame, index_label: str | None = None, markdown_index: bool = False) -> str:
    """A pipe table; the index becomes the first column; numeric-looking columns right-aligned.

    Headers and cells are text: each is escaped (:func:`cinreport.common.inert.markdown_text`), so a name,
    label or value in them is shown as it is, never read as Markdown. ``markdown_index``: the index
    already is Markdown built from escaped parts (e.g. links to chapters); only ``|`` is escaped."""
    df = frame.reset_index()
    first = index_label or (frame.index.name or "")
    header = "| " + " | ".join(markdown_text(c) for c in [first, *frame.columns]) + " |"
    rule = "|" + "|".join([":---"] + ["---:" if _numeric(frame[c]) else ":---" for c in frame.columns]) + "|"

    def cell(i: int, value: object) -> str:
        if i == 0 and markdown_index:
            return " ".join(str(value).split()).replace("|", "\\|")
        return markdown_text(value)

    rows = ["| " + " | ".join(cell(i, v) for i, v in enumerate(row)) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *rows])



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


def spread_markdown(values: pd.DataFrame, index_label: str, caption: str | None, label: str | None, open_name: str,
                    symbol: str = "c") -> str:
    """A cross-authority table for many authorities: the spread of their published percentages, with
    a caption saying where each authority's own figures are (with no ``caption``, the notebook cell's
    ``tbl-cap`` gives it, and this is said in a note under the table)."""
    spread = spread_table(values, index_label, symbol)
    text = markdown_table(spread)
    where = (f"spread across the {values.shape[1]} authorities (each authority's figures are in its chapter and "
             f"the open data file {markdown_code(open_name + '.csv')})")
    if caption is None:
        text += f"\n\n{where[:1].upper()}{where[1:]}."
    else:
        text += "\n\n" + caption_line(caption, label, f": {where}")
    if values.isna().any().any():
        text += (f"\n\nPercentages suppressed for an authority ({markdown_code(symbol)}) are left out of the spread; "
                 "*Authorities with a figure* counts those that remain.")
    return text


# -- tables read from the build's published store (cinreport.disclosure.publication) ---------------------------------
STORE_NOTE = ("{symbol} = suppressed to protect confidentiality: a count between 1 and {below}, or a count that "
              "would let a suppressed one be worked out from what the report publishes elsewhere. Percentages of "
              "suppressed counts are suppressed too.")


@dataclass(frozen=True)
class StoreTable:
    """A published table read from the store: display counts and percentages (categories × columns),
    the percentages as numbers for figures (NaN where suppressed), and its Markdown."""

    counts: pd.DataFrame
    percent: pd.DataFrame | None
    values: pd.DataFrame
    symbol: str
    threshold: int

    @property
    def has_suppression(self) -> bool:
        return bool((self.counts == self.symbol).any().any() or
                    (self.percent is not None and (self.percent == self.symbol).any().any()))

    def display(self, names: dict[str, str] | None = None, unit: str = "n") -> pd.DataFrame:
        """Each column's count then its percentage (``"<name> (n)"``, ``"<name> (%)"``)."""
        names = names or {}
        if self.percent is None:
            return self.counts.rename(columns=names)
        cols = {}
        for c in self.counts.columns:
            cols[f"{names.get(c, c)} ({unit})"] = self.counts[c]
            cols[f"{names.get(c, c)} (%)"] = self.percent[c]
        out = pd.DataFrame(cols)
        out.index.name = self.counts.index.name
        return out

    def markdown(self, caption: str | None, label: str | None, names: dict[str, str] | None = None,
                 unit: str = "n") -> str:
        """The table, its caption line (none when ``caption`` is None: the notebook cell's ``tbl-cap``
        gives it) and the suppression note."""
        text = markdown_table(self.display(names, unit))
        if caption is not None:
            text += "\n\n" + caption_line(caption, label)
        if self.has_suppression:
            text += "\n\n" + STORE_NOTE.format(symbol=markdown_code(self.symbol), below=self.threshold - 1)
        return text


def store_table(pub, name: str, index_label: str, percent: bool = True, drop_empty: bool = False) -> StoreTable:
    """The published table ``name`` (an object of the store): counts as shown (symbol where
    suppressed), a total row when the table has one, and column percentages of shown counts."""
    o = pub.obj(name)
    rows = list(o["rows"])
    if drop_empty:
        rows = [r for r in rows if any(pub.value(o["cells"][r][c]) != 0 for c in o["columns"])]
    row_labels = o.get("row_labels") or {}
    col_labels = o.get("column_labels") or {}
    counts = pd.DataFrame({col_labels.get(c, c): [pub.text(o["cells"][r][c]) for r in rows] for c in o["columns"]},
                          index=[row_labels.get(r, r) for r in rows], dtype=object)
    pct = vals = None
    if o.get("totals"):
        totals = o["totals"]
        counts.loc[o["total_label"]] = [pub.text(totals[c]) for c in o["columns"]]
        if percent:
            pct = pd.DataFrame({c: [pub.percent(o["cells"][r][c], totals[c]) for r in rows]
                                + [("100%" if pub.value(totals[c]) else "z") if pub.value(totals[c]) is not None
                                   else pub.symbol] for c in o["columns"]}, index=counts.index, dtype=object)
        vals = pd.DataFrame({c: [(100 * s) if (s := pub.share(o["cells"][r][c], totals[c])) is not None
                                 else float("nan") for r in rows] for c in o["columns"]},
                            index=counts.index[:-1], dtype=float)
    counts.index.name = index_label
    if pct is not None:
        pct.index.name = index_label
    return StoreTable(counts, pct, vals if vals is not None else pd.DataFrame(), pub.symbol, pub.threshold)
